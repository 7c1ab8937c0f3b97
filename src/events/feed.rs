//! The pull change feed (`Query.changes`): the rules of a page, apart from
//! the database. A page reads the same per-user sequence as the
//! subscriptions and uses the same cursors, so a page's cursor resumes a
//! subscription and an event's cursor resumes the pull feed.

use super::{EventError, cursor, event::Change};

/// How many changes a page holds: `first`, 1 to 500, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(i64);

impl PageSize {
    /// Page size when `first` is absent.
    pub const DEFAULT: i64 = 100;
    /// Largest page.
    pub const MAX: i64 = 500;

    /// Checks `first`.
    pub fn parse(first: Option<i64>) -> Result<Self, EventError> {
        let first = first.unwrap_or(Self::DEFAULT);
        if !(1..=Self::MAX).contains(&first) {
            return Err(EventError::InvalidFirst);
        }
        Ok(Self(first))
    }

    /// The size.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Decodes an optional `after` cursor (an empty string counts as absent,
/// as for the subscriptions).
pub fn parse_after(after: Option<&str>) -> Result<Option<i64>, EventError> {
    after
        .filter(|a| !a.is_empty())
        .map(cursor::decode)
        .transpose()
}

/// Whether reading after `after` is possible for a user whose last
/// sequence number is `current` and whose oldest retained one is `oldest`:
/// a cursor past `current` was never handed out (invalid); one whose next
/// event is no longer retained has lost events (expired). The one rule of
/// the subscriptions' start and of the pull feed (`model::page` repeats it
/// in SQL).
pub fn check_cursor(after: i64, current: i64, oldest: Option<i64>) -> Result<(), EventError> {
    if after > current {
        return Err(EventError::InvalidCursor);
    }
    if after < current && oldest.is_none_or(|oldest| oldest > after + 1) {
        return Err(EventError::CursorExpired);
    }
    Ok(())
}

/// A page of the pull feed.
#[derive(Debug)]
pub struct FeedPage {
    /// The changes, oldest first.
    pub changes: Vec<Change>,
    /// Where the next page starts: the last change's cursor; with no
    /// change, the `after` given, or without one the user's current
    /// position (so a subscription opened from it misses nothing).
    pub cursor: String,
    /// Whether more changes were waiting when the page was read.
    pub has_more: bool,
}

impl FeedPage {
    /// The page of `fetched` changes (up to `size + 1` of them, the extra
    /// one only telling that there are more), read after `after`, for a
    /// user at position `current`.
    pub fn new(mut fetched: Vec<Change>, size: PageSize, after: Option<i64>, current: i64) -> Self {
        let limit = usize::try_from(size.get()).unwrap_or(usize::MAX);
        let has_more = fetched.len() > limit;
        fetched.truncate(limit);
        let position = fetched.last().map(Change::seq).or(after).unwrap_or(current);
        Self {
            changes: fetched,
            cursor: cursor::encode(position),
            has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::events::event::{EventKind, TodoEvent};

    fn change(seq: i64) -> Change {
        Change::Todo(TodoEvent {
            user_id: Uuid::nil(),
            seq,
            kind: EventKind::Created,
            todo_id: Uuid::nil(),
            snapshot: None,
            occurred_at: Utc::now(),
            list_id: Uuid::nil(),
            from_list_id: None,
        })
    }

    #[test]
    fn page_size_defaults_to_100_and_allows_1_to_500() {
        assert_eq!(PageSize::parse(None).unwrap().get(), 100);
        assert_eq!(PageSize::parse(Some(1)).unwrap().get(), 1);
        assert_eq!(PageSize::parse(Some(500)).unwrap().get(), 500);
        for bad in [0, -1, 501, i64::MAX] {
            assert!(
                matches!(PageSize::parse(Some(bad)), Err(EventError::InvalidFirst)),
                "{bad}"
            );
        }
    }

    #[test]
    fn cursors_past_the_position_are_invalid_and_before_the_retained_expired() {
        // Events 5..=10 retained, position 10.
        assert!(check_cursor(10, 10, Some(5)).is_ok());
        assert!(check_cursor(4, 10, Some(5)).is_ok());
        assert!(check_cursor(7, 10, Some(5)).is_ok());
        assert!(matches!(
            check_cursor(3, 10, Some(5)),
            Err(EventError::CursorExpired)
        ));
        assert!(matches!(
            check_cursor(11, 10, Some(5)),
            Err(EventError::InvalidCursor)
        ));
        // Everything pruned: only the current position is still usable.
        assert!(check_cursor(10, 10, None).is_ok());
        assert!(matches!(
            check_cursor(9, 10, None),
            Err(EventError::CursorExpired)
        ));
        // A fresh user: position 0, nothing retained.
        assert!(check_cursor(0, 0, None).is_ok());
        assert!(check_cursor(0, 3, Some(1)).is_ok());
    }

    #[test]
    fn the_cursor_is_the_last_change_else_after_else_the_position() {
        let size = PageSize::parse(Some(2)).unwrap();
        let page = FeedPage::new(vec![change(4), change(5), change(6)], size, Some(3), 9);
        assert!(page.has_more);
        assert_eq!(page.changes.len(), 2);
        assert_eq!(page.cursor, cursor::encode(5));

        let page = FeedPage::new(vec![change(4), change(5)], size, Some(3), 9);
        assert!(!page.has_more);
        assert_eq!(page.cursor, cursor::encode(5));

        let page = FeedPage::new(Vec::new(), size, Some(9), 9);
        assert!(!page.has_more);
        assert_eq!(page.cursor, cursor::encode(9));

        let page = FeedPage::new(Vec::new(), size, None, 0);
        assert_eq!(page.cursor, cursor::encode(0));
        let page = FeedPage::new(Vec::new(), size, None, 12);
        assert_eq!(page.cursor, cursor::encode(12));
    }
}
