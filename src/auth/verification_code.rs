//! Email verification codes and the rules around them (pure: no I/O).
//!
//! A code is 10 characters from Crockford's base-32 alphabet (digits and
//! capital letters without I, L, O and U), shown as `ABCDE-FGH12`: 50
//! random bits that a person can read off one device and type into
//! another, and that fit in a URL fragment as they are
//! (`/app#verify=ABCDE-FGH12`). Typing is forgiving: case, spaces and
//! hyphens do not matter, and the letters people confuse with digits
//! (`O`, `I`, `L`) read as `0`, `1`, `1`.
//!
//! Why 50 bits are enough: a code works for one account only (it is
//! looked up together with the caller's id, so guessing needs that
//! account's session), only while it is the account's newest (a resend
//! cancels the others), for 48 hours, and wrong guesses are limited per
//! account ([`MAX_WRONG_CODES_PER_HOUR`]). Only its SHA-256 is stored.

use chrono::{DateTime, TimeDelta, Utc};

use super::token;

/// Hours a code works after its email is sent.
pub const CODE_TTL_HOURS: i64 = 48;

/// Verification emails one account may ask for per rolling hour, the one
/// sent at registration included.
pub const MAX_EMAILS_PER_HOUR: i64 = 5;

/// Wrong codes one account may submit per hour before `RATE_LIMITED`.
pub const MAX_WRONG_CODES_PER_HOUR: u64 = 20;

/// Crockford's base-32 alphabet: 32 symbols, so a random byte's low five
/// bits pick one uniformly.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Symbols in a code.
const LEN: usize = 10;

/// A well-formed verification code, in canonical form (10 symbols, no
/// hyphen). Parsing does not make it a *valid* code: only the database
/// knows which codes were sent.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationCode(String);

impl VerificationCode {
    /// A fresh random code.
    pub fn generate() -> Self {
        let bytes: [u8; LEN] = rand::random();
        Self(
            bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect(),
        )
    }

    /// Reads a code as a person may type it: case-insensitive, spaces and
    /// hyphens ignored, `O` as `0`, `I` and `L` as `1`. `None` when it
    /// cannot be a code at all.
    pub fn parse(raw: &str) -> Option<Self> {
        // Anything longer is not a code; don't walk megabytes of it.
        if raw.len() > 64 {
            return None;
        }
        let mut code = String::with_capacity(LEN);
        for c in raw.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return None;
            }
            code.push(c);
        }
        (code.len() == LEN).then_some(Self(code))
    }

    /// How the code is shown to people: `ABCDE-FGH12`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(LEN / 2);
        format!("{a}-{b}")
    }

    /// The SHA-256 the database stores and looks codes up by.
    pub fn hash(&self) -> Vec<u8> {
        token::hash_opaque(&self.0)
    }
}

impl std::fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationCode(***)")
    }
}

/// When a code sent at `sent` stops working.
pub fn code_expiry(sent: DateTime<Utc>) -> DateTime<Utc> {
    sent + TimeDelta::hours(CODE_TTL_HOURS)
}

/// The start of the rolling hour that ends at `now`.
pub fn email_window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::hours(1)
}

/// Seconds until an email asked for at `oldest` leaves the rolling hour
/// (at least one).
pub fn retry_after_secs(oldest: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let left = (oldest + TimeDelta::hours(1) - now).num_seconds();
    u64::try_from(left).unwrap_or(0).max(1)
}

/// The link in the email that opens the web app and submits the code:
/// `<app_url>/app#verify=<code>`. In the fragment, so it never reaches a
/// server log or a `Referer` header.
pub fn link(app_url: &str, code: &VerificationCode) -> String {
    format!(
        "{}/app#verify={}",
        app_url.trim_end_matches('/'),
        code.display()
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_codes_are_ten_symbols_of_the_alphabet_and_differ() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let code = VerificationCode::generate();
            assert_eq!(code.0.len(), LEN);
            assert!(code.0.bytes().all(|b| ALPHABET.contains(&b)), "{}", code.0);
            assert!(seen.insert(code.0.clone()), "a repeated code");
        }
        // Every symbol turns up (a bias would show as missing ones).
        let used: HashSet<char> = seen.iter().flat_map(|c| c.chars()).collect();
        assert_eq!(used.len(), 32);
    }

    #[test]
    fn the_displayed_form_parses_back_to_the_same_code() {
        for _ in 0..100 {
            let code = VerificationCode::generate();
            let shown = code.display();
            assert_eq!(shown.len(), LEN + 1);
            assert_eq!(shown.as_bytes()[5], b'-');
            assert_eq!(VerificationCode::parse(&shown), Some(code.clone()));
            assert_eq!(VerificationCode::parse(&code.0), Some(code.clone()));
            assert_eq!(VerificationCode::parse(&shown).unwrap().hash(), code.hash());
        }
    }

    #[test]
    fn typing_is_forgiving() {
        let code = VerificationCode::parse("AB0DE-FG11Z").unwrap();
        for typed in [
            "ab0de-fg11z",
            " AB0DE FG11Z ",
            "ABODE-FGILZ",
            "abode fgilz",
            "A-B-0-D-E-F-G-1-1-Z",
        ] {
            assert_eq!(
                VerificationCode::parse(typed),
                Some(code.clone()),
                "{typed}"
            );
        }
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for bad in [
            "",
            "ABCDE",
            "ABCDE-FGH12-3",
            "ABCDE-FGHU2",  // U is not in the alphabet
            "ABCDE_FGH12",  // underscore
            "ÄBCDE-FGH12",  // not ASCII
            "ABCDE\nFGH12", // a newline is not a space
            &"A".repeat(65),
        ] {
            assert_eq!(VerificationCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_code_never_shows_in_debug_output() {
        let code = VerificationCode::generate();
        assert!(!format!("{code:?}").contains(&code.0));
    }

    #[test]
    fn expiry_and_the_rolling_hour() {
        let now = Utc::now();
        assert_eq!(code_expiry(now) - now, TimeDelta::hours(48));
        assert_eq!(now - email_window_start(now), TimeDelta::hours(1));
        assert_eq!(retry_after_secs(now - TimeDelta::minutes(45), now), 900);
        // At the edge (or past it, with clock skew): at least one second.
        assert_eq!(retry_after_secs(now - TimeDelta::hours(1), now), 1);
        assert_eq!(retry_after_secs(now - TimeDelta::hours(2), now), 1);
    }

    #[test]
    fn links_put_the_code_in_the_fragment() {
        let code = VerificationCode::parse("ABCDE-FGH12").unwrap();
        for base in ["https://todo.example", "https://todo.example/"] {
            assert_eq!(
                link(base, &code),
                "https://todo.example/app#verify=ABCDE-FGH12"
            );
        }
    }
}
