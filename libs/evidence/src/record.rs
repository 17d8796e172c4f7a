//! The evidence record, its hash chain, and the canonical encodings behind the hashes.
//!
//! # Record hash
//! `record_hash = hex(SHA-256(encoding))`, where `encoding` is the ASCII tag
//! `zhiwang-evidence-record-v1` followed by seven fields, each as an 8-byte big-endian length
//! and then the UTF-8 bytes:
//! 1. `seq` in decimal, 2. `actor`, 3. `action`, 4. `object`, 5. `payload_hash` (lowercase hex),
//! 6. `recorded_at` as RFC 3339 in UTC with exactly six fractional digits and `Z`
//!    (`2026-11-30T08:15:00.123456Z`), 7. `prev_hash` (lowercase hex; 64 zeros for record 1).
//!
//! Length prefixes make the encoding unambiguous: no choice of field contents can shift bytes
//! from one field into another.
//!
//! # Payload hash
//! The payload itself is never stored (it may hold personal data); only
//! `hex(SHA-256(canonical_json(payload)))` is. [`canonical_json`] follows RFC 8785 (JCS) for
//! everything but non-integer numbers: object keys sorted by UTF-16 code units, no whitespace,
//! the minimal JSON string escapes; numbers are written as `serde_json` writes them (identical
//! to JCS for integers, which is what Zhiwang payloads carry).

use chrono::{DateTime, SecondsFormat, SubsecRound, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::merkle::{self, Hash};

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS_PREV_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

const RECORD_TAG: &[u8] = b"zhiwang-evidence-record-v1";

/// One link of the evidence chain: who did what to which object, when, and the hash of what was
/// submitted. Appended by [`crate::append`]; never updated or deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    /// Position in the log, 1-based and gapless.
    pub seq: i64,
    /// Who caused the state change (a user id, `system`, a service name).
    pub actor: String,
    /// What happened, `<object kind>.<verb>` (e.g. `declaration.submit`).
    pub action: String,
    /// What it happened to, `<kind>/<id>` (e.g. `declaration/0190…`).
    pub object: String,
    /// Hex SHA-256 of the canonical JSON of the payload (see [`payload_hash`]).
    pub payload_hash: String,
    /// When the record was appended, to the microsecond.
    #[serde(with = "rfc3339_micros")]
    pub recorded_at: DateTime<Utc>,
    /// `record_hash` of the previous record ([`GENESIS_PREV_HASH`] for record 1).
    pub prev_hash: String,
    /// Hex SHA-256 of this record's canonical encoding (see the module docs).
    pub record_hash: String,
}

impl EvidenceRecord {
    /// Builds a record and computes its hash. `recorded_at` is truncated to microseconds, the
    /// precision both databases keep.
    pub fn new(
        seq: i64,
        actor: &str,
        action: &str,
        object: &str,
        payload_hash: &str,
        recorded_at: DateTime<Utc>,
        prev_hash: &str,
    ) -> EvidenceRecord {
        let mut record = EvidenceRecord {
            seq,
            actor: actor.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            payload_hash: payload_hash.to_owned(),
            recorded_at: recorded_at.trunc_subsecs(6),
            prev_hash: prev_hash.to_owned(),
            record_hash: String::new(),
        };
        record.record_hash = record.compute_hash();
        record
    }

    /// The hash this record's fields produce, whatever `record_hash` currently says.
    pub fn compute_hash(&self) -> String {
        self.compute_hash_as(self.seq)
    }

    /// The hash the fields would produce under another `seq` (used to recognise a record moved
    /// to another position).
    pub(crate) fn compute_hash_as(&self, seq: i64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(RECORD_TAG);
        let recorded_at = self
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        let seq = seq.to_string();
        for field in [
            seq.as_str(),
            &self.actor,
            &self.action,
            &self.object,
            &self.payload_hash,
            &recorded_at,
            &self.prev_hash,
        ] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// Whether `record_hash` is the hash of the fields. A time finer than a microsecond cannot
    /// come from [`EvidenceRecord::new`] and is refused too (the encoding would not show it).
    pub fn hash_is_valid(&self) -> bool {
        self.recorded_at.nanosecond().is_multiple_of(1_000)
            && self.compute_hash() == self.record_hash
    }

    /// The Merkle leaf hash of this record: `SHA-256(0x00 || record_hash bytes)`. `None` if
    /// `record_hash` is not 32 bytes of hex.
    pub fn leaf_hash(&self) -> Option<Hash> {
        decode_hash(&self.record_hash).map(|bytes| merkle::leaf_hash(&bytes))
    }

    /// Whether `payload` is what this record's `payload_hash` commits to: how a citizen checks
    /// that the evidence is about *his* declaration.
    pub fn matches_payload(&self, payload: &Value) -> bool {
        payload_hash(payload) == self.payload_hash
    }
}

/// Hex SHA-256 of [`canonical_json`] of `payload`.
pub fn payload_hash(payload: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(payload).as_bytes()))
}

/// The canonical JSON text of a value (see the module docs): the same value gives the same
/// bytes whatever the key order it was built with.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes 64 lowercase-or-uppercase hex digits into a hash.
pub(crate) fn decode_hash(hex_str: &str) -> Option<Hash> {
    let bytes = hex::decode(hex_str).ok()?;
    bytes.try_into().ok()
}

/// `now`, truncated to the microsecond.
pub(crate) fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Serde for timestamps as RFC 3339 with exactly six fractional digits and `Z`.
pub(crate) mod rfc3339_micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    /// Only the one spelling that is hashed and signed: RFC 3339 in UTC with exactly six
    /// fractional digits and `Z`. Another spelling of the same instant (`+00:00`, fewer
    /// digits, a lower-case `z`) is refused, so an exported record shows the very bytes its hash
    /// covers.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
        let t = DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?;
        if t.to_rfc3339_opts(SecondsFormat::Micros, true) != text {
            return Err(format!(
                "{text:?} is not in the canonical form that is hashed \
                 (UTC, six fractional digits, `Z`: {})",
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            ));
        }
        Ok(t)
    }

    /// The same for an optional time (`null` when absent).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::parse(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 8, 15, 0)
            .single()
            .expect("valid time")
            + chrono::Duration::microseconds(123_456)
    }

    fn sample() -> EvidenceRecord {
        EvidenceRecord::new(
            1,
            "user/42",
            "declaration.submit",
            "declaration/0190",
            &payload_hash(&json!({"a": 1})),
            at(),
            GENESIS_PREV_HASH,
        )
    }

    #[test]
    fn the_record_hash_is_sha256_of_the_documented_encoding() {
        let r = sample();
        let mut encoding = b"zhiwang-evidence-record-v1".to_vec();
        for field in [
            "1",
            "user/42",
            "declaration.submit",
            "declaration/0190",
            r.payload_hash.as_str(),
            "2026-11-30T08:15:00.123456Z",
            GENESIS_PREV_HASH,
        ] {
            encoding.extend_from_slice(&(field.len() as u64).to_be_bytes());
            encoding.extend_from_slice(field.as_bytes());
        }
        assert_eq!(r.record_hash, hex::encode(Sha256::digest(&encoding)));
        assert!(r.hash_is_valid());
    }

    #[test]
    fn changing_any_field_changes_the_hash() {
        let r = sample();
        let variants = [
            EvidenceRecord {
                seq: 2,
                ..r.clone()
            },
            EvidenceRecord {
                actor: "user/43".into(),
                ..r.clone()
            },
            EvidenceRecord {
                action: "declaration.approve".into(),
                ..r.clone()
            },
            EvidenceRecord {
                object: "declaration/0191".into(),
                ..r.clone()
            },
            EvidenceRecord {
                payload_hash: payload_hash(&json!({"a": 2})),
                ..r.clone()
            },
            EvidenceRecord {
                recorded_at: r.recorded_at + chrono::Duration::microseconds(1),
                ..r.clone()
            },
            EvidenceRecord {
                prev_hash: "11".repeat(32),
                ..r.clone()
            },
        ];
        for v in variants {
            assert!(!v.hash_is_valid(), "{v:?}");
        }
    }

    #[test]
    fn fields_cannot_trade_bytes_with_their_neighbours() {
        let a = EvidenceRecord::new(1, "ab", "c", "o", "p", at(), GENESIS_PREV_HASH);
        let b = EvidenceRecord::new(1, "a", "bc", "o", "p", at(), GENESIS_PREV_HASH);
        assert_ne!(a.record_hash, b.record_hash);
    }

    #[test]
    fn sub_microsecond_times_are_truncated_on_creation_and_refused_when_forged() {
        let r = sample();
        let finer = at() + chrono::Duration::nanoseconds(700);
        let made = EvidenceRecord::new(1, "a", "b", "c", "d", finer, GENESIS_PREV_HASH);
        assert_eq!(made.recorded_at.nanosecond() % 1_000, 0);
        let forged = EvidenceRecord {
            recorded_at: r.recorded_at + chrono::Duration::nanoseconds(1),
            ..r
        };
        assert!(!forged.hash_is_valid());
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let a: Value = serde_json::from_str(r#"{ "b": [1, {"z": null, "a": true}], "a": "x\ny" }"#)
            .expect("json");
        assert_eq!(
            canonical_json(&a),
            r#"{"a":"x\ny","b":[1,{"a":true,"z":null}]}"#
        );
        let b: Value =
            serde_json::from_str(r#"{"a":"x\ny","b":[1,{"a":true,"z":null}]}"#).expect("json");
        assert_eq!(payload_hash(&a), payload_hash(&b));
    }

    #[test]
    fn canonical_json_escapes_like_rfc_8785() {
        let v = json!({"\u{20ac}": "\u{1f}\"\\/é", "\r": 1, "1": -2});
        // Keys by UTF-16 code units: "\r" (0x0d) < "1" (0x31) < "€" (0x20ac).
        assert_eq!(
            canonical_json(&v),
            "{\"\\r\":1,\"1\":-2,\"\u{20ac}\":\"\\u001f\\\"\\\\/é\"}"
        );
    }

    #[test]
    fn a_record_matches_only_its_own_payload() {
        let r = sample();
        assert!(r.matches_payload(&json!({"a": 1})));
        assert!(!r.matches_payload(&json!({"a": 2})));
    }

    #[test]
    fn a_record_round_trips_through_json_with_microsecond_times() {
        let r = sample();
        let text = serde_json::to_string(&r).expect("serialize");
        assert!(text.contains("\"2026-11-30T08:15:00.123456Z\""), "{text}");
        let back: EvidenceRecord = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, r);
        assert!(back.hash_is_valid());
    }

    #[test]
    fn another_spelling_of_the_hashed_time_is_refused() {
        let text = serde_json::to_string(&sample()).expect("serialize");
        for other in [
            "2026-11-30T08:15:00.123456+00:00",
            "2026-11-30T16:15:00.123456+08:00",
            "2026-11-30T08:15:00.123456000Z",
            "2026-11-30T08:15:00.123456z",
            "2026-11-30 08:15:00.123456Z",
        ] {
            let edited = text.replace("2026-11-30T08:15:00.123456Z", other);
            let parsed = serde_json::from_str::<EvidenceRecord>(&edited);
            assert!(parsed.is_err(), "{other} was accepted");
        }
    }
}
