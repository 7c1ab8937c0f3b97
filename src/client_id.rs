//! Ids chosen by clients: an offline client creates a todo or a list under
//! an id it made itself, so that it can refer to the object (and retry the
//! creation) before the server has answered. Pure: no I/O.
//!
//! Only random (version 4) and time-ordered (version 7) UUIDs of the RFC
//! 9562 variant are accepted: both are made from at least 74 random bits,
//! so two clients do not pick the same id by chance. Versions 1 and 6
//! embed a MAC address or a clock sequence a client may share, 3 and 5 are
//! hashes of names anyone can recompute, 8 is free-form, and the nil and
//! max UUIDs are placeholders: taking any of them would invite collisions
//! with other users' ids.
//!
//! A leaf module: todos and lists both parse their ids with it.

use uuid::{Uuid, Variant};

/// Why a client-chosen id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    /// Not a UUID in its hyphenated form (`8-4-4-4-12` hex digits).
    #[error("must be a UUID in hyphenated form")]
    Malformed,
    /// A UUID, but not one of version 4 or 7 with the RFC 9562 variant.
    #[error("must be a UUID of version 4 or 7 (RFC 9562)")]
    Version,
}

/// Parses a client-chosen id: a hyphenated UUID (either case), version 4
/// or 7, RFC 9562 variant.
pub fn parse(raw: &str) -> Result<Uuid, ClientIdError> {
    // The hyphenated form only: the API shows ids that way, and one
    // spelling per id keeps a retry recognisable in logs and stores.
    if raw.len() != 36 {
        return Err(ClientIdError::Malformed);
    }
    let id = Uuid::try_parse(raw).map_err(|_| ClientIdError::Malformed)?;
    match (id.get_version_num(), id.get_variant()) {
        (4 | 7, Variant::RFC4122) => Ok(id),
        _ => Err(ClientIdError::Version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_4_and_7_are_accepted() {
        for raw in [
            "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "F47AC10B-58CC-4372-A567-0E02B2C3D479",
            "0190f8a4-3c1e-7b2a-9c4d-5e6f7a8b9c0d",
            "0190f8a4-3c1e-7b2a-bc4d-5e6f7a8b9c0d",
        ] {
            assert_eq!(parse(raw).unwrap(), Uuid::try_parse(raw).unwrap(), "{raw}");
        }
        let fresh = Uuid::new_v4().to_string();
        assert!(parse(&fresh).is_ok());
        let fresh = Uuid::now_v7().to_string();
        assert!(parse(&fresh).is_ok());
    }

    #[test]
    fn other_versions_nil_and_max_are_refused() {
        for raw in [
            "00000000-0000-0000-0000-000000000000", // nil
            "ffffffff-ffff-ffff-ffff-ffffffffffff", // max
            "c232ab00-9414-11ec-b3c8-9f6bdeced846", // v1
            "5df41881-3aed-3515-88a7-2f4a814cf09e", // v3
            "2ed6657d-e927-568b-95e1-2665a8aea6a2", // v5
            "1ec9414c-232a-6b00-b3c8-9f6bdeced846", // v6
            "320c3d4d-cc00-875b-8ec9-32d5f69181c0", // v8
            "f47ac10b-58cc-0372-a567-0e02b2c3d479", // version 0
            "f47ac10b-58cc-9372-a567-0e02b2c3d479", // version 9
        ] {
            assert_eq!(parse(raw), Err(ClientIdError::Version), "{raw}");
        }
    }

    #[test]
    fn version_4_or_7_with_another_variant_is_refused() {
        for raw in [
            "f47ac10b-58cc-4372-0567-0e02b2c3d479", // NCS (0xxx)
            "f47ac10b-58cc-4372-c567-0e02b2c3d479", // Microsoft (110x)
            "0190f8a4-3c1e-7b2a-ec4d-5e6f7a8b9c0d", // future (111x)
            "0190f8a4-3c1e-7b2a-7c4d-5e6f7a8b9c0d", // NCS
        ] {
            assert_eq!(parse(raw), Err(ClientIdError::Version), "{raw}");
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [
            "",
            "42",
            "f47ac10b58cc4372a5670e02b2c3d479",
            "{f47ac10b-58cc-4372-a567-0e02b2c3d479}",
            "urn:uuid:f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "f47ac10b-58cc-4372-a567-0e02b2c3d47",
            "f47ac10b-58cc-4372-a567-0e02b2c3d4790",
            "g47ac10b-58cc-4372-a567-0e02b2c3d479",
            " f47ac10b-58cc-4372-a567-0e02b2c3d47",
            "f47ac10b_58cc_4372_a567_0e02b2c3d479",
            "f47ac10b-58cc-4372-a567-0e02b2c3d4é",
        ] {
            assert_eq!(parse(raw), Err(ClientIdError::Malformed), "{raw:?}");
        }
    }
}
