//! Parsed todo input: titles, descriptions, filters, orders and page sizes.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

pub use super::order::TodoOrder;
use super::{TodoError, cursor::Cursor};
use crate::{client_id, lists::position::PositionKey};

/// Which todos a query looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The todos of one list (whose access the caller has checked).
    List(Uuid),
    /// The todos of every list this user is a member of.
    MemberOf(Uuid),
    /// The todos of this user's default list, which the query finds itself
    /// (a subquery on the user's row): a page read together with the
    /// viewer's row, before it has been read (`TodoService::list_with`).
    DefaultOf(Uuid),
    /// The todos of `list` if `member` is a member of it, none otherwise:
    /// the query checks the membership itself (a one-time filter), so a
    /// page read together with the membership, before its answer is known
    /// (`Query.list`), reads nothing of a list the caller may not see.
    ListIfMember {
        /// The list.
        list: Uuid,
        /// The caller.
        member: Uuid,
    },
}

impl Scope {
    /// A short stable name, for cache keys.
    pub fn key(self) -> String {
        match self {
            Self::List(list) | Self::ListIfMember { list, .. } => format!("l{}", list.simple()),
            Self::MemberOf(_) => "all".to_owned(),
            Self::DefaultOf(_) => "default".to_owned(),
        }
    }
}

/// A todo id as a client sends it: anything but a UUID names no todo.
pub fn parse_id(raw: &str) -> Result<Uuid, TodoError> {
    Uuid::try_parse(raw).map_err(|_| TodoError::NotFound)
}

/// PostgreSQL text cannot hold U+0000, so refuse it as input rather than
/// fail in the database.
fn no_nul(field: &'static str, raw: &str) -> Result<(), TodoError> {
    if raw.contains('\0') {
        Err(TodoError::invalid(field, "must not contain NUL characters"))
    } else {
        Ok(())
    }
}

/// A title: trimmed, 1 to 500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Longest title, in characters.
    pub const MAX_CHARS: usize = 500;

    /// Trims and checks the length.
    pub fn parse(raw: &str) -> Result<Self, TodoError> {
        no_nul("title", raw)?;
        let title = raw.trim();
        let n = title.chars().count();
        if (1..=Self::MAX_CHARS).contains(&n) {
            Ok(Self(title.to_owned()))
        } else {
            Err(TodoError::invalid(
                "title",
                "must be 1 to 500 characters after trimming",
            ))
        }
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description of at most 10,000 characters, kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Longest description, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Checks the length.
    pub fn parse(raw: &str) -> Result<Self, TodoError> {
        no_nul("description", raw)?;
        if raw.chars().count() <= Self::MAX_CHARS {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TodoError::invalid(
                "description",
                "must be at most 10,000 characters",
            ))
        }
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new todo.
#[derive(Debug, Clone)]
pub struct NewTodo {
    /// Title.
    pub title: Title,
    /// Description.
    pub description: Option<Description>,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// An id the client chose (see [`crate::client_id`]); `None`: the
    /// server makes one.
    pub id: Option<Uuid>,
    /// A position key the client chose; `None`: first in the list.
    pub position: Option<PositionKey>,
}

impl NewTodo {
    /// Parses the fields of a create request.
    pub fn parse(
        title: &str,
        description: Option<&str>,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<Self, TodoError> {
        Ok(Self {
            title: Title::parse(title)?,
            description: description.map(Description::parse).transpose()?,
            // Stored at the database's microsecond precision: a retry
            // with the same input then compares equal to what was stored.
            due_at: due_at.map(|d| d.trunc_subsecs(6)),
            id: None,
            position: None,
        })
    }

    /// With the id the client chose, if any: a UUID of version 4 or 7
    /// (`BAD_USER_INPUT` on `id` otherwise).
    pub fn with_id(self, raw: Option<&str>) -> Result<Self, TodoError> {
        let id = raw
            .map(|raw| client_id::parse(raw).map_err(|e| TodoError::invalid("id", e.to_string())))
            .transpose()?;
        Ok(Self { id, ..self })
    }

    /// With the position key the client chose, if any (`BAD_USER_INPUT` on
    /// `position` when malformed).
    pub fn with_position(self, raw: Option<&str>) -> Result<Self, TodoError> {
        let position = raw.map(PositionKey::parse).transpose()?;
        Ok(Self { position, ..self })
    }
}

/// A change to one field: absent fields are kept, present ones set (for
/// nullable fields `Set(None)` clears).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Leave as is.
    #[default]
    Keep,
    /// Set to this value.
    Set(T),
}

/// A partial update as a client sends it, before parsing: for each field,
/// `None` when absent and `Some(None)` when explicitly null.
#[derive(Debug, Clone, Default)]
pub struct RawTodoPatch {
    /// The title (may not be null).
    pub title: Option<Option<String>>,
    /// The description; null clears it.
    pub description: Option<Option<String>>,
    /// Completed or not (may not be null).
    pub completed: Option<Option<bool>>,
    /// The due time; null clears it.
    pub due_at: Option<Option<DateTime<Utc>>>,
    /// Refuse the change unless the todo is at this version.
    pub expected_version: Option<i32>,
    /// Field-level merge: apply unless a field of the input changed after
    /// this version.
    pub base_version: Option<i32>,
}

/// A partial update of a todo.
#[derive(Debug, Clone, Default)]
pub struct TodoPatch {
    /// New title.
    pub title: Patch<Title>,
    /// New description, or `Set(None)` to clear it.
    pub description: Patch<Option<Description>>,
    /// Mark completed or active.
    pub completed: Patch<bool>,
    /// New due time, or `Set(None)` to clear it.
    pub due_at: Patch<Option<DateTime<Utc>>>,
    /// Refuse the change unless the todo is at this version.
    pub expected_version: Option<i32>,
    /// Field-level merge base (never together with `expected_version`).
    pub base_version: Option<i32>,
}

impl TodoPatch {
    /// Parses a partial update: absent fields are kept, `null` clears the
    /// description or due time and is refused for the title and `completed`.
    /// `baseVersion` must be at least 1 and cannot come with
    /// `expectedVersion` (a newer base than the todo's version is refused
    /// by the service, which knows the version).
    pub fn parse(raw: RawTodoPatch) -> Result<Self, TodoError> {
        let not_null = |field: &'static str| TodoError::invalid(field, "cannot be null");
        if let Some(base) = raw.base_version {
            if raw.expected_version.is_some() {
                return Err(TodoError::invalid(
                    "baseVersion",
                    "cannot be combined with expectedVersion",
                ));
            }
            if base < 1 {
                return Err(TodoError::invalid("baseVersion", "must be at least 1"));
            }
        }
        Ok(Self {
            title: match raw.title {
                None => Patch::Keep,
                Some(None) => return Err(not_null("title")),
                Some(Some(title)) => Patch::Set(Title::parse(&title)?),
            },
            description: match raw.description {
                None => Patch::Keep,
                Some(d) => Patch::Set(d.as_deref().map(Description::parse).transpose()?),
            },
            completed: match raw.completed {
                None => Patch::Keep,
                Some(None) => return Err(not_null("completed")),
                Some(Some(completed)) => Patch::Set(completed),
            },
            due_at: raw
                .due_at
                .map_or(Patch::Keep, |d| Patch::Set(d.map(|d| d.trunc_subsecs(6)))),
            expected_version: raw.expected_version,
            base_version: raw.base_version,
        })
    }

    /// The fields this patch sets, by their GraphQL names (what a merge
    /// checks).
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("title", matches!(self.title, Patch::Set(_))),
            ("description", matches!(self.description, Patch::Set(_))),
            ("completed", matches!(self.completed, Patch::Set(_))),
            ("dueAt", matches!(self.due_at, Patch::Set(_))),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Which todos a list includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TodoFilter {
    /// Only completed (true) or active (false) ones.
    pub completed: Option<bool>,
    /// Case-insensitive substring of title or description.
    pub search: Option<String>,
    /// Due strictly before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Due strictly after this time.
    pub due_after: Option<DateTime<Utc>>,
}

impl TodoFilter {
    /// Longest accepted search string.
    pub const MAX_SEARCH_CHARS: usize = 200;

    /// Checks the search length; a blank search means no search.
    pub fn parse(
        completed: Option<bool>,
        search: Option<&str>,
        due_before: Option<DateTime<Utc>>,
        due_after: Option<DateTime<Utc>>,
    ) -> Result<Self, TodoError> {
        if let Some(search) = search {
            no_nul("filter.search", search)?;
        }
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > Self::MAX_SEARCH_CHARS) {
            return Err(TodoError::invalid(
                "filter.search",
                "must be at most 200 characters",
            ));
        }
        Ok(Self {
            completed,
            search: search.map(str::to_owned),
            due_before,
            due_after,
        })
    }
}

/// Which page of a list to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (0 to 100).
    pub first: i64,
    /// Items strictly after this cursor.
    pub after: Option<Cursor>,
    /// The order.
    pub order: TodoOrder,
}

impl PageRequest {
    /// Page size when `first` is absent.
    pub const DEFAULT_FIRST: i64 = 20;
    /// Largest page.
    pub const MAX_FIRST: i64 = 100;

    /// Checks `first` and decodes `after`, which must come from the same order.
    pub fn parse(
        first: Option<i64>,
        after: Option<&str>,
        order: TodoOrder,
    ) -> Result<Self, TodoError> {
        let first = first.unwrap_or(Self::DEFAULT_FIRST);
        if !(0..=Self::MAX_FIRST).contains(&first) {
            return Err(TodoError::invalid("first", "must be between 0 and 100"));
        }
        let after = after
            .filter(|a| !a.is_empty())
            .map(|a| Cursor::decode(a, order))
            .transpose()?;
        Ok(Self {
            first,
            after,
            order,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_bounded_in_characters() {
        assert_eq!(Title::parse("  Buy milk \n").unwrap().as_str(), "Buy milk");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse("").is_err());
        assert!(Title::parse(&"🦀".repeat(500)).is_ok());
        assert!(Title::parse(&"a".repeat(501)).is_err());
        assert!(Title::parse(&format!("  {}  ", "a".repeat(500))).is_ok());
    }

    #[test]
    fn nul_characters_are_refused() {
        assert!(Title::parse("a\0b").is_err());
        assert!(Description::parse("\0").is_err());
        assert!(TodoFilter::parse(None, Some("x\0"), None, None).is_err());
    }

    #[test]
    fn description_is_kept_verbatim() {
        assert_eq!(Description::parse("  x ").unwrap().as_str(), "  x ");
        assert!(Description::parse(&"é".repeat(10_000)).is_ok());
        assert!(matches!(
            Description::parse(&"a".repeat(10_001)),
            Err(TodoError::Invalid {
                field: "description",
                ..
            })
        ));
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(
            PageRequest::parse(None, None, TodoOrder::default())
                .unwrap()
                .first,
            20
        );
        assert!(PageRequest::parse(Some(0), None, TodoOrder::default()).is_ok());
        assert!(PageRequest::parse(Some(100), None, TodoOrder::default()).is_ok());
        for bad in [-1, 101, i64::MAX] {
            assert!(matches!(
                PageRequest::parse(Some(bad), None, TodoOrder::default()),
                Err(TodoError::Invalid { field: "first", .. })
            ));
        }
    }

    #[test]
    fn patches_keep_absent_fields_and_refuse_null_where_required() {
        let patch = TodoPatch::parse(RawTodoPatch {
            title: Some(Some(" New ".into())),
            description: Some(None),
            due_at: Some(None),
            expected_version: Some(3),
            ..RawTodoPatch::default()
        })
        .unwrap();
        assert_eq!(patch.title, Patch::Set(Title::parse("New").unwrap()));
        assert_eq!(patch.description, Patch::Set(None));
        assert_eq!(patch.completed, Patch::Keep);
        assert_eq!(patch.due_at, Patch::Set(None));
        assert_eq!(patch.expected_version, Some(3));
        for (raw, field) in [
            (
                RawTodoPatch {
                    title: Some(None),
                    ..RawTodoPatch::default()
                },
                "title",
            ),
            (
                RawTodoPatch {
                    completed: Some(None),
                    ..RawTodoPatch::default()
                },
                "completed",
            ),
            (
                RawTodoPatch {
                    title: Some(Some(" ".into())),
                    ..RawTodoPatch::default()
                },
                "title",
            ),
        ] {
            assert!(matches!(
                TodoPatch::parse(raw),
                Err(TodoError::Invalid { field: f, .. }) if f == field
            ));
        }
    }

    #[test]
    fn a_merge_base_is_at_least_1_and_never_with_expected_version() {
        let patch = TodoPatch::parse(RawTodoPatch {
            completed: Some(Some(true)),
            due_at: Some(None),
            base_version: Some(4),
            ..RawTodoPatch::default()
        })
        .unwrap();
        assert_eq!(patch.base_version, Some(4));
        assert_eq!(patch.fields(), vec!["completed", "dueAt"]);
        for raw in [
            RawTodoPatch {
                base_version: Some(2),
                expected_version: Some(2),
                ..RawTodoPatch::default()
            },
            RawTodoPatch {
                base_version: Some(0),
                ..RawTodoPatch::default()
            },
            RawTodoPatch {
                base_version: Some(i32::MIN),
                ..RawTodoPatch::default()
            },
        ] {
            assert!(matches!(
                TodoPatch::parse(raw),
                Err(TodoError::Invalid {
                    field: "baseVersion",
                    ..
                })
            ));
        }
    }

    #[test]
    fn a_patch_names_the_fields_it_sets() {
        assert!(TodoPatch::default().fields().is_empty());
        let patch = TodoPatch::parse(RawTodoPatch {
            title: Some(Some("T".into())),
            description: Some(None),
            completed: Some(Some(false)),
            due_at: Some(None),
            ..RawTodoPatch::default()
        })
        .unwrap();
        assert_eq!(
            patch.fields(),
            vec!["title", "description", "completed", "dueAt"]
        );
    }

    #[test]
    fn times_are_kept_at_the_databases_precision() {
        let at = DateTime::parse_from_rfc3339("2030-01-01T00:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let stored = DateTime::parse_from_rfc3339("2030-01-01T00:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            NewTodo::parse("T", None, Some(at)).unwrap().due_at,
            Some(stored)
        );
        let patch = TodoPatch::parse(RawTodoPatch {
            due_at: Some(Some(at)),
            ..RawTodoPatch::default()
        })
        .unwrap();
        assert_eq!(patch.due_at, Patch::Set(Some(stored)));
    }

    #[test]
    fn client_chosen_ids_and_positions_are_parsed() {
        let todo = NewTodo::parse("T", None, None).unwrap();
        let v4 = Uuid::new_v4();
        let with = todo.clone().with_id(Some(&v4.to_string())).unwrap();
        assert_eq!(with.id, Some(v4));
        assert_eq!(todo.clone().with_id(None).unwrap().id, None);
        for bad in ["", "42", "00000000-0000-0000-0000-000000000000"] {
            assert!(matches!(
                todo.clone().with_id(Some(bad)),
                Err(TodoError::Invalid { field: "id", .. })
            ));
        }
        let placed = todo.clone().with_position(Some("a0V")).unwrap();
        assert_eq!(placed.position.unwrap().as_str(), "a0V");
        for bad in ["", "a0!", "a00"] {
            assert!(matches!(
                todo.clone().with_position(Some(bad)),
                Err(TodoError::Invalid {
                    field: "position",
                    ..
                })
            ));
        }
    }

    #[test]
    fn ids_that_are_not_uuids_name_no_todo() {
        assert!(parse_id("0190f8a4-3c1e-7b2a-9c4d-5e6f7a8b9c0d").is_ok());
        assert!(matches!(parse_id("42"), Err(TodoError::NotFound)));
    }

    #[test]
    fn search_is_trimmed_and_bounded() {
        let f = TodoFilter::parse(None, Some("  milk "), None, None).unwrap();
        assert_eq!(f.search.as_deref(), Some("milk"));
        assert_eq!(
            TodoFilter::parse(None, Some("  "), None, None)
                .unwrap()
                .search,
            None
        );
        assert!(TodoFilter::parse(None, Some(&"s".repeat(201)), None, None).is_err());
    }
}
