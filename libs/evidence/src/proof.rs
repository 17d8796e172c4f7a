//! Proofs handed to clients, and their verification: what a citizen's client runs to check
//! that his record is in the signed log, and what a monitor runs to check that a newer tree
//! head only extends an older one.

use serde::{Deserialize, Serialize};

use crate::error::EvidenceError;
use crate::merkle::{self, Hash};
use crate::record::{EvidenceRecord, decode_hash};
use crate::tree_head::{EvidencePublicKey, SignedTreeHead, verify_tree_head};

/// A record, its audit path, and the signed tree head the path leads to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The record proven.
    pub record: EvidenceRecord,
    /// Its 0-based leaf index (`record.seq - 1`).
    pub leaf_index: i64,
    /// Size of the tree the path is for (`tree_head.tree_size`).
    pub tree_size: i64,
    /// Hex sibling hashes from the leaf up (RFC 6962 `PATH`).
    pub audit_path: Vec<String>,
    /// The signed head whose root the path reaches.
    pub tree_head: SignedTreeHead,
}

/// Proof that the tree of `new.tree_size` records extends the tree of `old.tree_size` records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The older signed head.
    pub old: SignedTreeHead,
    /// The newer signed head.
    pub new: SignedTreeHead,
    /// Hex hashes of RFC 6962 `PROOF(old.tree_size, D[new.tree_size])`.
    pub proof: Vec<String>,
}

/// Checks an inclusion proof completely: the tree head's signature by `public_key`, the record's
/// own hash, that the leaf index and size are the record's and the head's, and that the audit
/// path leads from the record's leaf to the signed root (RFC 9162 §2.1.3.2).
///
/// To check that the record is about the citizen's own submission, also call
/// [`EvidenceRecord::matches_payload`].
pub fn verify_inclusion_proof(
    proof: &InclusionProof,
    public_key: &EvidencePublicKey,
) -> Result<(), EvidenceError> {
    verify_tree_head(&proof.tree_head, public_key)?;
    let record = &proof.record;
    if !record.hash_is_valid() {
        return Err(EvidenceError::RecordHashMismatch { seq: record.seq });
    }
    if record.seq.checked_sub(1) != Some(proof.leaf_index) || proof.leaf_index < 0 {
        return Err(EvidenceError::ProofInvalid(format!(
            "leaf index {} is not the index of record {}",
            proof.leaf_index, record.seq
        )));
    }
    if proof.tree_size != proof.tree_head.tree_size {
        return Err(EvidenceError::ProofInvalid(format!(
            "the proof is for size {} but the tree head has size {}",
            proof.tree_size, proof.tree_head.tree_size
        )));
    }
    let invalid =
        || EvidenceError::ProofInvalid(format!("record {} is not in the signed tree", record.seq));
    let leaf = record.leaf_hash().ok_or_else(invalid)?;
    let root = proof.tree_head.root().ok_or_else(invalid)?;
    let path = decode_path(&proof.audit_path).ok_or_else(invalid)?;
    let ok = merkle::verify_inclusion(
        &leaf,
        proof.leaf_index as u64,
        proof.tree_size as u64,
        &path,
        &root,
    );
    if ok { Ok(()) } else { Err(invalid()) }
}

/// Checks a consistency proof: both heads signed by `public_key`, the older no larger than the
/// newer, and the proof (RFC 9162 §2.1.4.2) showing the newer tree extends the older.
pub fn verify_consistency_proof(
    proof: &ConsistencyProof,
    public_key: &EvidencePublicKey,
) -> Result<(), EvidenceError> {
    verify_consistency_proof_across(proof, public_key, public_key)
}

/// [`verify_consistency_proof`] for heads signed by two keys (across a key rotation): the older
/// head by `old_key`, the newer by `new_key`.
pub fn verify_consistency_proof_across(
    proof: &ConsistencyProof,
    old_key: &EvidencePublicKey,
    new_key: &EvidencePublicKey,
) -> Result<(), EvidenceError> {
    verify_tree_head(&proof.old, old_key)?;
    verify_tree_head(&proof.new, new_key)?;
    let (old_size, new_size) = (proof.old.tree_size, proof.new.tree_size);
    let invalid = || {
        EvidenceError::ProofInvalid(format!(
            "the tree of size {new_size} does not extend the tree of size {old_size}"
        ))
    };
    let (Some(old_root), Some(new_root)) = (proof.old.root(), proof.new.root()) else {
        return Err(invalid());
    };
    let path = decode_path(&proof.proof).ok_or_else(invalid)?;
    let ok = old_size >= 0
        && merkle::verify_consistency(
            old_size as u64,
            new_size as u64,
            &old_root,
            &new_root,
            &path,
        );
    if ok { Ok(()) } else { Err(invalid()) }
}

fn decode_path(path: &[String]) -> Option<Vec<Hash>> {
    path.iter().map(|h| decode_hash(h)).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::record::GENESIS_PREV_HASH;
    use crate::tree_head::EvidenceSigner;

    fn records(n: i64) -> Vec<EvidenceRecord> {
        let mut out: Vec<EvidenceRecord> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_PREV_HASH, |r| r.record_hash.as_str())
                .to_owned();
            out.push(EvidenceRecord::new(
                seq,
                "u",
                "a.b",
                "o/1",
                "p",
                Utc::now(),
                &prev,
            ));
        }
        out
    }

    fn leaves(records: &[EvidenceRecord]) -> Vec<Hash> {
        records
            .iter()
            .filter_map(EvidenceRecord::leaf_hash)
            .collect()
    }

    fn inclusion(signer: &EvidenceSigner, records: &[EvidenceRecord], seq: i64) -> InclusionProof {
        let leaves = leaves(records);
        let head = signer.sign_tree_head(records.len() as i64, &merkle::root(&leaves), Utc::now());
        let path = merkle::inclusion_proof((seq - 1) as u64, &leaves).expect("inside");
        InclusionProof {
            record: records[(seq - 1) as usize].clone(),
            leaf_index: seq - 1,
            tree_size: head.tree_size,
            audit_path: path.iter().map(hex::encode).collect(),
            tree_head: head,
        }
    }

    #[test]
    fn an_inclusion_proof_verifies_only_for_its_own_index_and_size() {
        let signer = EvidenceSigner::generate();
        let log = records(11);
        let proof = inclusion(&signer, &log, 6);
        verify_inclusion_proof(&proof, &signer.public_key()).expect("genuine");
        for bad in [
            InclusionProof {
                leaf_index: 6,
                ..proof.clone()
            },
            InclusionProof {
                tree_size: 10,
                ..proof.clone()
            },
            InclusionProof {
                audit_path: proof.audit_path[1..].to_vec(),
                ..proof.clone()
            },
            InclusionProof {
                audit_path: vec!["zz".into()],
                ..proof.clone()
            },
        ] {
            assert!(matches!(
                verify_inclusion_proof(&bad, &signer.public_key()),
                Err(EvidenceError::ProofInvalid(_))
            ));
        }
    }

    #[test]
    fn a_consistency_proof_verifies_forwards_and_never_backwards() {
        let signer = EvidenceSigner::generate();
        let log = records(13);
        let leaves = leaves(&log);
        let old = signer.sign_tree_head(6, &merkle::root(&leaves[..6]), Utc::now());
        let new = signer.sign_tree_head(13, &merkle::root(&leaves), Utc::now());
        let path = merkle::consistency_proof(6, &leaves).expect("6 <= 13");
        let proof = ConsistencyProof {
            old: old.clone(),
            new: new.clone(),
            proof: path.iter().map(hex::encode).collect(),
        };
        verify_consistency_proof(&proof, &signer.public_key()).expect("genuine");
        let backwards = ConsistencyProof {
            old: new,
            new: old,
            ..proof
        };
        assert!(matches!(
            verify_consistency_proof(&backwards, &signer.public_key()),
            Err(EvidenceError::ProofInvalid(_))
        ));
    }

    #[test]
    fn a_record_labelled_i64_min_is_refused_not_a_panic() {
        // The leaf index of a record labelled i64::MIN overflowed (a panic in debug).
        let signer = EvidenceSigner::generate();
        let log = records(4);
        let mut proof = inclusion(&signer, &log, 2);
        proof.record = EvidenceRecord::new(
            i64::MIN,
            "u",
            "a.b",
            "o/1",
            "p",
            Utc::now(),
            GENESIS_PREV_HASH,
        );
        assert!(matches!(
            verify_inclusion_proof(&proof, &signer.public_key()),
            Err(EvidenceError::ProofInvalid(_))
        ));
    }

    /// Proofs as a client receives them from a server it does not trust: any index, size, label
    /// and path under a genuine signed head never panics, and only the genuine proof verifies.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn path() -> impl Strategy<Value = Vec<String>> {
            prop::collection::vec(
                prop_oneof![any::<[u8; 32]>().prop_map(hex::encode), "\\PC{0,70}"],
                0..6,
            )
        }

        proptest! {
            #![proptest_config(zw_testkit::fuzz::config(256))]

            #[test]
            fn fuzz_inclusion_proofs_verify_only_as_issued(
                n in 1i64..=9,
                pick in any::<prop::sample::Index>(),
                leaf_index in prop_oneof![Just(None), (-2i64..=10).prop_map(Some), any::<i64>().prop_map(Some)],
                tree_size in prop_oneof![Just(None), (-2i64..=10).prop_map(Some), any::<i64>().prop_map(Some)],
                seq in prop_oneof![Just(None), (-2i64..=10).prop_map(Some), any::<i64>().prop_map(Some)],
                audit_path in prop_oneof![Just(None), path().prop_map(Some)],
            ) {
                let signer = EvidenceSigner::from_secret_bytes(&[3; 32]);
                let log = records(n);
                let genuine = inclusion(&signer, &log, pick.index(n as usize) as i64 + 1);
                let mut proof = genuine.clone();
                if let Some(i) = leaf_index { proof.leaf_index = i; }
                if let Some(t) = tree_size { proof.tree_size = t; }
                if let Some(s) = seq {
                    let r = &proof.record;
                    proof.record = EvidenceRecord::new(s, &r.actor, &r.action, &r.object, &r.payload_hash, r.recorded_at, &r.prev_hash);
                }
                if let Some(p) = audit_path { proof.audit_path = p; }
                let verified = verify_inclusion_proof(&proof, &signer.public_key()).is_ok();
                prop_assert_eq!(verified, proof == genuine, "{:?}", proof);
            }

            #[test]
            fn fuzz_consistency_proofs_verify_only_forwards(
                n in 1i64..=9,
                m in 0i64..=9,
                old_size in prop_oneof![Just(None), (-2i64..=10).prop_map(Some), any::<i64>().prop_map(Some)],
                new_size in prop_oneof![Just(None), (-2i64..=10).prop_map(Some), any::<i64>().prop_map(Some)],
                path in prop_oneof![Just(None), path().prop_map(Some)],
            ) {
                let signer = EvidenceSigner::from_secret_bytes(&[4; 32]);
                let log = records(n);
                let leaves = leaves(&log);
                let m = m.min(n);
                let root_at = |size: i64| merkle::root(&leaves[..usize::try_from(size.clamp(0, n)).unwrap_or(0)]);
                let (old_size, new_size) = (old_size.unwrap_or(m), new_size.unwrap_or(n));
                let proof = ConsistencyProof {
                    // Heads of any size are signed over the root of the records there are.
                    old: signer.sign_tree_head(old_size, &root_at(old_size), Utc::now()),
                    new: signer.sign_tree_head(new_size, &root_at(new_size), Utc::now()),
                    proof: match path {
                        Some(p) => p,
                        None => merkle::consistency_proof(m as u64, &leaves)
                            .expect("m <= n")
                            .iter()
                            .map(hex::encode)
                            .collect(),
                    },
                };
                if verify_consistency_proof(&proof, &signer.public_key()).is_ok() {
                    // Never backwards; and across real sizes, only the proof of those sizes.
                    prop_assert!(0 <= old_size && old_size <= new_size);
                    if new_size <= n && old_size < new_size {
                        let real = merkle::consistency_proof(old_size as u64, &leaves[..new_size as usize])
                            .expect("old <= new");
                        prop_assert_eq!(&proof.proof, &real.iter().map(hex::encode).collect::<Vec<_>>());
                    }
                }
            }
        }
    }
}
