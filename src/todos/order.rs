//! The orders a todo list can take, and their short stable names (written
//! into cursors and cache keys). Its own file so that cursors and the
//! domain types both depend on it, and not on each other.

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
}

impl TodoOrder {
    /// A short stable name, written into cursors.
    pub fn key(self) -> &'static str {
        match self {
            Self::CreatedAtDesc => "cd",
            Self::CreatedAtAsc => "ca",
            Self::DueAtAsc => "da",
            Self::UpdatedAtDesc => "ud",
        }
    }

    /// The order with this [`key`](Self::key).
    pub fn from_key(key: &str) -> Option<Self> {
        [
            Self::CreatedAtDesc,
            Self::CreatedAtAsc,
            Self::DueAtAsc,
            Self::UpdatedAtDesc,
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
        ] {
            assert_eq!(TodoOrder::from_key(o.key()), Some(o));
        }
        assert_eq!(TodoOrder::from_key("zz"), None);
    }
}
