//! The inputs of todo connections (`TodoOrder`, `TodoFilter`), shared by
//! `Query.todos`, `User.todos` and `TodoList.todos`; a leaf of
//! [`super::objects`], which re-exports them.

use async_graphql::{Enum, InputObject};
use chrono::{DateTime, Utc};

use crate::{
    auth::model::User,
    todos::{
        TodoError,
        domain::{Scope, TodoFilter, TodoOrder},
    },
};

/// The orders of a todo list.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "TodoOrder", remote = "TodoOrder")]
pub enum TodoOrderInput {
    /// Newest first.
    #[default]
    CreatedAtDesc,
    /// Oldest first.
    CreatedAtAsc,
    /// Soonest due first; todos without a due time last.
    DueAtAsc,
    /// Most recently changed first.
    UpdatedAtDesc,
    /// The list's manual order (position keys ascending).
    Position,
}

/// Which todos a list includes.
#[derive(InputObject, Default)]
#[graphql(name = "TodoFilter")]
pub struct TodoFilterInput {
    /// Only completed (true) or active (false) todos.
    pub completed: Option<bool>,
    /// Case-insensitive match on title and description.
    pub search: Option<String>,
    /// Due strictly before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Due strictly after this time.
    pub due_after: Option<DateTime<Utc>>,
    /// With Query.todos and User.todos: look in every list the caller is a member of, not only the default list.
    pub all_lists: Option<bool>,
}

impl TodoFilterInput {
    /// The todos `user` (the caller) asks for: the default list, or every
    /// list with `allLists`.
    pub fn scope(&self, user: &User) -> Scope {
        match self.all_lists {
            Some(true) => Scope::MemberOf(user.id),
            _ => Scope::List(user.default_list_id),
        }
    }

    /// The filter, parsed.
    pub fn parse(&self) -> Result<TodoFilter, TodoError> {
        TodoFilter::parse(
            self.completed,
            self.search.as_deref(),
            self.due_before,
            self.due_after,
        )
    }
}
