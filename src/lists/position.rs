//! Position keys for manual order: the strings a list's todos (and a user's
//! lists) sort by, and the one place that makes new ones. Pure: no I/O.
//!
//! The format and the algorithm are the published ones, David Greenspan's
//! "Implementing Fractional Indexing"
//! (observablehq.com/@dgreensp/implementing-fractional-indexing), as the npm
//! package `fractional-indexing` (rocicorp, CC0, version 4.0.0 checked)
//! implements it with its default alphabet, so that an offline client using
//! that package or one of its ports computes the very keys the server does
//! (the contract, `lists.graphql`, promises it). This file is our own port
//! of that code: `key_between` is its `generateKeyBetween`, `keys_between`
//! its `generateNKeysBetween`, and `PositionKey::parse` its
//! `validateOrderKey`, plus the checks below.
//!
//! A key is an *integer part*, a head letter giving its length (`a`–`z`:
//! 2 to 27 characters, counting up; `A`–`Z`: 27 down to 2, the negative
//! integers) followed by base-62 digits (`0-9A-Za-z`), then an optional
//! *fractional part* of base-62 digits that never ends in `0`. Keys compare
//! by bytes (PostgreSQL `COLLATE "C"`, Rust's `str` order). Appending or
//! prepending only steps the integer part, so keys stay short (the 60th
//! key appended to an empty list is `ax`, the 10,000th `c1aH`); inserting
//! between two neighbours extends the fractional part by about one digit
//! per six halvings of a gap (630 to 756 insertions into one gap before a
//! key passes [`MAX_LEN`]).
//!
//! Where this port differs from the npm package, on purpose:
//! - keys are checked more strictly: only base-62 characters and at most
//!   [`MAX_LEN`] bytes (npm maps an unknown character to digit 0 and has
//!   no length limit); a generated key longer than that is an error
//!   ([`PositionError::Exhausted`]), the caller then rebalances the list
//!   with [`keys_between`];
//! - neighbours must come in order (`a < b`); npm 4 swaps them silently,
//!   but here a swapped pair means the client's view is stale;
//! - below `A00000000000000000000000001` (the lowest integer but one, with
//!   no fraction) npm returns the lowest integer `A00000000000000000000000000`,
//!   a key its own validation refuses; this port returns
//!   `A00000000000000000000000000V` (that integer with a fraction) instead.
//!   Reaching that key takes 62^26 insertions at the front, so only a forged
//!   key gets there.
//!
//! Not used: the crate `lexicon_fractional_index` (0.0.4-a1, the latest).
//! Its manifest says "MIT", but it ships no licence text (its README's
//! licence section reads "TODO") and its repository link is a placeholder
//! (`github.com/TODO/...`). On valid keys its results equal npm's (460
//! cases checked, the reserved-key quirk above included), but it panics
//! on malformed input (an empty key, a non-ASCII character, `a!`), accepts
//! non-base-62 characters after the integer part (`a0!`), and does not
//! swap reversed neighbours as npm 4 does.

use std::fmt;

/// The longest key accepted or generated, in bytes. Far above what the
/// algorithm produces in use (an integer part is at most 27 bytes and each
/// insertion into the same gap adds about a sixth of a byte); a longer
/// result means the list needs rebalancing.
pub const MAX_LEN: usize = 128;

/// The base-62 digits in ascending byte order (npm's `BASE_62_DIGITS`).
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The value of each byte as a base-62 digit; `NOT_A_DIGIT` for the others.
const DIGIT_VALUE: [u8; 256] = {
    let mut table = [NOT_A_DIGIT; 256];
    let mut i = 0;
    while i < DIGITS.len() {
        table[DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const NOT_A_DIGIT: u8 = u8::MAX;

/// The smallest integer part: refused as a key (npm's `isSmallestInteger`),
/// since nothing could be placed before it.
const SMALLEST_INTEGER: &[u8] = b"A00000000000000000000000000";

/// The key of the first item of an empty list.
const FIRST: &str = "a0";

/// A valid position key: parsed once, at the boundary ("parse, don't
/// validate"); every `PositionKey` satisfies the rules in the module doc.
/// Ordered by bytes, like the database column (`COLLATE "C"`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositionKey(String);

/// Why a string is not a position key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformation {
    /// The empty string.
    #[error("it is empty")]
    Empty,
    /// Longer than [`MAX_LEN`] bytes.
    #[error("it is {len} bytes long, at most {MAX_LEN} are allowed")]
    TooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// A character outside `0-9A-Za-z`.
    #[error("character {position} is not a base-62 digit (0-9, A-Z, a-z)")]
    NotBase62 {
        /// The 1-based position of the first such character.
        position: usize,
    },
    /// The first character is a digit, not a letter.
    #[error("it must start with a letter (A-Z or a-z), not '{head}'")]
    BadHead {
        /// The first character.
        head: char,
    },
    /// Shorter than the integer part its head announces.
    #[error("a key starting with '{head}' has at least {needed} characters, this one has {len}")]
    TooShort {
        /// The first character.
        head: char,
        /// The length of the integer part that `head` announces.
        needed: usize,
        /// The key's length.
        len: usize,
    },
    /// The fractional part ends in `0`.
    #[error("it ends in '0' after its integer part")]
    TrailingZero,
    /// The smallest integer, `A` and 26 zeros.
    #[error("it is the smallest integer key, which is reserved")]
    Reserved,
}

/// What can go wrong with position keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// A string given as a key is not one.
    #[error("position key is malformed: {0}")]
    Malformed(#[from] Malformation),
    /// The lower neighbour's key is not before the upper one's.
    #[error("afterId's key is not before beforeId's")]
    OutOfOrder,
    /// No key of at most [`MAX_LEN`] bytes fits between the neighbours (or
    /// past the last integer): the list needs rebalancing.
    #[error("no position key of at most {MAX_LEN} bytes fits there; the list needs rebalancing")]
    Exhausted,
}

impl PositionKey {
    /// Checks `raw` against the key format: non-empty, at most [`MAX_LEN`]
    /// bytes of base-62 digits, a letter head, at least as long as the
    /// integer part the head announces, no trailing `0` in the fractional
    /// part, and not the reserved smallest integer.
    pub fn parse(raw: &str) -> Result<Self, PositionError> {
        let bytes = raw.as_bytes();
        let Some(&head) = bytes.first() else {
            return Err(Malformation::Empty.into());
        };
        if bytes.len() > MAX_LEN {
            return Err(Malformation::TooLong { len: bytes.len() }.into());
        }
        if let Some(i) = bytes.iter().position(|&c| !is_digit(c)) {
            return Err(Malformation::NotBase62 { position: i + 1 }.into());
        }
        let Some(needed) = integer_len(head) else {
            return Err(Malformation::BadHead {
                head: char::from(head),
            }
            .into());
        };
        if bytes.len() < needed {
            return Err(Malformation::TooShort {
                head: char::from(head),
                needed,
                len: bytes.len(),
            }
            .into());
        }
        if bytes == SMALLEST_INTEGER {
            return Err(Malformation::Reserved.into());
        }
        if bytes.len() > needed && bytes.last() == Some(&b'0') {
            return Err(Malformation::TrailingZero.into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned `String`.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The integer part (head and its digits) and the fractional part.
    fn split(&self) -> (&[u8], &[u8]) {
        let bytes = self.0.as_bytes();
        // Parsed keys start with a head and are at least that long.
        let len = bytes.first().and_then(|&h| integer_len(h)).unwrap_or(0);
        bytes.split_at(len.min(bytes.len()))
    }

    /// Wraps bytes the algorithm produced from valid keys.
    fn generated(bytes: Vec<u8>) -> Result<Self, PositionError> {
        if bytes.len() > MAX_LEN {
            return Err(PositionError::Exhausted);
        }
        // Only base-62 digits are ever written, so this never fails; were
        // it to, the key would still be refused rather than stored.
        let text = String::from_utf8(bytes).map_err(|_| PositionError::Exhausted)?;
        debug_assert!(Self::parse(&text).is_ok(), "generated {text:?}");
        Ok(Self(text))
    }
}

impl fmt::Display for PositionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PositionKey {
    type Err = PositionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for PositionKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<PositionKey> for String {
    fn from(key: PositionKey) -> Self {
        key.0
    }
}

/// A key strictly between `a` and `b` (npm `generateKeyBetween(a, b)`):
/// `None` for `a` means "before `b`, at the start", `None` for `b` "after
/// `a`, at the end", both `None` the first key of an empty list (`a0`).
///
/// Errors: [`PositionError::OutOfOrder`] unless `a < b`;
/// [`PositionError::Exhausted`] when the key would be longer than
/// [`MAX_LEN`] (rebalance the list with [`keys_between`]).
pub fn key_between(
    a: Option<&PositionKey>,
    b: Option<&PositionKey>,
) -> Result<PositionKey, PositionError> {
    let key = match (a, b) {
        (None, None) => FIRST.as_bytes().to_vec(),
        (None, Some(b)) => before(b)?,
        (Some(a), None) => after(a),
        (Some(a), Some(b)) => {
            if a >= b {
                return Err(PositionError::OutOfOrder);
            }
            between(a, b)?
        }
    };
    PositionKey::generated(key)
}

/// `n` keys in ascending order strictly between `a` and `b` (npm
/// `generateNKeysBetween`): consecutive integers when one side is open
/// (`a0`, `a1`, … for an empty list), short keys spread over the gap
/// otherwise. For a list's initial order and for rebalancing.
///
/// Errors as for [`key_between`] (checked even when `n` is 0).
pub fn keys_between(
    a: Option<&PositionKey>,
    b: Option<&PositionKey>,
    n: usize,
) -> Result<Vec<PositionKey>, PositionError> {
    if let (Some(a), Some(b)) = (a, b)
        && a >= b
    {
        return Err(PositionError::OutOfOrder);
    }
    let mut keys = Vec::with_capacity(n.min(1024));
    push_keys_between(a, b, n, &mut keys)?;
    Ok(keys)
}

/// npm's `generateNKeysBetween`, appending to `out`.
fn push_keys_between(
    a: Option<&PositionKey>,
    b: Option<&PositionKey>,
    n: usize,
    out: &mut Vec<PositionKey>,
) -> Result<(), PositionError> {
    match (n, a, b) {
        (0, _, _) => {}
        (1, _, _) => out.push(key_between(a, b)?),
        (_, _, None) => {
            let mut last = key_between(a, None)?;
            for _ in 1..n {
                let next = key_between(Some(&last), None)?;
                out.push(std::mem::replace(&mut last, next));
            }
            out.push(last);
        }
        (_, None, Some(_)) => {
            let start = out.len();
            let mut first = key_between(None, b)?;
            for _ in 1..n {
                let next = key_between(None, Some(&first))?;
                out.push(std::mem::replace(&mut first, next));
            }
            out.push(first);
            out[start..].reverse();
        }
        (_, Some(_), Some(_)) => {
            let mid = n / 2;
            let c = key_between(a, b)?;
            push_keys_between(a, Some(&c), mid, out)?;
            out.push(c.clone());
            push_keys_between(Some(&c), b, n - mid - 1, out)?;
        }
    }
    Ok(())
}

/// A key before `b` (npm's `a == null` branch).
fn before(b: &PositionKey) -> Result<Vec<u8>, PositionError> {
    let (ib, fb) = b.split();
    if ib == SMALLEST_INTEGER {
        let mut key = ib.to_vec();
        midpoint(b"", Some(fb), &mut key);
        return Ok(key);
    }
    if !fb.is_empty() {
        return Ok(ib.to_vec());
    }
    let key = decrement_integer(ib).ok_or(PositionError::Exhausted)?;
    if key == SMALLEST_INTEGER {
        // npm returns this reserved key; see the module doc.
        let mut key = key;
        midpoint(b"", None, &mut key);
        return Ok(key);
    }
    Ok(key)
}

/// A key after `a` (npm's `b == null` branch).
fn after(a: &PositionKey) -> Vec<u8> {
    let (ia, fa) = a.split();
    increment_integer(ia).unwrap_or_else(|| {
        let mut key = ia.to_vec();
        midpoint(fa, None, &mut key);
        key
    })
}

/// A key between `a < b`.
fn between(a: &PositionKey, b: &PositionKey) -> Result<Vec<u8>, PositionError> {
    let (ia, fa) = a.split();
    let (ib, fb) = b.split();
    let mut key = ia.to_vec();
    if ia == ib {
        midpoint(fa, Some(fb), &mut key);
        return Ok(key);
    }
    let next = increment_integer(ia).ok_or(PositionError::Exhausted)?;
    if next.as_slice() < b.as_str().as_bytes() {
        return Ok(next);
    }
    midpoint(fa, None, &mut key);
    Ok(key)
}

/// Appends to `out` the shortest digit string strictly between the
/// fractional parts `a` and `b` (`None`: past every digit string), as
/// npm's `midpoint` does. Requires `a < b`, neither ending in `0`; written
/// as a loop where npm recurses.
fn midpoint(mut a: &[u8], mut b: Option<&[u8]>, out: &mut Vec<u8>) {
    loop {
        if let Some(bs) = b {
            // Drop the longest common prefix, reading `a` padded with '0's
            // (b cannot end inside it, since a < b).
            let n = bs
                .iter()
                .enumerate()
                .take_while(|&(i, &d)| a.get(i).copied().unwrap_or(b'0') == d)
                .count();
            if n > 0 {
                out.extend_from_slice(&bs[..n]);
                a = a.get(n..).unwrap_or_default();
                b = Some(&bs[n..]);
                continue;
            }
        }
        // The first digits (or the lack of one) differ.
        let digit_a = a.first().map_or(0, |&c| value(c));
        let digit_b = b
            .and_then(<[u8]>::first)
            .map_or(DIGITS.len(), |&c| value(c));
        if digit_b > digit_a + 1 {
            // JavaScript's Math.round(0.5 * (a + b)): halves round up.
            out.push(DIGITS[(digit_a + digit_b).div_ceil(2)]);
            return;
        }
        // Consecutive digits.
        if let Some(bs) = b
            && bs.len() > 1
        {
            out.push(bs[0]);
            return;
        }
        // `b` is open or a single digit right after `a`'s first: keep that
        // digit of `a` and go past the rest of `a`.
        out.push(DIGITS[digit_a]);
        a = a.get(1..).unwrap_or_default();
        b = None;
    }
}

/// The next integer part, `None` past the largest (`z` and 26 `z`s).
fn increment_integer(x: &[u8]) -> Option<Vec<u8>> {
    step_integer(x, true)
}

/// The previous integer part, `None` below the smallest (`A` and 26 `0`s).
fn decrement_integer(x: &[u8]) -> Option<Vec<u8>> {
    step_integer(x, false)
}

/// npm's `incrementInteger` (`up`) and `decrementInteger`: step the digits
/// with carry; on overflow move the head one letter and resize the digits.
fn step_integer(x: &[u8], up: bool) -> Option<Vec<u8>> {
    let (&head, digits) = x.split_first()?;
    let (wrap_from, wrap_to) = if up {
        (DIGITS[DIGITS.len() - 1], DIGITS[0])
    } else {
        (DIGITS[0], DIGITS[DIGITS.len() - 1])
    };
    let mut out = x.to_vec();
    for i in (1..=digits.len()).rev() {
        let d = out[i];
        if d != wrap_from {
            let v = value(d);
            out[i] = DIGITS[if up { v + 1 } else { v - 1 }];
            return Some(out);
        }
        out[i] = wrap_to;
    }
    // Carried out of every digit: `out` is the head and all `wrap_to`.
    let new_head = match (up, head) {
        (true, b'z') | (false, b'A') => return None,
        (true, b'Z') => b'a',
        (false, b'a') => b'Z',
        (true, h) => h + 1,
        (false, h) => h - 1,
    };
    let (old_len, new_len) = (integer_len(head)?, integer_len(new_head)?);
    out[0] = new_head;
    if new_len > old_len {
        out.push(wrap_to);
    } else if new_len < old_len {
        out.pop();
    }
    Some(out)
}

/// The length of the integer part a head announces (npm's
/// `getIntegerLength`): `a`..`z` 2..27, `A`..`Z` 27..2; `None` otherwise.
fn integer_len(head: u8) -> Option<usize> {
    match head {
        b'a'..=b'z' => Some(usize::from(head - b'a') + 2),
        b'A'..=b'Z' => Some(usize::from(b'Z' - head) + 2),
        _ => None,
    }
}

fn is_digit(c: u8) -> bool {
    DIGIT_VALUE[usize::from(c)] != NOT_A_DIGIT
}

/// A digit's value; only called on bytes of parsed keys.
fn value(c: u8) -> usize {
    usize::from(DIGIT_VALUE[usize::from(c)])
}

#[cfg(test)]
mod tests;
