//! The shapes a cached document validated with: its operation name and
//! variables, and the complexity validation gave them.
//!
//! Validation is a function of the document, the operation name, the
//! variables and the schema alone (complexity multiplies by `first`, which
//! may be a variable; nothing else of the request takes part), and the
//! schema is fixed for the life of the process. A request that repeats a
//! shape exactly therefore cannot fail validation and costs what it cost
//! before: [`super::admission::Gateway`] runs it on the schema without the
//! extension ([`super::pipeline::run_known`]), whose per-field hooks were a
//! quarter of a list request's instructions.
//!
//! Kept beside the parsed document in the document cache
//! ([`super::documents`]), so the cache's bound on text bounds these too:
//! a few shapes per document ([`PER_DOCUMENT`], the most recent), each
//! with small variables ([`MAX_VARIABLES_WEIGHT`]). Shapes are compared
//! exactly (operation name and every variable's value), never by a hash.

use std::{collections::VecDeque, sync::Mutex};

use async_graphql::{Value, Variables};

/// Shapes kept per document: an app sends the same document with a few
/// variable sets at a time (its lists' ids, a page size).
pub const PER_DOCUMENT: usize = 8;

/// Variables weighing more than this (about the bytes of their JSON) are
/// not kept: a large input is rarely sent twice, and the cache stays small.
pub const MAX_VARIABLES_WEIGHT: usize = 512;

/// One shape that validated.
struct Shape {
    operation: Option<String>,
    variables: Variables,
    complexity: usize,
}

/// A document's validated shapes, most recent last.
#[derive(Default)]
pub struct Shapes(Mutex<VecDeque<Shape>>);

impl Shapes {
    /// The complexity `operation` with `variables` validated with, if
    /// that exact shape validated before.
    pub fn complexity(&self, operation: Option<&str>, variables: &Variables) -> Option<usize> {
        let shapes = self.0.lock().ok()?;
        shapes
            .iter()
            .rev()
            .find(|s| s.operation.as_deref() == operation && s.variables == *variables)
            .map(|s| s.complexity)
    }

    /// Whether a shape with `variables` may be kept at all (checked before
    /// copying them for [`Self::remember`]).
    pub fn keepable(variables: &Variables) -> bool {
        let mut budget = MAX_VARIABLES_WEIGHT;
        variables
            .iter()
            .all(|(name, value)| spend(&mut budget, name.len()) && within(value, &mut budget))
    }

    /// Keeps a shape that validated with `complexity`, dropping the oldest
    /// beyond [`PER_DOCUMENT`]; a shape already kept is left as it is.
    pub fn remember(&self, operation: Option<&str>, variables: Variables, complexity: usize) {
        if !Self::keepable(&variables) {
            return;
        }
        let Ok(mut shapes) = self.0.lock() else {
            return;
        };
        if shapes
            .iter()
            .any(|s| s.operation.as_deref() == operation && s.variables == variables)
        {
            return;
        }
        if shapes.len() >= PER_DOCUMENT {
            shapes.pop_front();
        }
        shapes.push_back(Shape {
            operation: operation.map(str::to_owned),
            variables,
            complexity,
        });
    }
}

/// Takes `n` from `budget`; false once it is spent.
fn spend(budget: &mut usize, n: usize) -> bool {
    match budget.checked_sub(n) {
        Some(left) => {
            *budget = left;
            true
        }
        None => false,
    }
}

/// Whether `value` weighs at most what is left of `budget` (spending it).
/// Stops at the first value past it, so a large input is not walked whole.
fn within(value: &Value, budget: &mut usize) -> bool {
    match value {
        Value::Null | Value::Boolean(_) | Value::Number(_) => spend(budget, 8),
        Value::String(s) => spend(budget, s.len() + 2),
        Value::Enum(name) => spend(budget, name.len()),
        Value::Binary(bytes) => spend(budget, bytes.len()),
        Value::List(items) => spend(budget, 2) && items.iter().all(|v| within(v, budget)),
        Value::Object(fields) => {
            spend(budget, 2)
                && fields
                    .iter()
                    .all(|(k, v)| spend(budget, k.len() + 3) && within(v, budget))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Name;

    fn vars(json: serde_json::Value) -> Variables {
        Variables::from_json(json)
    }

    #[test]
    fn an_exact_shape_is_found_and_nothing_else() {
        let shapes = Shapes::default();
        let v = vars(serde_json::json!({ "id": "a", "first": 20 }));
        shapes.remember(Some("List"), v.clone(), 41);
        assert_eq!(shapes.complexity(Some("List"), &v), Some(41));
        // Another operation name, another value, one variable more or less.
        assert_eq!(shapes.complexity(None, &v), None);
        assert_eq!(shapes.complexity(Some("Other"), &v), None);
        let other = vars(serde_json::json!({ "id": "a", "first": 21 }));
        assert_eq!(shapes.complexity(Some("List"), &other), None);
        let fewer = vars(serde_json::json!({ "id": "a" }));
        assert_eq!(shapes.complexity(Some("List"), &fewer), None);
        let more = vars(serde_json::json!({ "id": "a", "first": 20, "x": null }));
        assert_eq!(shapes.complexity(Some("List"), &more), None);
        // An integer and a float of the same value are told apart.
        let float = vars(serde_json::json!({ "id": "a", "first": 20.0 }));
        assert_eq!(shapes.complexity(Some("List"), &float), None);
    }

    #[test]
    fn only_the_most_recent_shapes_are_kept() {
        let shapes = Shapes::default();
        let v = |i: usize| vars(serde_json::json!({ "first": i }));
        for i in 0..=PER_DOCUMENT {
            shapes.remember(None, v(i), i);
        }
        assert_eq!(shapes.complexity(None, &v(0)), None, "the oldest went");
        for i in 1..=PER_DOCUMENT {
            assert_eq!(shapes.complexity(None, &v(i)), Some(i));
        }
        // Remembering a kept shape again does not push another out.
        shapes.remember(None, v(3), 3);
        assert_eq!(shapes.complexity(None, &v(1)), Some(1));
    }

    #[test]
    fn heavy_variables_are_not_kept() {
        let shapes = Shapes::default();
        let heavy = vars(serde_json::json!({ "t": "x".repeat(MAX_VARIABLES_WEIGHT) }));
        assert!(!Shapes::keepable(&heavy));
        shapes.remember(None, heavy.clone(), 1);
        assert_eq!(shapes.complexity(None, &heavy), None);
        // Many small values add up, nested ones too.
        let many: Vec<usize> = (0..MAX_VARIABLES_WEIGHT / 8 + 1).collect();
        assert!(!Shapes::keepable(&vars(serde_json::json!({ "l": many }))));
        let nested =
            serde_json::json!({ "a": { "b": [{ "c": "x".repeat(MAX_VARIABLES_WEIGHT) }] } });
        assert!(!Shapes::keepable(&vars(nested)));
        // A long variable name counts as well.
        let mut named = Variables::default();
        named.insert(Name::new("n".repeat(MAX_VARIABLES_WEIGHT + 1)), Value::Null);
        assert!(!Shapes::keepable(&named));
        // Everyday variables are kept.
        let light = vars(
            serde_json::json!({ "id": "9b2f7c1e-0000-4000-8000-000000000000", "first": 20, "done": false }),
        );
        assert!(Shapes::keepable(&light));
        assert!(Shapes::keepable(&Variables::default()));
    }
}
