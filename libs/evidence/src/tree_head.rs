//! Signed tree heads: the Ed25519 signature that fixes the log's Merkle root at a size.
//!
//! The signature covers the UTF-8 bytes of
//! `zhiwang-sth-v1\n{tree_size}\n{root_hash}\n{timestamp}\n{key_id}\n`, with `tree_size` in
//! decimal, `root_hash` as 64 lowercase hex digits and `timestamp` as RFC 3339 UTC with six
//! fractional digits and `Z`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::EvidenceError;
use crate::merkle::Hash;
use crate::record::{decode_hash, rfc3339_micros};

/// The log's Merkle root at `tree_size` records, signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    /// Number of records the tree covers: records `1..=tree_size`.
    pub tree_size: i64,
    /// Hex `MTH` over the leaf hashes of those records.
    pub root_hash: String,
    /// When the head was signed, to the microsecond.
    #[serde(with = "rfc3339_micros")]
    pub timestamp: DateTime<Utc>,
    /// Which key signed it (see [`EvidencePublicKey::key_id`]).
    pub key_id: String,
    /// Base64 Ed25519 signature over [`SignedTreeHead::signed_bytes`].
    pub signature: String,
}

impl SignedTreeHead {
    /// The exact bytes the signature covers (see the module docs).
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "zhiwang-sth-v1\n{}\n{}\n{}\n{}\n",
            self.tree_size,
            self.root_hash,
            self.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.key_id
        )
        .into_bytes()
    }

    /// The root as bytes; `None` if `root_hash` is not 32 bytes of hex.
    pub fn root(&self) -> Option<Hash> {
        decode_hash(&self.root_hash)
    }
}

/// An Ed25519 public key that verifies tree heads: what a service publishes and what a
/// verifier pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidencePublicKey(VerifyingKey);

impl EvidencePublicKey {
    /// Parses the base64 (standard, padded) encoding of the 32-byte key.
    pub fn from_base64(text: &str) -> Result<EvidencePublicKey, EvidenceError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| EvidenceError::InvalidPublicKey)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| EvidenceError::InvalidPublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(EvidencePublicKey)
            .map_err(|_| EvidenceError::InvalidPublicKey)
    }

    /// The base64 encoding of the 32-byte key.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_bytes())
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key whose 32 bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<EvidencePublicKey, EvidenceError> {
        VerifyingKey::from_bytes(bytes)
            .map(EvidencePublicKey)
            .map_err(|_| EvidenceError::InvalidPublicKey)
    }

    /// Whether `signature` is this key's strict Ed25519 signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|s| self.0.verify_strict(message, &s).is_ok())
    }

    /// The first 16 hex digits of SHA-256 of the 32-byte key.
    pub fn key_id(&self) -> String {
        let digest = hex::encode(Sha256::digest(self.0.as_bytes()));
        digest[..16].to_owned()
    }
}

/// The secret key that signs tree heads. Its `Debug` shows only the key id.
pub struct EvidenceSigner {
    key: SigningKey,
}

impl std::fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceSigner")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl EvidenceSigner {
    /// A new random key (from the thread-local CSPRNG, seeded by the operating system).
    pub fn generate() -> EvidenceSigner {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        EvidenceSigner::from_secret_bytes(&secret)
    }

    /// The key whose 32-byte Ed25519 secret (seed) is `secret`.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> EvidenceSigner {
        EvidenceSigner {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret, to store in the service's secret store.
    pub fn to_secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The Ed25519 signature of `message` (for the checkpoint's signed note).
    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The matching public key.
    pub fn public_key(&self) -> EvidencePublicKey {
        EvidencePublicKey(self.key.verifying_key())
    }

    /// The public key in base64, as published.
    pub fn public_key_base64(&self) -> String {
        self.public_key().to_base64()
    }

    /// The id of the public key (see [`EvidencePublicKey::key_id`]).
    pub fn key_id(&self) -> String {
        self.public_key().key_id()
    }

    /// Signs the root of a tree of `tree_size` records at `timestamp` (truncated to the
    /// microsecond).
    pub fn sign_tree_head(
        &self,
        tree_size: i64,
        root: &Hash,
        timestamp: DateTime<Utc>,
    ) -> SignedTreeHead {
        use chrono::SubsecRound as _;
        let mut head = SignedTreeHead {
            tree_size,
            root_hash: hex::encode(root),
            timestamp: timestamp.trunc_subsecs(6),
            key_id: self.key_id(),
            signature: String::new(),
        };
        head.signature = BASE64.encode(self.key.sign(&head.signed_bytes()).to_bytes());
        head
    }
}

/// Checks that `head` was signed by `public_key`: the key id matches, the fields are well
/// formed, and the Ed25519 signature (strict verification) holds.
pub fn verify_tree_head(
    head: &SignedTreeHead,
    public_key: &EvidencePublicKey,
) -> Result<(), EvidenceError> {
    let expected = public_key.key_id();
    if head.key_id != expected {
        return Err(EvidenceError::KeyMismatch {
            expected,
            found: head.key_id.clone(),
        });
    }
    let bad = || EvidenceError::BadSignature {
        tree_size: head.tree_size,
    };
    let well_formed = head.tree_size >= 0
        && head.root_hash.len() == 64
        && head
            .root_hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && head.timestamp.nanosecond().is_multiple_of(1_000);
    if !well_formed {
        return Err(bad());
    }
    let bytes = BASE64.decode(&head.signature).map_err(|_| bad())?;
    let signature = Signature::from_slice(&bytes).map_err(|_| bad())?;
    public_key
        .0
        .verify_strict(&head.signed_bytes(), &signature)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;

    fn head(signer: &EvidenceSigner) -> SignedTreeHead {
        signer.sign_tree_head(3, &merkle::leaf_hash(b"root"), Utc::now())
    }

    #[test]
    fn a_signed_tree_head_verifies_with_its_public_key() {
        let signer = EvidenceSigner::generate();
        let key = EvidencePublicKey::from_base64(&signer.public_key_base64()).expect("valid key");
        assert_eq!(key, signer.public_key());
        verify_tree_head(&head(&signer), &key).expect("genuine head verifies");
    }

    #[test]
    fn any_change_to_a_signed_tree_head_breaks_the_signature() {
        let signer = EvidenceSigner::generate();
        let key = signer.public_key();
        let good = head(&signer);
        let changed = [
            SignedTreeHead {
                tree_size: 4,
                ..good.clone()
            },
            SignedTreeHead {
                root_hash: hex::encode(merkle::leaf_hash(b"other")),
                ..good.clone()
            },
            SignedTreeHead {
                timestamp: good.timestamp + chrono::Duration::seconds(1),
                ..good.clone()
            },
            SignedTreeHead {
                signature: "AAAA".into(),
                ..good.clone()
            },
            SignedTreeHead {
                root_hash: good.root_hash.to_uppercase(),
                ..good.clone()
            },
        ];
        for h in changed {
            assert!(
                matches!(
                    verify_tree_head(&h, &key),
                    Err(EvidenceError::BadSignature { .. })
                ),
                "{h:?}"
            );
        }
    }

    #[test]
    fn a_tree_head_signed_by_another_key_is_refused() {
        let (ours, theirs) = (EvidenceSigner::generate(), EvidenceSigner::generate());
        let forged = head(&theirs);
        assert!(matches!(
            verify_tree_head(&forged, &ours.public_key()),
            Err(EvidenceError::KeyMismatch { .. })
        ));
        // Relabelling the key id does not help: the signature is over the id too.
        let relabelled = SignedTreeHead {
            key_id: ours.key_id(),
            ..forged
        };
        assert!(matches!(
            verify_tree_head(&relabelled, &ours.public_key()),
            Err(EvidenceError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_signer_round_trips_through_its_secret_bytes() {
        let signer = EvidenceSigner::generate();
        let again = EvidenceSigner::from_secret_bytes(&signer.to_secret_bytes());
        assert_eq!(again.public_key(), signer.public_key());
        assert_eq!(signer.key_id().len(), 16);
        assert!(!format!("{signer:?}").contains(&hex::encode(signer.to_secret_bytes())));
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        for text in ["", "not base64!", "AAAA", &BASE64.encode([7u8; 31])] {
            assert!(matches!(
                EvidencePublicKey::from_base64(text),
                Err(EvidenceError::InvalidPublicKey)
            ));
        }
    }
}
