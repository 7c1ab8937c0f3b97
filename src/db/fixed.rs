//! Read statements whose SQL text never changes, written out once.
//!
//! diesel-async builds a statement's text from diesel's query builder on
//! every use, even when the prepared statement is already cached: every
//! column of the select list is quoted again (`push_identifier`), every
//! node of the `WHERE` tree walked. For the reads every request makes (the
//! caller's account, a list membership, a list's members) that was about
//! 9 % of a `list(id)` request's instructions (callgrind). A [`Fixed`]
//! statement writes its text as a few constant pieces around its bind
//! parameters, and carries a static query id, so diesel also finds its
//! prepared statement by type instead of hashing the text.
//!
//! Each text is held to the one diesel's query builder writes for the
//! equivalent query by a unit test beside it (`debug_query` of both,
//! binds included): a column added to a row type, or a changed filter,
//! fails that test rather than reading the wrong columns.

use std::marker::PhantomData;

use diesel::{
    QueryResult,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
};

/// The text of a fixed statement, and the values it binds.
pub trait FixedText: Send + Sync + 'static {
    /// What a row of the result is (as of the equivalent diesel query).
    type SqlType;
    /// The bound values.
    type Binds<'a>: Send + Sync;
    /// Writes the text, binding `binds` where their placeholders go.
    fn walk<'b>(binds: &'b Self::Binds<'_>, out: AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

/// A statement of text `T` with its bound values: run it with
/// `diesel_async::RunQueryDsl` as any diesel query.
pub struct Fixed<'a, T: FixedText> {
    binds: T::Binds<'a>,
    text: PhantomData<T>,
}

impl<'a, T: FixedText> Fixed<'a, T> {
    /// The statement `T` binding `binds`.
    pub fn new(binds: T::Binds<'a>) -> Self {
        Self {
            binds,
            text: PhantomData,
        }
    }
}

impl<T: FixedText> QueryId for Fixed<'_, T> {
    // The text never changes: the prepared statement is found by type.
    type QueryId = T;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<T: FixedText> Query for Fixed<'_, T> {
    type SqlType = T::SqlType;
}

impl<T: FixedText> QueryFragment<Pg> for Fixed<'_, T> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        T::walk(&self.binds, out)
    }
}
