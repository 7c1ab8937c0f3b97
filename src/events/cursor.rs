//! Opaque event cursors: a user's event sequence number, base64url-encoded
//! with a version tag.

use base64::Engine;

use super::EventError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes a sequence number.
pub fn encode(seq: i64) -> String {
    B64.encode(format!("ev1:{seq}"))
}

/// Decodes a cursor into its sequence number.
pub fn decode(raw: &str) -> Result<i64, EventError> {
    let bytes = B64
        .decode(raw.trim())
        .map_err(|_| EventError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| EventError::InvalidCursor)?;
    text.strip_prefix("ev1:")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or(EventError::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        for seq in [0, 1, 42, i64::MAX] {
            assert_eq!(decode(&encode(seq)).unwrap(), seq);
        }
        for bad in [
            "",
            "???",
            &B64.encode("ev1:-1"),
            &B64.encode("ev2:1"),
            &B64.encode("ev1:x"),
        ] {
            assert!(
                matches!(decode(bad), Err(EventError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
