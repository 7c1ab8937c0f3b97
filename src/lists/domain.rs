//! Parsed list input: names and roles a member may be given.

use super::{ListError, access::Role};

/// A list name: trimmed, 1 to 100 characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName(String);

impl ListName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims and checks the length.
    pub fn parse(raw: &str) -> Result<Self, ListError> {
        if raw.contains('\0') {
            return Err(ListError::invalid(
                "name",
                "must not contain NUL characters",
            ));
        }
        let name = raw.trim();
        if (1..=Self::MAX_CHARS).contains(&name.chars().count()) {
            Ok(Self(name.to_owned()))
        } else {
            Err(ListError::invalid(
                "name",
                "must be 1 to 100 characters after trimming",
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id a client chose for a new list, if any: a UUID of version 4 or
/// 7 (`BAD_USER_INPUT` on `id` otherwise, see [`crate::client_id`]).
pub fn client_list_id(raw: Option<&str>) -> Result<Option<uuid::Uuid>, ListError> {
    raw.map(|raw| crate::client_id::parse(raw).map_err(|e| ListError::invalid("id", e.to_string())))
        .transpose()
}

/// A role that can be given to a member other than the owner (EDITOR or
/// VIEWER); OWNER changes hands only by transfer.
pub fn grantable(role: Role, field: &'static str) -> Result<Role, ListError> {
    match role {
        Role::Owner => Err(ListError::invalid(
            field,
            "OWNER cannot be given this way (use transferList)",
        )),
        other => Ok(other),
    }
}

/// Most lists a user may be a member of (the default list counted).
pub const MAX_LISTS_PER_USER: i64 = 200;
/// Most members a list may have.
pub const MAX_MEMBERS: usize = 50;

/// A page of the caller's lists: how many (0 to 100, default 20) from
/// which index. Cursors are the index of the last list seen, opaque to
/// clients (a user has at most [`MAX_LISTS_PER_USER`] lists, ordered in
/// memory).
pub fn list_page(first: Option<i32>, after: Option<&str>) -> Result<(usize, usize), ListError> {
    let first = first.unwrap_or(20);
    let first = usize::try_from(first)
        .ok()
        .filter(|f| *f <= 100)
        .ok_or_else(|| ListError::invalid("first", "must be between 0 and 100"))?;
    let start = match after.filter(|a| !a.is_empty()) {
        None => 0,
        Some(raw) => {
            decode_cursor(raw)
                .ok_or_else(|| ListError::invalid("after", "is not a valid cursor for this list"))?
                + 1
        }
    };
    Ok((first, start))
}

const CURSOR_PREFIX: &str = "v1|lists|";

/// The cursor after the list at `index`.
pub fn encode_cursor(index: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{index}"))
}

fn decode_cursor(raw: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix(CURSOR_PREFIX)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_and_cursors() {
        assert_eq!(list_page(None, None).unwrap(), (20, 0));
        assert_eq!(list_page(Some(5), Some(&encode_cursor(3))).unwrap(), (5, 4));
        assert!(list_page(Some(101), None).is_err());
        assert!(list_page(Some(-1), None).is_err());
        assert!(list_page(None, Some("garbage")).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            ListName::parse("  Groceries ").unwrap().as_str(),
            "Groceries"
        );
        assert!(ListName::parse("   ").is_err());
        assert!(ListName::parse(&"x".repeat(101)).is_err());
        assert!(ListName::parse(&"é".repeat(100)).is_ok());
        assert!(ListName::parse("a\0b").is_err());
    }

    #[test]
    fn client_list_ids_are_uuids_of_version_4_or_7() {
        assert_eq!(client_list_id(None).unwrap(), None);
        let v7 = uuid::Uuid::now_v7();
        assert_eq!(client_list_id(Some(&v7.to_string())).unwrap(), Some(v7));
        for bad in ["x", "00000000-0000-0000-0000-000000000000"] {
            assert!(matches!(
                client_list_id(Some(bad)),
                Err(ListError::Invalid { field: "id", .. })
            ));
        }
    }

    #[test]
    fn owner_is_not_grantable() {
        assert!(grantable(Role::Owner, "role").is_err());
        assert_eq!(grantable(Role::Viewer, "role").unwrap(), Role::Viewer);
    }
}
