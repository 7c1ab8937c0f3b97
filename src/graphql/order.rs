//! Response objects in the order of their selection set.
//!
//! The GraphQL spec (Response → Serialization Format, "Serialized Map
//! Ordering") asks that each object of a response list its keys in the
//! order the selection set gives them: the order in which `CollectFields`
//! meets them, fragments expanded in place. async-graphql 7.2 resolves a
//! query's fields concurrently and adds each to its object as it
//! completes, so a field that waits (a DataLoader, a count query) ends up
//! after faster ones. This module puts every object of a finished
//! response back into selection order (from the schema's extension,
//! [`super::pipeline`]): the result of a query or mutation,
//! and each subscription event. (The transports then write the response
//! straight to JSON, which keeps that order.)
//!
//! The library hands the parsed document to no hook after parsing, so
//! this keeps its own copy of it, with the variables (for `@skip` and
//! `@include`). A fragment's type condition needs no evaluating: the schema
//! has no interfaces or unions, so a valid fragment always applies to the
//! object it is spread in.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use async_graphql::{
    Name, Positioned, Response, Value, Variables,
    indexmap::IndexMap,
    parser::types::{
        Directive, DocumentOperations, ExecutableDocument, OperationDefinition, Selection,
        SelectionSet,
    },
};

/// One parsed document.
struct Parsed {
    document: Arc<ExecutableDocument>,
    variables: Variables,
}

/// One request's ordering; the schema's extension ([`super::pipeline`])
/// calls it from its hooks.
#[derive(Default)]
pub(crate) struct SelectionOrder {
    parsed: Mutex<Option<Arc<Parsed>>>,
}

impl SelectionOrder {
    /// Keeps the parsed document (shared with the document cache) and the
    /// variables.
    pub(crate) fn parsed(&self, document: Arc<ExecutableDocument>, variables: &Variables) {
        if let Ok(mut parsed) = self.parsed.lock() {
            *parsed = Some(Arc::new(Parsed {
                document,
                variables: variables.clone(),
            }));
        }
    }

    /// Orders the executed operation's result.
    pub(crate) fn executed(&self, response: &mut Response, operation_name: Option<&str>) {
        let parsed = self.parsed.lock().ok().and_then(|p| p.clone());
        if let Some(parsed) = parsed {
            reorder(
                &mut response.data,
                &parsed.document,
                operation_name,
                &parsed.variables,
            );
        }
    }
}

/// The operation `name` selects in `document` (as execution picks it).
fn operation<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    }
}

/// Puts every object in `data` (the result of the operation `name` of
/// `document`) in the order of its selection set.
pub fn reorder(
    data: &mut Value,
    document: &ExecutableDocument,
    name: Option<&str>,
    variables: &Variables,
) {
    let Some(operation) = operation(document, name) else {
        return;
    };
    let walk = Walk {
        document,
        operation: &operation.node,
        variables,
    };
    walk.descend(data, &[&operation.node.selection_set.node]);
}

/// Whether `value`, the value of fields with the selection sets `sets`,
/// has keys to order: an object (or a list of them) selected with fields.
fn has_order(value: &Value, sets: &[&SelectionSet]) -> bool {
    matches!(value, Value::Object(_) | Value::List(_))
        && sets.iter().any(|set| !set.items.is_empty())
}

/// Response keys in selection order, each with the selection sets of the
/// fields merged under it.
type Fields<'d> = IndexMap<&'d str, Vec<&'d SelectionSet>>;

struct Walk<'d> {
    document: &'d ExecutableDocument,
    operation: &'d OperationDefinition,
    variables: &'d Variables,
}

impl<'d> Walk<'d> {
    /// Orders `value`, the value of fields with the selection sets `sets`.
    fn descend(&self, value: &mut Value, sets: &[&'d SelectionSet]) {
        if has_order(value, sets) {
            let fields = self.collect(sets);
            self.apply(value, &fields);
        }
    }

    /// Orders an object (or every object of a list) by `fields`, then its
    /// children by theirs.
    fn apply(&self, value: &mut Value, fields: &Fields<'d>) {
        // The children's fields by the index of their key in `fields`,
        // collected once for all the objects of a list (the 20 nodes of a
        // page share their `owner`'s).
        let mut children = Vec::new();
        self.apply_with(value, fields, &mut children);
    }

    fn apply_with(
        &self,
        value: &mut Value,
        fields: &Fields<'d>,
        children: &mut Vec<Option<Fields<'d>>>,
    ) {
        match value {
            Value::Object(object) => {
                // Most objects come out in order already (only a field that
                // waits moves): comparing the keys pairwise settles that
                // without hashing any (hashing every key twice was 4 % of a
                // list request's instructions).
                let aligned = object.len() == fields.len()
                    && object
                        .keys()
                        .zip(fields.keys())
                        .all(|(key, field)| key.as_str() == *field);
                if !aligned {
                    let rank = |key: &Name| fields.get_index_of(key.as_str()).unwrap_or(usize::MAX);
                    if !object.keys().map(rank).is_sorted() {
                        object.sort_by_cached_key(|key, _| rank(key));
                    }
                }
                for (at, (key, child)) in object.iter_mut().enumerate() {
                    let found = if aligned {
                        fields.get_index(at).map(|(_, sets)| (at, sets))
                    } else {
                        fields
                            .get_full(key.as_str())
                            .map(|(index, _, sets)| (index, sets))
                    };
                    let Some((index, sets)) = found else {
                        continue;
                    };
                    if has_order(child, sets) {
                        if children.len() <= index {
                            children.resize_with(index + 1, || None);
                        }
                        let child_fields =
                            children[index].get_or_insert_with(|| self.collect(sets));
                        self.apply(child, child_fields);
                    }
                }
            }
            Value::List(items) => {
                for item in items {
                    self.apply_with(item, fields, children);
                }
            }
            _ => {}
        }
    }

    /// `CollectFields` over `sets`: response keys in the order first met.
    fn collect(&self, sets: &[&'d SelectionSet]) -> Fields<'d> {
        let mut fields = Fields::default();
        let mut visited = HashSet::new();
        for set in sets {
            self.collect_into(set, &mut fields, &mut visited);
        }
        fields
    }

    fn collect_into(
        &self,
        set: &'d SelectionSet,
        fields: &mut Fields<'d>,
        visited: &mut HashSet<&'d str>,
    ) {
        for selection in &set.items {
            if !self.included(selection.node.directives()) {
                continue;
            }
            match &selection.node {
                Selection::Field(field) => fields
                    .entry(field.node.response_key().node.as_str())
                    .or_default()
                    .push(&field.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if visited.insert(name.as_str())
                        && let Some(fragment) = self.document.fragments.get(name)
                    {
                        self.collect_into(&fragment.node.selection_set.node, fields, visited);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.collect_into(&fragment.node.selection_set.node, fields, visited);
                }
            }
        }
    }

    /// Whether `@skip` / `@include` keep a selection.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives
            .iter()
            .all(|directive| match directive.node.name.node.as_str() {
                "skip" => self.condition(&directive.node) != Some(true),
                "include" => self.condition(&directive.node) != Some(false),
                _ => true,
            })
    }

    /// The `if:` of a directive, from a literal or a variable (or its
    /// default); `None` when it cannot be known (execution would have
    /// failed: then nothing is lost by keeping the field's place).
    fn condition(&self, directive: &Directive) -> Option<bool> {
        let value = directive
            .get_argument("if")?
            .node
            .clone()
            .into_const_with(|name| self.variable(&name).cloned().ok_or(()))
            .ok()?;
        match value {
            Value::Boolean(b) => Some(b),
            _ => None,
        }
    }

    /// A variable's value as sent, or its declared default.
    fn variable(&self, name: &Name) -> Option<&'d Value> {
        self.variables.get(name).or_else(|| {
            self.operation
                .variable_definitions
                .iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value())
        })
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::*;

    /// Runs `reorder` on `data` (whose keys `from_json` sorts) and returns
    /// the JSON text.
    fn ordered(
        query: &str,
        name: Option<&str>,
        variables: serde_json::Value,
        data: serde_json::Value,
    ) -> String {
        let document = parse_query(query).unwrap();
        let mut data = Value::from_json(data).unwrap();
        reorder(&mut data, &document, name, &Variables::from_json(variables));
        serde_json::to_string(&data).unwrap()
    }

    #[test]
    fn nested_objects_and_lists_follow_the_selection() {
        let text = ordered(
            "{ me { todoCounts { total completed active } email id } todos { nodes { title id } } }",
            None,
            json!({}),
            json!({
                "todos": { "nodes": [{ "id": "1", "title": "a" }, { "id": "2", "title": "b" }] },
                "me": { "email": "e", "id": "i", "todoCounts": { "active": 1, "completed": 0, "total": 1 } },
            }),
        );
        assert_eq!(
            text,
            r#"{"me":{"todoCounts":{"total":1,"completed":0,"active":1},"email":"e","id":"i"},"todos":{"nodes":[{"title":"a","id":"1"},{"title":"b","id":"2"}]}}"#
        );
    }

    #[test]
    fn fragments_aliases_and_merged_fields_take_their_first_place() {
        let text = ordered(
            "query Q { me { ...F b: id ... { email } } } query Other { me { id } }
             fragment F on User { displayName me2: email me: id }",
            Some("Q"),
            json!({}),
            json!({ "me": { "b": "i", "displayName": "d", "email": "e", "me": "i", "me2": "e" } }),
        );
        assert_eq!(
            text,
            r#"{"me":{"displayName":"d","me2":"e","me":"i","b":"i","email":"e"}}"#
        );
    }

    #[test]
    fn skipped_selections_take_no_place() {
        // `a` is skipped where it first appears, so it comes after `b`.
        let query = "query($skip: Boolean!, $keep: Boolean = false) {
            x { a @skip(if: $skip) b a @include(if: true) c @include(if: $keep) } }";
        let text = ordered(
            query,
            None,
            json!({ "skip": true }),
            json!({ "x": { "a": 1, "b": 2 } }),
        );
        assert_eq!(text, r#"{"x":{"b":2,"a":1}}"#);
    }

    #[test]
    fn unknown_operations_and_scalars_are_left_alone() {
        let text = ordered(
            "query A { b a } query B { a b }",
            None,
            json!({}),
            json!({ "b": 1, "a": 2 }),
        );
        assert_eq!(text, r#"{"a":2,"b":1}"#, "no operation chosen: unchanged");
        let text = ordered("{ a }", None, json!({}), json!(null));
        assert_eq!(text, "null");
    }
}
