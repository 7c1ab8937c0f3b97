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
//! with small variables ([`MAX_VARIABLES_WEIGHT`]). A hash of the
//! variables ([`ShapeKey`]) only picks candidates: a shape is found when
//! its operation name and every variable's value are equal.

use std::{
    collections::VecDeque,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Mutex,
};

use async_graphql::{Value, Variables};

/// Shapes kept per document: an app sends the same document with a few
/// variable sets at a time (its lists' ids, a page size).
pub const PER_DOCUMENT: usize = 8;

/// Variables weighing more than this (about the bytes of their JSON) are
/// not kept: a large input is rarely sent twice, and the cache stays small.
pub const MAX_VARIABLES_WEIGHT: usize = 512;

/// A request's variables, hashed, when they are light enough to keep: a
/// lookup compares this first, so a request whose variables are new each
/// time (a mutation's input) does not compare them in full with every
/// shape kept. Equal hashes are then compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeKey(u64);

impl ShapeKey {
    /// The key of `variables`; `None` when they weigh more than
    /// [`MAX_VARIABLES_WEIGHT`] (such a shape is neither looked up nor kept).
    pub fn of(variables: &Variables) -> Option<Self> {
        let mut budget = MAX_VARIABLES_WEIGHT;
        let mut hasher = DefaultHasher::new();
        for (name, value) in variables.iter() {
            if !spend(&mut budget, name.len()) {
                return None;
            }
            name.as_str().hash(&mut hasher);
            if !walk(value, &mut budget, &mut hasher) {
                return None;
            }
        }
        Some(Self(hasher.finish()))
    }
}

/// One shape that validated.
struct Shape {
    key: ShapeKey,
    operation: Option<String>,
    variables: Variables,
    complexity: usize,
}

impl Shape {
    fn is(&self, key: ShapeKey, operation: Option<&str>, variables: &Variables) -> bool {
        self.key == key && self.operation.as_deref() == operation && self.variables == *variables
    }
}

/// A document's validated shapes, most recent last.
#[derive(Default)]
pub struct Shapes(Mutex<VecDeque<Shape>>);

impl Shapes {
    /// The complexity `operation` with `variables` (whose key is `key`)
    /// validated with, if that exact shape validated before.
    pub fn complexity(
        &self,
        key: ShapeKey,
        operation: Option<&str>,
        variables: &Variables,
    ) -> Option<usize> {
        let shapes = self.0.lock().ok()?;
        shapes
            .iter()
            .rev()
            .find(|s| s.is(key, operation, variables))
            .map(|s| s.complexity)
    }

    /// Keeps a shape that validated with `complexity`, dropping the oldest
    /// beyond [`PER_DOCUMENT`]; a shape already kept is left as it is.
    /// `key` must be [`ShapeKey::of`] `variables`.
    pub fn remember(
        &self,
        key: ShapeKey,
        operation: Option<&str>,
        variables: Variables,
        complexity: usize,
    ) {
        let Ok(mut shapes) = self.0.lock() else {
            return;
        };
        if shapes.iter().any(|s| s.is(key, operation, &variables)) {
            return;
        }
        if shapes.len() >= PER_DOCUMENT {
            shapes.pop_front();
        }
        shapes.push_back(Shape {
            key,
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

/// Hashes `value` into `hasher` while it weighs at most what is left of
/// `budget` (spending it); false at the first value past it, so a large
/// input is not walked whole. Objects hash in their order, which equality
/// ignores: the same object in another order is only a miss.
fn walk(value: &Value, budget: &mut usize, hasher: &mut DefaultHasher) -> bool {
    std::mem::discriminant(value).hash(hasher);
    match value {
        Value::Null => spend(budget, 4),
        Value::Boolean(b) => {
            b.hash(hasher);
            spend(budget, 5)
        }
        Value::Number(n) => {
            n.hash(hasher);
            spend(budget, 8)
        }
        Value::String(s) => {
            s.hash(hasher);
            spend(budget, s.len() + 2)
        }
        Value::Enum(name) => {
            name.as_str().hash(hasher);
            spend(budget, name.len())
        }
        Value::Binary(bytes) => {
            bytes.hash(hasher);
            spend(budget, bytes.len())
        }
        Value::List(items) => {
            items.len().hash(hasher);
            spend(budget, 2) && items.iter().all(|v| walk(v, budget, hasher))
        }
        Value::Object(fields) => {
            fields.len().hash(hasher);
            spend(budget, 2)
                && fields.iter().all(|(k, v)| {
                    k.as_str().hash(hasher);
                    spend(budget, k.len() + 3) && walk(v, budget, hasher)
                })
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

    fn key(v: &Variables) -> ShapeKey {
        ShapeKey::of(v).unwrap_or_else(|| panic!("too heavy: {v}"))
    }

    fn find(shapes: &Shapes, operation: Option<&str>, v: &Variables) -> Option<usize> {
        shapes.complexity(key(v), operation, v)
    }

    #[test]
    fn an_exact_shape_is_found_and_nothing_else() {
        let shapes = Shapes::default();
        let v = vars(serde_json::json!({ "id": "a", "first": 20 }));
        shapes.remember(key(&v), Some("List"), v.clone(), 41);
        assert_eq!(find(&shapes, Some("List"), &v), Some(41));
        // Another operation name, another value, one variable more or less.
        assert_eq!(find(&shapes, None, &v), None);
        assert_eq!(find(&shapes, Some("Other"), &v), None);
        let other = vars(serde_json::json!({ "id": "a", "first": 21 }));
        assert_eq!(find(&shapes, Some("List"), &other), None);
        let fewer = vars(serde_json::json!({ "id": "a" }));
        assert_eq!(find(&shapes, Some("List"), &fewer), None);
        let more = vars(serde_json::json!({ "id": "a", "first": 20, "x": null }));
        assert_eq!(find(&shapes, Some("List"), &more), None);
        // An integer and a float of the same value are told apart.
        let float = vars(serde_json::json!({ "id": "a", "first": 20.0 }));
        assert_eq!(find(&shapes, Some("List"), &float), None);
    }

    #[test]
    fn equal_keys_are_still_compared_in_full() {
        let shapes = Shapes::default();
        let v = vars(serde_json::json!({ "id": "a" }));
        let w = vars(serde_json::json!({ "id": "b" }));
        // A key that matches `v`'s but variables that do not.
        shapes.remember(key(&v), None, w.clone(), 7);
        assert_eq!(shapes.complexity(key(&v), None, &v), None);
        assert_eq!(shapes.complexity(key(&v), None, &w), Some(7));
    }

    #[test]
    fn keys_follow_the_values() {
        let a = vars(serde_json::json!({ "l": [1, 2], "o": { "x": "y" }, "e": null, "b": true }));
        assert_eq!(ShapeKey::of(&a), ShapeKey::of(&a.clone()));
        for other in [
            serde_json::json!({ "l": [2, 1], "o": { "x": "y" }, "e": null, "b": true }),
            serde_json::json!({ "l": [1, 2], "o": { "x": "z" }, "e": null, "b": true }),
            serde_json::json!({ "l": [1, 2], "o": { "x": "y" }, "e": false, "b": true }),
            serde_json::json!({ "l": [1, 2], "o": { "x": "y" }, "e": null, "b": false }),
            serde_json::json!({ "l": [1, 2, 3], "o": { "x": "y" }, "e": null, "b": true }),
        ] {
            assert_ne!(
                ShapeKey::of(&a),
                ShapeKey::of(&vars(other.clone())),
                "{other}"
            );
        }
    }

    #[test]
    fn only_the_most_recent_shapes_are_kept() {
        let shapes = Shapes::default();
        let v = |i: usize| vars(serde_json::json!({ "first": i }));
        for i in 0..=PER_DOCUMENT {
            shapes.remember(key(&v(i)), None, v(i), i);
        }
        assert_eq!(find(&shapes, None, &v(0)), None, "the oldest went");
        for i in 1..=PER_DOCUMENT {
            assert_eq!(find(&shapes, None, &v(i)), Some(i));
        }
        // Remembering a kept shape again does not push another out.
        shapes.remember(key(&v(3)), None, v(3), 3);
        assert_eq!(find(&shapes, None, &v(1)), Some(1));
    }

    #[test]
    fn heavy_variables_have_no_key() {
        let heavy = vars(serde_json::json!({ "t": "x".repeat(MAX_VARIABLES_WEIGHT) }));
        assert_eq!(ShapeKey::of(&heavy), None);
        // Many small values add up, nested ones too.
        let many: Vec<usize> = (0..MAX_VARIABLES_WEIGHT / 8 + 1).collect();
        assert_eq!(ShapeKey::of(&vars(serde_json::json!({ "l": many }))), None);
        let nested =
            serde_json::json!({ "a": { "b": [{ "c": "x".repeat(MAX_VARIABLES_WEIGHT) }] } });
        assert_eq!(ShapeKey::of(&vars(nested)), None);
        // A long variable name counts as well.
        let mut named = Variables::default();
        named.insert(Name::new("n".repeat(MAX_VARIABLES_WEIGHT + 1)), Value::Null);
        assert_eq!(ShapeKey::of(&named), None);
        // Everyday variables have one.
        let light = vars(
            serde_json::json!({ "id": "9b2f7c1e-0000-4000-8000-000000000000", "first": 20, "done": false }),
        );
        assert!(ShapeKey::of(&light).is_some());
        assert!(ShapeKey::of(&Variables::default()).is_some());
    }
}
