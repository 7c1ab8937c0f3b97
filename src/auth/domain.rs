//! Parsed, validated auth input: once a value has one of these types it is
//! known to be valid, so the service never re-checks.

use super::AuthError;

/// A syntactically valid email address of at most 254 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// A password of 8 to 128 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// A display name of 1 to 100 characters, trimmed; blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

fn invalid(field: &'static str, message: impl Into<String>) -> AuthError {
    AuthError::Invalid {
        field,
        message: message.into(),
    }
}

impl Email {
    /// The longest address SMTP can carry (RFC 5321 path limit less brackets).
    pub const MAX_CHARS: usize = 254;

    /// Validates an address: one `@`, a non-empty local part of at most 64
    /// characters, a domain of dot-separated labels, no spaces or controls.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let email = raw.trim();
        let bad = || invalid("email", "must be a valid email address");
        if email.chars().count() > Self::MAX_CHARS {
            return Err(invalid("email", "must be at most 254 characters"));
        }
        let (local, domain) = email.split_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().count() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let chars_ok = email
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c))
            && email.matches('@').count() == 1;
        if local_ok && labels_ok && chars_ok {
            Ok(Self(email.to_owned()))
        } else {
            Err(bad())
        }
    }

    /// The address as entered (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Password {
    /// Shortest accepted password.
    pub const MIN_CHARS: usize = 8;
    /// Longest accepted password (bounds hashing cost).
    pub const MAX_CHARS: usize = 128;

    /// Checks the length only; passwords are never trimmed.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let n = raw.chars().count();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&n) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid("password", "must be 8 to 128 characters"))
        }
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl DisplayName {
    /// Longest accepted display name.
    pub const MAX_CHARS: usize = 100;

    /// Trims; blank becomes `None`.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, AuthError> {
        let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if name.chars().count() > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(invalid(
                "displayName",
                "must be at most 100 characters, without control characters",
            ));
        }
        Ok(Some(Self(name.to_owned())))
    }

    /// The name.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: AuthError) -> &'static str {
        match e {
            AuthError::Invalid { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "  Alice.Smith+todo@Example.COM ",
            "o'neil@xn--bcher-kva.example",
            "δοκιμή@παράδειγμα.δοκιμή",
        ] {
            let e = Email::parse(ok).unwrap();
            assert_eq!(e.as_str(), ok.trim());
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            ".a@b.com",
            "a..b@c.com",
            "<a@b.com>",
            long.as_str(),
        ] {
            assert_eq!(field_of(Email::parse(bad).unwrap_err()), "email", "{bad:?}");
        }
    }

    #[test]
    fn password_length_bounds_in_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert_eq!(
            field_of(Password::parse(&"x".repeat(129)).unwrap_err()),
            "password"
        );
        // Not trimmed: spaces count.
        assert!(Password::parse("       a").is_ok());
        assert!(!format!("{:?}", Password::parse("secret-pw").unwrap()).contains("secret"));
    }

    #[test]
    fn display_name_is_optional_and_bounded() {
        assert_eq!(DisplayName::parse(None).unwrap(), None);
        assert_eq!(DisplayName::parse(Some("   ")).unwrap(), None);
        assert_eq!(
            DisplayName::parse(Some("  Ada  "))
                .unwrap()
                .unwrap()
                .into_inner(),
            "Ada"
        );
        assert!(DisplayName::parse(Some(&"n".repeat(101))).is_err());
        assert!(DisplayName::parse(Some("a\u{7}b")).is_err());
    }
}
