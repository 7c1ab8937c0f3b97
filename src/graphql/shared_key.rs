//! Which subscriptions may share one execution ([`super::shared`]), and
//! under which key.
//!
//! A subscription's results depend on exactly these, checked against every
//! resolver reachable from the subscription roots (`events::graphql`,
//! `graphql::changes`, `graphql::objects`, `graphql::lists`):
//! - the viewer: the feed read, `viewer()` (the default list of plain
//!   `todoEvents`), `load_user`, and the list DataLoaders keyed by
//!   (viewer, list) — so the user id is in the key, and each user's
//!   access (a revoked list membership included) is their own feed's;
//! - the document, the operation name and the variables — in the key;
//! - the resume cursor `after`: a subscription with one replays from it,
//!   which a run already going cannot do for a newcomer, so only
//!   subscriptions whose `after` is absent or null are shared.
//!
//! Nothing else of the request is read by those resolvers: not the
//! client's address (`client_ip`: auth mutations only), not the token's
//! other claims (only `sub`; the token's expiry ends each socket on its
//! own, `http::ws`), not the idempotency key (ignored for subscriptions).
//! Only the root fields known to report where their feed starts
//! (`todoEvents`, `changes`) are shared; anything else runs privately.

use async_graphql::{
    Pos, Value as ConstValue,
    parser::{
        parse_query,
        types::{DocumentOperations, OperationType, Selection},
    },
};
use serde_json::Value;
use uuid::Uuid;

/// The root fields that may be shared.
const SHAREABLE_ROOTS: [&str; 2] = ["todoEvents", "changes"];

/// What makes two subscriptions the same run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunKey {
    user: Uuid,
    query: String,
    operation_name: Option<String>,
    /// The variables as canonical JSON (object keys sorted).
    variables: String,
}

impl RunKey {
    /// The operation name, as the request gave it.
    pub fn operation_name(&self) -> Option<&str> {
        self.operation_name.as_deref()
    }
}

/// A subscription that may share a run.
#[derive(Debug, Clone)]
pub struct Shareable {
    /// Its run's key.
    pub key: RunKey,
    /// The root field's response key (alias or name), the path of an
    /// error a subscriber gets on its own (`SLOW_CONSUMER`).
    pub root: String,
    /// Where the root field is in the document.
    pub pos: Pos,
}

/// The shareable subscription `params` (a request's JSON parameters) of
/// `user`, or `None` when it must run privately (not a subscription, a
/// resume cursor, a persisted query sent by hash only, a fragment at the
/// root, …). Cheap for everything else: only documents that mention
/// `subscription` are parsed.
pub fn shareable(user: Uuid, params: &Value) -> Option<Shareable> {
    let query = params.get("query")?.as_str()?;
    if !query.contains("subscription") {
        return None;
    }
    let operation_name = match params.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return None,
    };
    let variables = match params.get("variables") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return None,
    };
    let document = parse_query(query).ok()?;
    let operation = match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    let operation = &operation.node;
    if operation.ty != OperationType::Subscription || !operation.directives.is_empty() {
        return None;
    }
    let [item] = operation.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &item.node else {
        return None;
    };
    let node = &field.node;
    if !SHAREABLE_ROOTS.contains(&node.name.node.as_str()) || !node.directives.is_empty() {
        return None;
    }
    // A cursor makes the run replay from it: private. A variable counts
    // with its value, or else its default.
    let resolve = |name: async_graphql::Name| -> Result<ConstValue, ()> {
        if variables.get(name.as_str()).is_some_and(|v| !v.is_null()) {
            return Ok(ConstValue::Boolean(true));
        }
        Ok(operation
            .variable_definitions
            .iter()
            .find(|d| d.node.name.node == name)
            .and_then(|d| d.node.default_value.as_ref())
            .map_or(ConstValue::Null, |v| v.node.clone()))
    };
    for (name, value) in &node.arguments {
        if name.node == "after"
            && value.node.clone().into_const_with(resolve) != Ok(ConstValue::Null)
        {
            return None;
        }
    }
    let mut canonical = String::new();
    write_canonical(&Value::Object(variables), &mut canonical);
    Some(Shareable {
        key: RunKey {
            user,
            query: query.to_owned(),
            operation_name,
            variables: canonical,
        },
        root: node.response_key().node.to_string(),
        pos: field.pos,
    })
}

/// JSON with object keys sorted, so equal variables give equal keys
/// whatever order the client wrote them in.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EVENTS: &str = "subscription($after: String) { todoEvents(after: $after) { cursor } }";

    fn key(params: Value) -> Option<RunKey> {
        shareable(Uuid::nil(), &params).map(|s| s.key)
    }

    #[test]
    fn only_subscriptions_without_a_cursor_are_shared() {
        assert!(key(json!({ "query": EVENTS })).is_some());
        assert!(key(json!({ "query": EVENTS, "variables": { "after": null } })).is_some());
        assert!(key(json!({ "query": EVENTS, "variables": { "after": "x" } })).is_none());
        assert!(
            key(json!({ "query": "subscription { changes(after: \"x\") { cursor } }" })).is_none()
        );
        assert!(
            key(json!({ "query": "subscription { changes(after: null) { cursor } }" })).is_some()
        );
        let defaulted = "subscription($a: String = \"x\") { changes(after: $a) { cursor } }";
        assert!(key(json!({ "query": defaulted })).is_none());
        assert!(key(json!({ "query": "{ me { id } }" })).is_none());
        assert!(key(json!({ "query": "query subscription { me { id } }" })).is_none());
        assert!(key(json!({ "extensions": { "persistedQuery": {} } })).is_none());
        let fragment = "subscription { ...F } fragment F on Subscription { changes { cursor } }";
        assert!(key(json!({ "query": fragment })).is_none());
        assert!(key(json!({ "query": "subscription { __typename }" })).is_none());
        assert!(key(json!({ "query": "subscription {" })).is_none());
    }

    #[test]
    fn keys_tell_viewers_documents_names_and_variables_apart() {
        let base =
            key(json!({ "query": EVENTS, "variables": { "a": 1, "b": [2, {"d": 1, "c": 0}] } }));
        let same =
            key(json!({ "query": EVENTS, "variables": { "b": [2, {"c": 0, "d": 1}], "a": 1 } }));
        assert_eq!(base, same, "the order of keys does not matter");
        let other =
            key(json!({ "query": EVENTS, "variables": { "a": 2, "b": [2, {"c": 0, "d": 1}] } }));
        assert_ne!(base, other);
        let all = "subscription { todoEvents(allLists: true) { cursor } }";
        assert_ne!(
            key(json!({ "query": all })),
            key(json!({ "query": EVENTS }))
        );
        assert_eq!(
            key(json!({ "query": EVENTS, "variables": {} })),
            key(json!({ "query": EVENTS, "variables": null })),
        );
        let user = shareable(Uuid::now_v7(), &json!({ "query": EVENTS })).map(|s| s.key);
        assert_ne!(user, key(json!({ "query": EVENTS })));
        let named =
            "subscription A { changes { cursor } } subscription B { todoEvents { cursor } }";
        let a = shareable(
            Uuid::nil(),
            &json!({ "query": named, "operationName": "A" }),
        )
        .unwrap();
        let b = shareable(
            Uuid::nil(),
            &json!({ "query": named, "operationName": "B" }),
        )
        .unwrap();
        assert_ne!(a.key, b.key);
        assert_eq!(
            (a.root.as_str(), b.root.as_str()),
            ("changes", "todoEvents")
        );
        assert!(
            key(json!({ "query": named })).is_none(),
            "ambiguous without a name"
        );
        let aliased = shareable(
            Uuid::nil(),
            &json!({ "query": "subscription { e: changes { cursor } }" }),
        )
        .unwrap();
        assert_eq!(aliased.root, "e");
    }
}
