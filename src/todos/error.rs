//! The todos feature's error type.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    db::DbError,
    error::{ClientError, ErrorCode},
};

/// Why a todo operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TodoError {
    /// An input field failed validation.
    #[error("{field}: {message}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such todo among the caller's lists (a todo of a list the caller
    /// is not a member of is reported the same).
    #[error("todo not found")]
    NotFound,
    /// No such list among the caller's.
    #[error("list not found")]
    ListNotFound,
    /// The caller's role in the list does not allow this; nothing changed.
    #[error("your role in this list does not allow this")]
    Forbidden,
    /// `expectedVersion` did not match; nothing changed.
    #[error("version conflict: expected version {expected}, but the todo is at version {actual}")]
    VersionConflict {
        /// What the client expected.
        expected: i32,
        /// The todo's current version.
        actual: i32,
        /// The todo as it stands (`extensions.current`).
        current: Box<Current>,
    },
    /// `baseVersion`: a field of the input changed after the base; nothing
    /// changed.
    #[error("merge conflict: {} changed after version {base}", fields.join(", "))]
    MergeConflict {
        /// The client's base version.
        base: i32,
        /// The input's fields (GraphQL names) that changed after it.
        fields: Vec<&'static str>,
        /// The todo as it stands (`extensions.current`).
        current: Box<Current>,
    },
    /// A client-chosen id that is taken: by a todo of the caller's whose
    /// fields differ from the input (`current` is that todo), or by a todo
    /// the caller may not see (`current` is `None`: same message, nothing
    /// revealed).
    #[error("this id is already in use")]
    IdInUse {
        /// The caller's own todo under that id, as it stands.
        current: Option<Box<Current>>,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl TodoError {
    /// A validation error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<crate::lists::guard::Refused> for TodoError {
    fn from(e: crate::lists::guard::Refused) -> Self {
        use crate::lists::{access::Denied, guard::Refused};
        match e {
            Refused::Denied(Denied::Missing) => Self::ListNotFound,
            Refused::Denied(Denied::Forbidden(_)) => Self::Forbidden,
            Refused::Db(e) => e.into(),
        }
    }
}

impl From<crate::lists::position::PositionError> for TodoError {
    fn from(e: crate::lists::position::PositionError) -> Self {
        Self::invalid("position", e.to_string())
    }
}

impl From<diesel::result::Error> for TodoError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// The codes clients see for each case.
impl ClientError for TodoError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::BadUserInput,
            Self::NotFound | Self::ListNotFound => ErrorCode::NotFound,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::VersionConflict { .. } | Self::MergeConflict { .. } | Self::IdInUse { .. } => {
                ErrorCode::Conflict
            }
            Self::Db(_) => ErrorCode::InternalServerError,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A conflict about a todo the caller may see carries it as it stands:
    /// `extensions.current`.
    fn extensions(&self) -> Vec<(&'static str, Value)> {
        let current = match self {
            Self::VersionConflict { current, .. } | Self::MergeConflict { current, .. } => {
                Some(current)
            }
            Self::IdInUse { current } => current.as_ref(),
            _ => None,
        };
        current
            .map(|todo| ("current", todo.to_json()))
            .into_iter()
            .collect()
    }
}

/// A todo as a conflict shows it (`extensions.current`): the fields of
/// the GraphQL `Todo` a client merges with. Made from a row by
/// `TodoRow::current`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Completed.
    pub completed: bool,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Version.
    pub version: i32,
    /// The list it is in.
    pub list_id: Uuid,
    /// Its position key.
    pub position: String,
}

impl Current {
    /// The JSON of `extensions.current`: the `Todo` field names and
    /// formats (ids as the API shows them, `dueAt` as the `DateTime`
    /// scalar writes it: RFC 3339 with `+00:00`), so a client stores it as
    /// it stores a `Todo` it read.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "title": self.title,
            "description": self.description,
            "completed": self.completed,
            "dueAt": self.due_at.map(|d| d.to_rfc3339()),
            "version": self.version,
            "listId": self.list_id.to_string(),
            "position": self.position,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn todo() -> Current {
        let at = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
        Current {
            id: Uuid::from_u128(0x0190f8a4_3c1e_7b2a_9c4d_5e6f7a8b9c0d),
            title: "Milk".into(),
            description: None,
            completed: true,
            due_at: Some(at + chrono::Duration::microseconds(120)),
            version: 7,
            list_id: Uuid::from_u128(0x0190f8a4_3c1e_7b2a_9c4d_000000000001),
            position: "a0V".into(),
        }
    }

    #[test]
    fn current_has_the_todo_fields_in_graphql_format() {
        assert_eq!(
            todo().to_json(),
            json!({
                "id": "0190f8a4-3c1e-7b2a-9c4d-5e6f7a8b9c0d",
                "title": "Milk",
                "description": null,
                "completed": true,
                "dueAt": "2030-01-02T03:04:05.000120+00:00",
                "version": 7,
                "listId": "0190f8a4-3c1e-7b2a-9c4d-000000000001",
                "position": "a0V",
            })
        );
        let undated = Current {
            due_at: None,
            description: Some("2 l".into()),
            ..todo()
        };
        assert_eq!(undated.to_json()["dueAt"], Value::Null);
        assert_eq!(undated.to_json()["description"], "2 l");
    }

    #[test]
    fn conflicts_carry_current_unless_the_todo_is_not_the_callers() {
        let version = TodoError::VersionConflict {
            expected: 3,
            actual: 7,
            current: Box::new(todo()),
        };
        let merge = TodoError::MergeConflict {
            base: 5,
            fields: vec!["title", "dueAt"],
            current: Box::new(todo()),
        };
        let mine = TodoError::IdInUse {
            current: Some(Box::new(todo())),
        };
        let theirs = TodoError::IdInUse { current: None };
        for e in [&version, &merge, &mine] {
            assert_eq!(e.code(), ErrorCode::Conflict);
            assert_eq!(e.extensions(), vec![("current", todo().to_json())]);
        }
        assert_eq!(theirs.code(), ErrorCode::Conflict);
        assert!(theirs.extensions().is_empty());
        assert_eq!(mine.to_string(), theirs.to_string(), "nothing revealed");
        assert_eq!(
            merge.to_string(),
            "merge conflict: title, dueAt changed after version 5"
        );
    }
}
