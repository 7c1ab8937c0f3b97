//! Lists: todo lists, members and roles, and the manual order of their todos (`position`: the fractional-indexing keys).

pub mod position;
