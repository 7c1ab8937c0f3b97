//! The GraphQL-over-HTTP request body as the gateway admits it: the JSON
//! parameters turned into a request (refusing what the spec calls "not a
//! GraphQL request"), its idempotency key, its persisted-query hash and
//! the operation type the document names.

use async_graphql::{
    Request, Variables,
    parser::types::{DocumentOperations, OperationType},
};
use serde_json::{Map, Value};

/// The idempotency key of a request: the HTTP header, or
/// `extensions.idempotencyKey` (a string); both must agree.
pub(super) fn raw_key(params: &Value, header: Option<&str>) -> Result<Option<String>, String> {
    let extension = match params
        .get("extensions")
        .and_then(|e| e.get("idempotencyKey"))
    {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) => Some(key.as_str()),
        Some(_) => return Err("`extensions.idempotencyKey` must be a string".into()),
    };
    match (header, extension) {
        (Some(h), Some(e)) if h != e => {
            Err("the Idempotency-Key header and `extensions.idempotencyKey` differ".into())
        }
        (Some(key), _) | (None, Some(key)) => Ok(Some(key.to_owned())),
        (None, None) => Ok(None),
    }
}

/// The operation a request will run, when the document says unambiguously.
pub(super) fn operation_type(request: &mut Request) -> Option<OperationType> {
    let name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    match (&doc.operations, name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

/// Turns the JSON parameters into a GraphQL request, refusing the shapes the
/// spec calls "not a GraphQL request". `query` may be absent only when the
/// request names a persisted query.
pub fn parse_request(body: Value) -> Result<Request, String> {
    let Value::Object(mut map) = body else {
        return Err("the request must be a JSON object".into());
    };
    let extensions = match map.remove("extensions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(ext)) => ext,
        Some(_) => return Err("`extensions` must be an object".into()),
    };
    let query = match map.remove("query") {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None if extensions.contains_key("persistedQuery") => String::new(),
        None => return Err("`query` is required".into()),
    };
    let mut request = Request::new(query);
    match map.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string".into()),
    }
    match map.remove("variables") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => request = request.variables(Variables::from_json(v)),
        Some(_) => return Err("`variables` must be an object".into()),
    }
    for (k, v) in extensions {
        if let Ok(v) = async_graphql::Value::from_json(v) {
            request.extensions.insert(k, v);
        }
    }
    Ok(request)
}

/// Apollo's APQ extension: the lower-case hash it names, or why it is
/// malformed; `None` without the extension.
pub(super) fn persisted_query(request: &Request) -> Option<Result<String, String>> {
    let pq = request.extensions.get("persistedQuery")?;
    let async_graphql::Value::Object(pq) = pq else {
        return Some(Err("`extensions.persistedQuery` must be an object".into()));
    };
    let version = pq.get("version").and_then(|v| match v {
        async_graphql::Value::Number(n) => n.as_i64(),
        _ => None,
    });
    if version != Some(1) {
        return Some(Err("Unsupported persisted query version".into()));
    }
    match pq.get("sha256Hash") {
        Some(async_graphql::Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Some(Ok(hash.to_ascii_lowercase()))
        }
        _ => Some(Err("`sha256Hash` must be a hex SHA-256".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::graphql::admission::request::*;

    #[test]
    fn request_shapes() {
        assert!(parse_request(json!({"query": "{a}"})).is_ok());
        assert!(
            parse_request(json!({"query": "{a}", "operationName": null, "variables": null, "extensions": null, "unknown": 1}))
                .is_ok()
        );
        for bad in [
            json!([]),
            json!("q"),
            json!({}),
            json!({"qeury": "{a}"}),
            json!({"query": 1}),
            json!({"query": "{a}", "variables": "x"}),
            json!({"query": "{a}", "variables": []}),
            json!({"query": "{a}", "operationName": 1}),
            json!({"query": "{a}", "extensions": "x"}),
        ] {
            assert!(parse_request(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_from_header_or_extension() {
        let params = |ext: Value| json!({"query": "mutation { a }", "extensions": ext});
        assert_eq!(raw_key(&params(json!({})), None), Ok(None));
        assert_eq!(
            raw_key(&params(json!({"idempotencyKey": "k"})), None),
            Ok(Some("k".into()))
        );
        assert_eq!(
            raw_key(&params(Value::Null), Some("h")),
            Ok(Some("h".into()))
        );
        assert_eq!(
            raw_key(&params(json!({"idempotencyKey": "h"})), Some("h")),
            Ok(Some("h".into()))
        );
        assert!(raw_key(&params(json!({"idempotencyKey": "k"})), Some("h")).is_err());
        assert!(raw_key(&params(json!({"idempotencyKey": 5})), None).is_err());
    }

    #[test]
    fn operation_types() {
        let op = |q: &str, name: Option<&str>| {
            let mut r = Request::new(q);
            if let Some(name) = name {
                r = r.operation_name(name);
            }
            operation_type(&mut r)
        };
        assert_eq!(op("{ a }", None), Some(OperationType::Query));
        assert_eq!(op("mutation { a }", None), Some(OperationType::Mutation));
        assert_eq!(
            op("query A { a } subscription B { b }", Some("B")),
            Some(OperationType::Subscription)
        );
        assert_eq!(op("query A { a } mutation B { b }", None), None);
        assert_eq!(op("{", None), None);
    }

    #[test]
    fn persisted_query_extension() {
        let with = |ext: Value| {
            let mut r = Request::new("");
            r.extensions.insert(
                "persistedQuery".into(),
                async_graphql::Value::from_json(ext).unwrap(),
            );
            persisted_query(&r)
        };
        let hash = "A".repeat(64);
        assert_eq!(
            with(json!({"version": 1, "sha256Hash": hash})),
            Some(Ok("a".repeat(64)))
        );
        assert!(matches!(
            with(json!({"version": 2, "sha256Hash": hash})),
            Some(Err(_))
        ));
        assert!(matches!(
            with(json!({"version": 1, "sha256Hash": "x"})),
            Some(Err(_))
        ));
        assert!(persisted_query(&Request::new("{a}")).is_none());
    }
}
