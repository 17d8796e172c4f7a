//! The signed tree head as a C2SP checkpoint (c2sp.org/tlog-checkpoint in a c2sp.org/signed-note),
//! so that transparency-log tooling and witnesses that never heard of Zhiwang can verify it, and
//! witness cosignatures of it (c2sp.org/tlog-cosignature, `cosignature/v1`).
//!
//! A checkpoint's text is `<origin>\n<tree size>\n<base64 root hash>\n`. The log signs it with
//! the same Ed25519 key as its tree heads, under the key name `<origin>`: the signature line is
//! `— <origin> base64(key id ‖ signature)`, where key id = SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public
//! key)[..4]. A witness's cosignature line is `— <witness> base64(key id ‖ timestamp ‖ signature)`
//! with key id = SHA-256(witness ‖ 0x0A ‖ 0x04 ‖ key)[..4], an 8-byte big-endian Unix time, and
//! the signature over `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint text.
//! `docs/evidence.md` ("Checkpoints and witnesses") documents the origin names.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::tree_head::{EvidencePublicKey, EvidenceSigner, SignedTreeHead};

/// Signature type of an Ed25519 note signature.
const ALG_ED25519: u8 = 0x01;
/// Signature type of a `cosignature/v1` witness signature.
const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The em dash and space that open a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint or cosignature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a signed note: {0}")]
    Malformed(String),
    #[error("the checkpoint is not one this log signed: {0}")]
    NotOurs(String),
    #[error("a witness key must be <name>+<8 hex key id>+<base64 of 0x04 and 32 key bytes>: {0}")]
    BadWitnessKey(String),
    #[error("no signature line is a valid cosignature by a configured witness")]
    NoValidCosignature,
    #[error("this log takes cosignatures of no witness: none is configured (evidence.witnesses)")]
    NoWitnesses,
}

/// A log's origin: the key name of its checkpoints. `base` is `evidence.checkpoint_origin` or
/// the platform's public base URL (`grid.public_url`); the origin is it without a scheme or
/// trailing slash, then `/<service>`.
pub fn origin(base: &str, service: &str) -> String {
    let without_scheme = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{without_scheme}/{service}")
}

fn key_id(name: &str, alg: u8, key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', alg]);
    hasher.update(key);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The note verifier key of the log (`<origin>+<key id hex>+<base64(0x01 ‖ key)>`), as
/// signed-note tooling takes it.
pub fn verifier_key(origin: &str, key: &EvidencePublicKey) -> String {
    let bytes = key.to_bytes();
    let mut encoded = vec![ALG_ED25519];
    encoded.extend_from_slice(&bytes);
    format!(
        "{origin}+{}+{}",
        hex::encode(key_id(origin, ALG_ED25519, &bytes)),
        BASE64.encode(encoded)
    )
}

/// The checkpoint text of `head`.
pub fn text(origin: &str, head: &SignedTreeHead) -> Option<String> {
    let root = head.root()?;
    Some(format!(
        "{origin}\n{}\n{}\n",
        head.tree_size,
        BASE64.encode(root)
    ))
}

/// The checkpoint of `head` signed by the log: the note text, a blank line, the log's signature
/// line.
pub fn sign(origin: &str, head: &SignedTreeHead, signer: &EvidenceSigner) -> Option<String> {
    let text = text(origin, head)?;
    let key = signer.public_key().to_bytes();
    let mut sig = key_id(origin, ALG_ED25519, &key).to_vec();
    sig.extend_from_slice(&signer.sign_bytes(text.as_bytes()));
    Some(format!(
        "{text}\n{SIGNATURE_PREFIX}{origin} {}\n",
        BASE64.encode(sig)
    ))
}

/// A witness whose cosignatures the log accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    pub name: String,
    key: EvidencePublicKey,
    id: [u8; 4],
}

impl std::str::FromStr for Witness {
    type Err = CheckpointError;

    /// A witness's verifier key: `<name>+<key id hex>+<base64(0x04 ‖ key)>`.
    fn from_str(vkey: &str) -> Result<Witness, CheckpointError> {
        let bad = || CheckpointError::BadWitnessKey(vkey.to_owned());
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let encoded = BASE64.decode(encoded).map_err(|_| bad())?;
        let (alg, key) = encoded.split_first().ok_or_else(bad)?;
        let key: [u8; 32] = key.try_into().map_err(|_| bad())?;
        if *alg != ALG_COSIGNATURE_V1 {
            return Err(bad());
        }
        let id = key_id(name, ALG_COSIGNATURE_V1, &key);
        if hex::encode(id) != id_hex.to_ascii_lowercase() {
            return Err(bad());
        }
        Ok(Witness {
            name: name.to_owned(),
            key: EvidencePublicKey::from_bytes(&key).map_err(|_| bad())?,
            id,
        })
    }
}

/// A verified cosignature, as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    pub witness: String,
    /// Hex key id.
    pub key_id: String,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// The signature line, without its newline.
    pub line: String,
}

/// The text and signature lines of a signed note.
fn split_note(note: &str) -> Result<(&str, Vec<&str>), CheckpointError> {
    let at = note
        .rfind("\n\n")
        .ok_or_else(|| CheckpointError::Malformed("no blank line before the signatures".into()))?;
    let (text, signatures) = (&note[..=at], &note[at + 2..]);
    let lines: Vec<&str> = signatures.lines().filter(|l| !l.is_empty()).collect();
    if lines.is_empty() || lines.len() > 100 {
        return Err(CheckpointError::Malformed(
            "a note carries 1 to 100 signature lines".into(),
        ));
    }
    Ok((text, lines))
}

/// The cosignatures in `note` by `witnesses`, each checked, provided the note's text is
/// `expected_text` (the checkpoint this log signed). Lines of other signers are ignored, as
/// signed-note verifiers do.
pub fn cosignatures(
    note: &str,
    expected_text: &str,
    witnesses: &[Witness],
) -> Result<Vec<Cosignature>, CheckpointError> {
    let (text, lines) = split_note(note)?;
    if text != expected_text {
        return Err(CheckpointError::NotOurs(
            "its text differs from the checkpoint of that size".into(),
        ));
    }
    let mut found = Vec::new();
    for line in lines {
        let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
            return Err(CheckpointError::Malformed(format!(
                "{line:?} is not a signature line"
            )));
        };
        let Some((name, encoded)) = rest.split_once(' ') else {
            return Err(CheckpointError::Malformed(format!(
                "{line:?} is not a signature line"
            )));
        };
        let Ok(bytes) = BASE64.decode(encoded) else {
            return Err(CheckpointError::Malformed(format!(
                "{line:?} is not base64"
            )));
        };
        let Some(witness) = witnesses
            .iter()
            .find(|w| w.name == name && bytes.get(..4) == Some(&w.id[..]))
        else {
            continue;
        };
        if bytes.len() != 4 + 8 + 64 {
            continue;
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[4..12]);
        let timestamp = u64::from_be_bytes(time);
        let message = format!("cosignature/v1\ntime {timestamp}\n{text}");
        if witness.key.verifies(message.as_bytes(), &bytes[12..]) {
            found.push(Cosignature {
                witness: witness.name.clone(),
                key_id: hex::encode(witness.id),
                timestamp,
                line: line.to_owned(),
            });
        }
    }
    if found.is_empty() {
        return Err(CheckpointError::NoValidCosignature);
    }
    Ok(found)
}

/// The tree size a signed checkpoint names, if it is one of `origin`'s.
pub fn tree_size_of(note: &str, origin: &str) -> Result<i64, CheckpointError> {
    split_note(note)?;
    let mut lines = note.lines();
    if lines.next() != Some(origin) {
        return Err(CheckpointError::NotOurs(format!(
            "its origin is not {origin}"
        )));
    }
    lines
        .next()
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| CheckpointError::Malformed("the second line is not a tree size".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;

    #[test]
    fn the_origin_is_the_public_url_without_its_scheme() {
        assert_eq!(
            origin("https://zhiwang.futian.example.gov.cn/", "grid"),
            "zhiwang.futian.example.gov.cn/grid"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080", "identity"),
            "127.0.0.1:8080/identity"
        );
    }

    #[test]
    fn a_witness_key_names_its_own_id_and_type() {
        let key = EvidenceSigner::generate().public_key().to_bytes();
        let id = hex::encode(key_id("w.example", ALG_COSIGNATURE_V1, &key));
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(&key);
        let good = format!("w.example+{id}+{}", BASE64.encode(&encoded));
        assert!(good.parse::<Witness>().is_ok());
        assert!(
            format!("w.example+00000000+{}", BASE64.encode(&encoded))
                .parse::<Witness>()
                .is_err()
        );
        encoded[0] = ALG_ED25519;
        assert!(
            format!("w.example+{id}+{}", BASE64.encode(&encoded))
                .parse::<Witness>()
                .is_err()
        );
        assert!("nonsense".parse::<Witness>().is_err());
    }

    #[test]
    fn a_signed_checkpoint_has_the_three_lines_and_one_signature() {
        let signer = EvidenceSigner::generate();
        let head = signer.sign_tree_head(3, &merkle::leaf_hash(b"x"), chrono::Utc::now());
        let note = sign("example.org/grid", &head, &signer).expect("note");
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], "example.org/grid");
        assert_eq!(lines[1], "3");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} example.org/grid "));
        assert_eq!(tree_size_of(&note, "example.org/grid"), Ok(3));
        assert!(tree_size_of(&note, "example.org/other").is_err());
    }
}
