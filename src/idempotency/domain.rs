//! Parsed idempotency values: the key (1–255 printable ASCII characters),
//! the scope it lives in, the transport it was first used on and the
//! fingerprint of the operation it names. Parse once at the edge.

use std::net::IpAddr;

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The longest key.
pub const MAX_KEY_LEN: usize = 255;

/// A client's idempotency key: 1–255 printable ASCII characters
/// (0x20–0x7E).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a key; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("the idempotency key is empty".into());
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(format!(
                "the idempotency key is longer than {MAX_KEY_LEN} characters"
            ));
        }
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err("the idempotency key must be printable ASCII characters".into());
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whose key space a key is in: one per user across HTTP and WebSocket,
/// or the client address for signed-out requests (register, login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// A signed-in user.
    User(Uuid),
    /// A signed-out client, by address.
    Addr(IpAddr),
}

impl std::fmt::Display for KeyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::Addr(ip) => write!(f, "addr:{ip}"),
        }
    }
}

/// Where a key was first used: a replay over HTTP keeps the stored status
/// and media type only when it was first used over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `POST /graphql` (one operation or a batch element).
    Http,
    /// A WebSocket `subscribe`.
    Ws,
    /// The REST facade.
    Rest,
}

impl Transport {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Ws => "ws",
            Self::Rest => "rest",
        }
    }

    /// The transport named `s` (unknown names read as WebSocket, which
    /// replays as 200).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "http" => Self::Http,
            "rest" => Self::Rest,
            _ => Self::Ws,
        }
    }
}

/// SHA-256 of the canonical form of an operation: what "the same body"
/// means for a repeated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// A GraphQL operation: its query text, operation name and variables —
    /// not the transport's framing (extensions, HTTP headers, a WebSocket
    /// message id). Absent, null and empty variables are the same; object
    /// keys are sorted (`serde_json`'s map is ordered), so the order a
    /// client wrote them in does not matter.
    pub fn graphql(query: &str, operation_name: Option<&str>, variables: Option<&Value>) -> Self {
        let variables = match variables {
            Some(Value::Object(map)) if !map.is_empty() => Value::Object(map.clone()),
            _ => Value::Null,
        };
        let canonical = Value::Array(vec![
            Value::String("graphql".into()),
            Value::String(query.to_owned()),
            operation_name.map_or(Value::Null, |n| Value::String(n.to_owned())),
            variables,
        ]);
        Self::of(canonical.to_string().as_bytes())
    }

    /// A REST call: method, path (with its query string) and body bytes.
    pub fn rest(method: &str, path: &str, body: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(method.len() + path.len() + body.len() + 8);
        bytes.extend_from_slice(b"rest\n");
        bytes.extend_from_slice(method.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(path.as_bytes());
        bytes.push(b'\n');
        bytes.extend_from_slice(body);
        Self::of(&bytes)
    }

    fn of(bytes: &[u8]) -> Self {
        let mut out = [0; 32];
        out.copy_from_slice(&Sha256::digest(bytes));
        Self(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys() {
        for good in [
            "a",
            "550e8400-e29b-41d4-a716-446655440000",
            " ~!",
            &"k".repeat(255),
        ] {
            assert!(IdempotencyKey::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            &"k".repeat(256),
            "a\nb",
            "tab\t",
            "é",
            "del\u{7f}",
            "nul\0",
        ] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(IdempotencyKey::parse("k-1").unwrap().as_ref(), "k-1");
    }

    #[test]
    fn scopes() {
        let id = Uuid::nil();
        assert_eq!(
            KeyScope::User(id).to_string(),
            "user:00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            KeyScope::Addr("10.0.0.1".parse().unwrap()).to_string(),
            "addr:10.0.0.1"
        );
    }

    #[test]
    fn fingerprints_ignore_framing_not_content() {
        let q = "mutation($t: String!) { a(t: $t) }";
        let base = Fingerprint::graphql(q, None, Some(&json!({"t": "x", "u": 1})));
        // Key order and null/absent/empty variables do not matter.
        assert_eq!(
            base,
            Fingerprint::graphql(q, None, Some(&json!({"u": 1, "t": "x"})))
        );
        assert_eq!(
            Fingerprint::graphql(q, None, None),
            Fingerprint::graphql(q, None, Some(&json!({})))
        );
        assert_eq!(
            Fingerprint::graphql(q, None, None),
            Fingerprint::graphql(q, None, Some(&Value::Null))
        );
        // Anything the operation is made of does.
        assert_ne!(
            base,
            Fingerprint::graphql(q, None, Some(&json!({"t": "y", "u": 1})))
        );
        assert_ne!(
            base,
            Fingerprint::graphql(q, Some("A"), Some(&json!({"t": "x", "u": 1})))
        );
        assert_ne!(base, Fingerprint::graphql("mutation { b }", None, None));
        assert_ne!(
            Fingerprint::rest("POST", "/todos", b"{}"),
            Fingerprint::rest("PATCH", "/todos", b"{}")
        );
        assert_ne!(
            Fingerprint::rest("POST", "/todos", b"{}"),
            Fingerprint::rest("POST", "/todos", b"{ }")
        );
    }

    #[test]
    fn transports_round_trip() {
        for t in [Transport::Http, Transport::Ws, Transport::Rest] {
            assert_eq!(Transport::from_stored(t.as_str()), t);
        }
    }
}
