//! The orders a todo list can take, and their short stable names (written
//! into cursors and cache keys). Its own file so that cursors and the
//! domain types both depend on it, and not on each other.

use super::TodoError;

/// The orders a list can take; every one ends with `id` so ties are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TodoOrder {
    /// Newest first.
    #[default]
    CreatedAtDesc,
    /// Oldest first.
    CreatedAtAsc,
    /// Soonest due first; todos without a due time last.
    DueAtAsc,
    /// Most recently changed first.
    UpdatedAtDesc,
    /// The list's manual order (position keys ascending, then id).
    Position,
}

impl TodoOrder {
    /// Parses an `orderBy` value as clients spell it (`CREATED_AT_DESC`,
    /// …, the names of the GraphQL enum); absent means newest first.
    pub fn parse(raw: Option<&str>) -> Result<Self, TodoError> {
        match raw {
            None => Ok(Self::default()),
            Some("CREATED_AT_DESC") => Ok(Self::CreatedAtDesc),
            Some("CREATED_AT_ASC") => Ok(Self::CreatedAtAsc),
            Some("DUE_AT_ASC") => Ok(Self::DueAtAsc),
            Some("UPDATED_AT_DESC") => Ok(Self::UpdatedAtDesc),
            Some("POSITION") => Ok(Self::Position),
            Some(_) => Err(TodoError::invalid(
                "orderBy",
                "must be CREATED_AT_DESC, CREATED_AT_ASC, DUE_AT_ASC, UPDATED_AT_DESC or POSITION",
            )),
        }
    }

    /// A short stable name, written into cursors.
    pub fn key(self) -> &'static str {
        match self {
            Self::CreatedAtDesc => "cd",
            Self::CreatedAtAsc => "ca",
            Self::DueAtAsc => "da",
            Self::UpdatedAtDesc => "ud",
            Self::Position => "po",
        }
    }

    /// The order with this [`key`](Self::key).
    pub fn from_key(key: &str) -> Option<Self> {
        [
            Self::CreatedAtDesc,
            Self::CreatedAtAsc,
            Self::DueAtAsc,
            Self::UpdatedAtDesc,
            Self::Position,
        ]
        .into_iter()
        .find(|o| o.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_round_trip() {
        for o in [
            TodoOrder::CreatedAtDesc,
            TodoOrder::CreatedAtAsc,
            TodoOrder::DueAtAsc,
            TodoOrder::UpdatedAtDesc,
            TodoOrder::Position,
        ] {
            assert_eq!(TodoOrder::from_key(o.key()), Some(o));
        }
        assert_eq!(TodoOrder::from_key("zz"), None);
    }

    #[test]
    fn orders_parse_from_their_client_names() {
        assert_eq!(TodoOrder::parse(None).unwrap(), TodoOrder::CreatedAtDesc);
        assert_eq!(
            TodoOrder::parse(Some("DUE_AT_ASC")).unwrap(),
            TodoOrder::DueAtAsc
        );
        for bad in ["", "due_at_asc", "NEWEST"] {
            assert!(matches!(
                TodoOrder::parse(Some(bad)),
                Err(TodoError::Invalid {
                    field: "orderBy",
                    ..
                })
            ));
        }
    }
}
