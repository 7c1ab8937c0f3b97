//! Opaque keyset cursors: the sort key and id of the last item seen, tagged
//! with the order they belong to, base64url-encoded. Clients must treat them
//! as opaque; the server refuses a cursor of another order or a damaged one.

use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{TodoError, order::TodoOrder};

const VERSION: &str = "v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The sort key of the last item seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A time (created, updated, due).
    At(DateTime<Utc>),
    /// A position key (manual order).
    Position(String),
}

/// A position in a list: strictly after (`key`, `id`) in `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The order the cursor was made for.
    pub order: TodoOrder,
    /// The sort key of the last item (None only for a todo without a due time).
    pub key: Option<Key>,
    /// The id of the last item: the tie-breaker.
    pub id: Uuid,
}

impl Cursor {
    /// Encodes the cursor.
    pub fn encode(&self) -> String {
        // Position keys are base-62 digits: never `|` or `-`.
        let key = match &self.key {
            None => "-".to_owned(),
            Some(Key::At(k)) => k.timestamp_micros().to_string(),
            Some(Key::Position(p)) => p.clone(),
        };
        B64.encode(format!(
            "{VERSION}|{}|{key}|{}",
            self.order.key(),
            self.id.simple()
        ))
    }

    /// Decodes a cursor, which must belong to `order`.
    pub fn decode(raw: &str, order: TodoOrder) -> Result<Self, TodoError> {
        let bad = || TodoError::invalid("after", "is not a valid cursor for this list");
        let bytes = B64.decode(raw.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('|');
        let (Some(VERSION), Some(order_key), Some(key), Some(id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        if TodoOrder::from_key(order_key) != Some(order) {
            return Err(TodoError::invalid(
                "after",
                "belongs to a list in another order",
            ));
        }
        let key = match key {
            // Only due dates are nullable.
            "-" if order == TodoOrder::DueAtAsc => None,
            position if order == TodoOrder::Position => Some(Key::Position(
                crate::lists::position::PositionKey::parse(position)
                    .map_err(|_| bad())?
                    .into_string(),
            )),
            micros => Some(Key::At(
                micros
                    .parse::<i64>()
                    .ok()
                    .and_then(DateTime::from_timestamp_micros)
                    .ok_or_else(bad)?,
            )),
        };
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        Ok(Self { order, key, id })
    }
}

/// The tag of trash cursors in place of an order's key (no order has it,
/// so a trash cursor passed to a todo list, or the reverse, is refused).
const TRASH: &str = "tr";

/// A position in a list's trash (most recently deleted first, then by id):
/// strictly after (`deleted_at`, `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrashCursor {
    /// When the last item seen went to the trash.
    pub deleted_at: DateTime<Utc>,
    /// Its id: the tie-breaker (todos cleared together share a time).
    pub id: Uuid,
}

impl TrashCursor {
    /// Encodes the cursor, in the same shape as [`Cursor`]s.
    pub fn encode(&self) -> String {
        B64.encode(format!(
            "{VERSION}|{TRASH}|{}|{}",
            self.deleted_at.timestamp_micros(),
            self.id.simple()
        ))
    }

    /// Decodes a trash cursor.
    pub fn decode(raw: &str) -> Result<Self, TodoError> {
        let bad = || TodoError::invalid("after", "is not a valid cursor for this trash");
        let bytes = B64.decode(raw.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('|');
        let (Some(VERSION), Some(TRASH), Some(micros), Some(id), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let deleted_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        Ok(Self { deleted_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).unwrap()
    }

    #[test]
    fn round_trips_every_order() {
        for (order, key) in [
            (
                TodoOrder::CreatedAtDesc,
                Some(Key::At(at(1_732_400_000_123_456))),
            ),
            (TodoOrder::CreatedAtAsc, Some(Key::At(at(0)))),
            (TodoOrder::UpdatedAtDesc, Some(Key::At(at(-5)))),
            (TodoOrder::DueAtAsc, Some(Key::At(at(42)))),
            (TodoOrder::DueAtAsc, None),
            (TodoOrder::Position, Some(Key::Position("a0V".to_owned()))),
        ] {
            let c = Cursor {
                order,
                key,
                id: Uuid::now_v7(),
            };
            assert_eq!(Cursor::decode(&c.encode(), order).unwrap(), c);
        }
    }

    #[test]
    fn refuses_other_orders_and_garbage() {
        let c = Cursor {
            order: TodoOrder::CreatedAtDesc,
            key: Some(Key::At(at(1))),
            id: Uuid::now_v7(),
        };
        let err = Cursor::decode(&c.encode(), TodoOrder::CreatedAtAsc).unwrap_err();
        assert!(err.to_string().contains("another order"));
        let null_key = B64.encode(format!("v1|cd|-|{}", Uuid::now_v7().simple()));
        for raw in [
            "",
            "!!!",
            "bm90IGEgY3Vyc29y",
            &B64.encode("v2|cd|1|00000000000000000000000000000000"),
            &B64.encode("v1|cd|x|00000000000000000000000000000000"),
            &B64.encode("v1|cd|1|nope"),
            &B64.encode("v1|cd|1|00000000000000000000000000000000|extra"),
            &B64.encode([0xff, 0xfe]),
            &null_key,
        ] {
            assert!(
                matches!(
                    Cursor::decode(raw, TodoOrder::CreatedAtDesc),
                    Err(TodoError::Invalid { field: "after", .. })
                ),
                "{raw:?}"
            );
        }
        // A position cursor must carry a valid position key.
        for key in ["-", "a00", "a", "x!"] {
            let raw = B64.encode(format!("v1|po|{key}|{}", Uuid::now_v7().simple()));
            assert!(
                matches!(
                    Cursor::decode(&raw, TodoOrder::Position),
                    Err(TodoError::Invalid { field: "after", .. })
                ),
                "{key:?}"
            );
        }
    }

    #[test]
    fn trash_cursors_round_trip_and_are_not_list_cursors() {
        let c = TrashCursor {
            deleted_at: at(1_764_000_000_654_321),
            id: Uuid::now_v7(),
        };
        assert_eq!(TrashCursor::decode(&c.encode()).unwrap(), c);
        // Neither kind of cursor is taken for the other.
        assert!(Cursor::decode(&c.encode(), TodoOrder::CreatedAtDesc).is_err());
        let list = Cursor {
            order: TodoOrder::CreatedAtDesc,
            key: Some(Key::At(at(1))),
            id: Uuid::now_v7(),
        };
        for raw in [
            list.encode(),
            String::new(),
            B64.encode("v1|tr|x|00000000000000000000000000000000"),
            B64.encode("v1|tr|1|nope"),
            B64.encode("v1|tr|1|00000000000000000000000000000000|extra"),
        ] {
            assert!(
                matches!(
                    TrashCursor::decode(&raw),
                    Err(TodoError::Invalid { field: "after", .. })
                ),
                "{raw:?}"
            );
        }
    }
}
