//! A page of `TodoList.todos` read ahead by its parent: `Query.list`
//! ([`super::viewer_list`]) reads it in the same round trip as the
//! membership that decides whether the caller may see the list, and hands
//! it to the list object with the arguments it was read for. The field
//! takes it only when its own arguments parse to the same request; any
//! other `todos` field (an alias with other arguments, a list reached
//! another way) reads as usual.

use std::sync::Mutex;

use async_graphql::{InputType, Lookahead};
use uuid::Uuid;

use super::inputs::{TodoFilterInput, TodoOrderInput};
use crate::todos::{
    TodoError,
    domain::{PageRequest, TodoFilter, TodoOrder},
    service::Page,
};

/// The arguments of a `todos` field, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodosArgs {
    /// Which page.
    pub page: PageRequest,
    /// Which todos.
    pub filter: TodoFilter,
}

impl TodosArgs {
    /// Parses a `todos` field's arguments as `todo_connection` does.
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        filter: &TodoFilterInput,
        order_by: Option<TodoOrderInput>,
    ) -> Result<Self, TodoError> {
        let order = order_by.map(TodoOrder::from).unwrap_or_default();
        Ok(Self {
            page: PageRequest::parse(first.map(i64::from), after, order)?,
            filter: filter.parse()?,
        })
    }

    /// The arguments of the `todos` field `look` (under a `TodoList`
    /// selection), variables resolved. `None` unless it is selected exactly
    /// once (several selections may have different arguments) with
    /// arguments that parse: then nothing is read ahead.
    pub fn ahead(look: &Lookahead<'_>) -> Option<Self> {
        let fields = look.selection_fields();
        let [field] = fields.as_slice() else {
            return None;
        };
        let mut first: Option<i32> = None;
        let mut after: Option<String> = None;
        let mut filter: Option<TodoFilterInput> = None;
        // `TodoList.todos`'s default order.
        let mut order_by = Some(TodoOrderInput::Position);
        for (name, value) in field.arguments().ok()? {
            let value = Some(value);
            match name.as_str() {
                "first" => first = InputType::parse(value).ok()?,
                "after" => after = InputType::parse(value).ok()?,
                "filter" => filter = InputType::parse(value).ok()?,
                "orderBy" => order_by = InputType::parse(value).ok()?,
                _ => return None,
            }
        }
        Self::parse(
            first,
            after.as_deref(),
            &filter.unwrap_or_default(),
            order_by,
        )
        .ok()
    }
}

/// A page read ahead, with who read it.
pub struct AheadPage {
    /// The page.
    pub page: Page,
    /// The caller it was read for.
    pub viewer: Uuid,
    /// The caller's data version when it was read.
    pub version: i64,
}

/// What a list object carries of a page read ahead: taken at most once.
#[derive(Default)]
pub struct TodosAhead(Mutex<Option<(TodosArgs, AheadPage)>>);

impl TodosAhead {
    /// `read`, read for `args`.
    pub fn new(args: TodosArgs, read: AheadPage) -> Self {
        Self(Mutex::new(Some((args, read))))
    }

    /// The page, if it was read for `args` and not taken yet.
    pub fn take(&self, args: &TodosArgs) -> Option<AheadPage> {
        let mut slot = self.0.lock().ok()?;
        match slot.as_ref() {
            Some((read_for, _)) if read_for == args => slot.take().map(|(_, read)| read),
            _ => None,
        }
    }
}
