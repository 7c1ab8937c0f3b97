//! Marking a stored GraphQL result as replayed, where the transport has no
//! header for it (a WebSocket `next`, a batch element): the result gets
//! `extensions.idempotentReplayed: true`, every other member kept byte for
//! byte and in its order.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Value, value::RawValue};

/// The members of a JSON object, in order, values unparsed.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `body` (a GraphQL result) with `extensions.idempotentReplayed: true`;
/// a body that is not a JSON object is returned as it is.
pub fn mark_replayed(body: &[u8]) -> Vec<u8> {
    let Ok(Members(members)) = serde_json::from_slice::<Members>(body) else {
        return body.to_vec();
    };
    let mut out = Vec::with_capacity(body.len() + 40);
    out.push(b'{');
    let mut marked = false;
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(Value::String(name.clone()).to_string().as_bytes());
        out.push(b':');
        if name == "extensions" {
            let mut ext: serde_json::Map<String, Value> =
                serde_json::from_str(value.get()).unwrap_or_default();
            ext.insert("idempotentReplayed".into(), Value::Bool(true));
            out.extend_from_slice(Value::Object(ext).to_string().as_bytes());
            marked = true;
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    if !marked {
        if !members.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(br#""extensions":{"idempotentReplayed":true}"#);
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(body: &str) -> String {
        String::from_utf8(mark_replayed(body.as_bytes())).unwrap()
    }

    #[test]
    fn adds_the_flag_keeping_the_rest() {
        assert_eq!(
            marked(r#"{"data":{"b":1,"a":[1.50,"x"]}}"#),
            r#"{"data":{"b":1,"a":[1.50,"x"]},"extensions":{"idempotentReplayed":true}}"#
        );
        assert_eq!(
            marked(r#"{"data":null,"errors":[{"message":"m"}]}"#),
            r#"{"data":null,"errors":[{"message":"m"}],"extensions":{"idempotentReplayed":true}}"#
        );
        assert_eq!(
            marked(r#"{"data":{"z":1},"extensions":{"cost":3},"errors":[]}"#),
            r#"{"data":{"z":1},"extensions":{"cost":3,"idempotentReplayed":true},"errors":[]}"#
        );
        assert_eq!(
            marked("{}"),
            r#"{"extensions":{"idempotentReplayed":true}}"#
        );
        assert_eq!(marked("[1]"), "[1]");
        assert_eq!(marked("not json"), "not json");
    }
}
