//! Offline verification of a whole log: the export format and the streaming chain check shared
//! by [`verify_export`] and [`crate::verify_stored`].
//!
//! The check walks the records in order with O(log n) state (the Merkle [`Frontier`]): each
//! record must carry the next sequence number, hash to its `record_hash`, and chain onto its
//! predecessor; when the walk reaches the size of a signed tree head, the root so far must be
//! the signed root. Only when something is wrong does it look further (at the whole log, or
//! with a query) to tell a tampered record from a misplaced, missing or duplicated one.

use serde::{Deserialize, Serialize};

use crate::error::{EvidenceError, VerifyError};
use crate::merkle::{Frontier, Hash};
use crate::record::{EvidenceRecord, GENESIS_PREV_HASH};
use crate::tree_head::{EvidencePublicKey, SignedTreeHead, verify_tree_head};

/// The `format` of an [`ExportedLog`] this version writes and reads.
pub const EXPORT_FORMAT: &str = "zhiwang-evidence-v1";

/// A whole evidence log as JSON, for `zhiwang evidence verify` and auditors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedLog {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// Base64 public key that signed `tree_head` (absent when nothing was sealed yet). A
    /// verifier should compare it with the key the service publishes: see
    /// [`verify_export_with_key`].
    pub public_key: Option<String>,
    /// The latest signed tree head. Records after its size are chain-checked but unsealed.
    pub tree_head: Option<SignedTreeHead>,
    /// Every record, in sequence order.
    pub records: Vec<EvidenceRecord>,
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records checked (all of them: `1..=records`).
    pub records: i64,
    /// How many of them the newest verified tree head covers (0 if none).
    pub sealed: i64,
    /// Root of the newest verified tree head.
    pub root_hash: Option<String>,
    /// Key id that signed it.
    pub key_id: Option<String>,
    /// Hash of the last record (the genesis value for an empty log).
    pub last_record_hash: String,
    /// Signed tree heads checked against the records.
    pub tree_heads_checked: usize,
}

/// Verifies an exported log against the public key it carries: every record hash, the chain,
/// sequence continuity, and the latest tree head's root and signature. The error names the
/// first record found tampered, missing, duplicated or out of order.
///
/// The embedded key only proves the log is self-consistent; to prove it is *the service's* log
/// use [`verify_export_with_key`] with the key the service publishes.
pub fn verify_export(log: &ExportedLog) -> Result<VerifyReport, VerifyError> {
    let key = match (&log.tree_head, &log.public_key) {
        (None, _) => None,
        (Some(_), None) => return Err(VerifyError::InvalidPublicKey),
        (Some(_), Some(text)) => {
            Some(EvidencePublicKey::from_base64(text).map_err(|_| VerifyError::InvalidPublicKey)?)
        }
    };
    verify_export_inner(log, key.as_ref())
}

/// Verifies an exported log against a trusted public key, ignoring the key it carries; a log
/// without a signed tree head is refused ([`VerifyError::NoTreeHead`]).
pub fn verify_export_with_key(
    log: &ExportedLog,
    trusted: &EvidencePublicKey,
) -> Result<VerifyReport, VerifyError> {
    if log.tree_head.is_none() {
        return Err(VerifyError::NoTreeHead);
    }
    verify_export_inner(log, Some(trusted))
}

fn verify_export_inner(
    log: &ExportedLog,
    key: Option<&EvidencePublicKey>,
) -> Result<VerifyReport, VerifyError> {
    if log.format != EXPORT_FORMAT {
        return Err(VerifyError::UnsupportedFormat {
            format: log.format.clone(),
        });
    }
    let mut heads = Vec::new();
    if let (Some(head), Some(key)) = (&log.tree_head, key) {
        check_signature(head, key)?;
        heads.push(head.clone());
    }
    let mut chain = ChainVerifier::new(heads)?;
    for (i, record) in log.records.iter().enumerate() {
        if let Err(anomaly) = chain.push(record) {
            let later = &log.records[i + 1..];
            let clues = Clues {
                successor: log
                    .records
                    .iter()
                    .find(|r| r.prev_hash == record.record_hash)
                    .map(|r| r.seq),
                predecessor: log
                    .records
                    .iter()
                    .find(|r| r.record_hash == record.prev_hash)
                    .map(|r| r.seq),
                expected_later: anomaly
                    .position()
                    .is_some_and(|p| later.iter().any(|r| r.seq == p)),
            };
            return Err(classify(anomaly, record, &clues));
        }
    }
    chain.finish().map(|summary| summary.report)
}

/// Checks a head's signature, translating the error into the verification vocabulary.
pub(crate) fn check_signature(
    head: &SignedTreeHead,
    key: &EvidencePublicKey,
) -> Result<(), VerifyError> {
    verify_tree_head(head, key).map_err(|e| match e {
        EvidenceError::KeyMismatch { expected, found } => VerifyError::KeyMismatch {
            tree_size: head.tree_size,
            expected,
            found,
        },
        _ => VerifyError::BadSignature {
            tree_size: head.tree_size,
        },
    })
}

/// Something the in-order walk found wrong, before diagnosis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Anomaly {
    /// The record at `position` is labelled `found`.
    Misplaced { position: i64, found: i64 },
    /// The record labelled `seq` does not hash to its `record_hash`.
    HashMismatch { seq: i64 },
    /// The record labelled `seq` hashes correctly but does not chain onto its predecessor.
    ChainBreak { seq: i64 },
    /// The root at `tree_size` is not the signed one.
    Root { tree_size: i64 },
}

impl Anomaly {
    fn position(&self) -> Option<i64> {
        match self {
            Anomaly::Misplaced { position, .. } => Some(*position),
            _ => None,
        }
    }
}

/// Where the log holds records related to the faulty one (found only after a failure).
#[derive(Clone, Debug, Default)]
pub(crate) struct Clues {
    /// Label of a record whose `prev_hash` is the faulty record's `record_hash`.
    pub successor: Option<i64>,
    /// Label of a record whose `record_hash` is the faulty record's `prev_hash`.
    pub predecessor: Option<i64>,
    /// Whether a record labelled with the expected position appears later in the log.
    pub expected_later: bool,
}

/// Turns an anomaly into the error that names the record.
pub(crate) fn classify(anomaly: Anomaly, record: &EvidenceRecord, clues: &Clues) -> VerifyError {
    match anomaly {
        Anomaly::Misplaced { position, found } => {
            if record.compute_hash_as(position) == record.record_hash {
                // The record is genuinely the one for `position`: only its label was edited.
                VerifyError::Tampered { seq: position }
            } else if found < position {
                VerifyError::Duplicate { seq: found }
            } else if clues.expected_later {
                VerifyError::OutOfOrder {
                    seq: found,
                    position,
                }
            } else {
                VerifyError::Missing { seq: position }
            }
        }
        Anomaly::HashMismatch { seq } => {
            // A record moved to another position (its seq relabelled) still hashes under its
            // original seq, which its chain neighbours reveal.
            let candidates = [
                clues.successor.map(|s| s - 1),
                clues.predecessor.map(|p| p + 1),
            ];
            candidates
                .into_iter()
                .flatten()
                .find(|t| *t != seq && *t >= 1 && record.compute_hash_as(*t) == record.record_hash)
                .map_or(VerifyError::Tampered { seq }, |t| VerifyError::OutOfOrder {
                    seq: t,
                    position: seq,
                })
        }
        Anomaly::ChainBreak { seq } => VerifyError::BrokenChain { seq },
        Anomaly::Root { tree_size } => VerifyError::RootMismatch { tree_size },
    }
}

/// The result of a successful walk.
pub(crate) struct ChainSummary {
    pub report: VerifyReport,
    pub frontier: Frontier,
}

/// The in-order walk over the records (see the module docs).
pub(crate) struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    frontier: Frontier,
    /// Signed heads to check, ascending by size, with their roots (`None` if malformed).
    heads: Vec<(SignedTreeHead, Option<Hash>)>,
    next_head: usize,
    last_checked: Option<SignedTreeHead>,
}

impl ChainVerifier {
    /// `heads` must already be signature-checked; they may come in any order.
    pub fn new(mut heads: Vec<SignedTreeHead>) -> Result<ChainVerifier, VerifyError> {
        heads.sort_by_key(|h| h.tree_size);
        if let Some(h) = heads.iter().find(|h| h.tree_size < 0) {
            return Err(VerifyError::RootMismatch {
                tree_size: h.tree_size,
            });
        }
        let heads = heads.into_iter().map(|h| {
            let root = h.root();
            (h, root)
        });
        let mut chain = ChainVerifier {
            next_seq: 1,
            prev_hash: GENESIS_PREV_HASH.to_owned(),
            frontier: Frontier::new(),
            heads: heads.collect(),
            next_head: 0,
            last_checked: None,
        };
        chain
            .check_heads()
            .map_err(|tree_size| VerifyError::RootMismatch { tree_size })?;
        Ok(chain)
    }

    /// Checks the next record.
    pub fn push(&mut self, record: &EvidenceRecord) -> Result<(), Anomaly> {
        if record.seq != self.next_seq {
            return Err(Anomaly::Misplaced {
                position: self.next_seq,
                found: record.seq,
            });
        }
        if !record.hash_is_valid() {
            return Err(Anomaly::HashMismatch { seq: record.seq });
        }
        if record.prev_hash != self.prev_hash {
            return Err(Anomaly::ChainBreak { seq: record.seq });
        }
        let Some(leaf) = record.leaf_hash() else {
            return Err(Anomaly::HashMismatch { seq: record.seq });
        };
        self.frontier.push(leaf);
        self.check_heads()
            .map_err(|tree_size| Anomaly::Root { tree_size })?;
        self.next_seq += 1;
        self.prev_hash.clone_from(&record.record_hash);
        Ok(())
    }

    /// Ends the walk: every tree head must have been reached.
    pub fn finish(self) -> Result<ChainSummary, VerifyError> {
        let records = self.next_seq - 1;
        if self.heads.len() > self.next_head {
            return Err(VerifyError::Missing { seq: records + 1 });
        }
        let last = self.last_checked;
        Ok(ChainSummary {
            report: VerifyReport {
                records,
                sealed: last.as_ref().map_or(0, |h| h.tree_size),
                root_hash: last.as_ref().map(|h| h.root_hash.clone()),
                key_id: last.as_ref().map(|h| h.key_id.clone()),
                last_record_hash: self.prev_hash,
                tree_heads_checked: self.next_head,
            },
            frontier: self.frontier,
        })
    }

    /// Compares every head of the current size with the current root; the error is the size.
    fn check_heads(&mut self) -> Result<(), i64> {
        let size = self.frontier.size() as i64;
        while let Some((head, root)) = self.heads.get(self.next_head) {
            if head.tree_size != size {
                break;
            }
            if *root != Some(self.frontier.root()) {
                return Err(size);
            }
            self.last_checked = Some(head.clone());
            self.next_head += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::merkle;
    use crate::record::payload_hash;
    use crate::tree_head::EvidenceSigner;

    /// A log of `n` records sealed at its full size.
    fn log(n: i64, signer: &EvidenceSigner) -> ExportedLog {
        let mut records: Vec<EvidenceRecord> = Vec::new();
        for seq in 1..=n {
            let prev = records
                .last()
                .map_or(GENESIS_PREV_HASH, |r| r.record_hash.as_str());
            let record = EvidenceRecord::new(
                seq,
                "user/1",
                "declaration.submit",
                &format!("declaration/{seq}"),
                &payload_hash(&json!({ "n": seq })),
                Utc::now(),
                prev,
            );
            records.push(record);
        }
        let leaves: Vec<Hash> = records.iter().filter_map(|r| r.leaf_hash()).collect();
        let head = signer.sign_tree_head(n, &merkle::root(&leaves), Utc::now());
        ExportedLog {
            format: EXPORT_FORMAT.into(),
            public_key: Some(signer.public_key_base64()),
            tree_head: Some(head),
            records,
        }
    }

    /// Recomputes hashes and links from `from` on, as a forger who rewrites history would.
    fn rechain(log: &mut ExportedLog, from: usize) {
        for i in from..log.records.len() {
            let prev = if i == 0 {
                GENESIS_PREV_HASH.to_owned()
            } else {
                log.records[i - 1].record_hash.clone()
            };
            let r = &mut log.records[i];
            r.prev_hash = prev;
            r.record_hash = r.compute_hash();
        }
    }

    #[test]
    fn an_intact_log_verifies_and_reports_its_size() {
        let signer = EvidenceSigner::generate();
        let log = log(13, &signer);
        let report = verify_export(&log).expect("intact");
        assert_eq!(
            (report.records, report.sealed, report.tree_heads_checked),
            (13, 13, 1)
        );
        assert_eq!(report.key_id, Some(signer.key_id()));
        verify_export_with_key(&log, &signer.public_key()).expect("trusted key");
    }

    #[test]
    fn an_empty_unsealed_log_verifies_but_not_against_a_trusted_key() {
        let log = ExportedLog {
            format: EXPORT_FORMAT.into(),
            public_key: None,
            tree_head: None,
            records: vec![],
        };
        assert_eq!(
            verify_export(&log).expect("empty").last_record_hash,
            GENESIS_PREV_HASH
        );
        let key = EvidenceSigner::generate().public_key();
        assert_eq!(
            verify_export_with_key(&log, &key),
            Err(VerifyError::NoTreeHead)
        );
    }

    #[test]
    fn an_edited_field_names_the_tampered_record() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records[6].action = "declaration.reject".into();
        assert_eq!(verify_export(&log), Err(VerifyError::Tampered { seq: 7 }));
    }

    #[test]
    fn a_removed_record_is_named_missing() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records.remove(3);
        assert_eq!(verify_export(&log), Err(VerifyError::Missing { seq: 4 }));
        let mut tail = self::log(10, &EvidenceSigner::generate());
        tail.records.pop();
        assert_eq!(verify_export(&tail), Err(VerifyError::Missing { seq: 10 }));
    }

    #[test]
    fn swapped_records_are_named_out_of_order() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records.swap(2, 5);
        assert_eq!(
            verify_export(&log),
            Err(VerifyError::OutOfOrder {
                seq: 6,
                position: 3
            })
        );
    }

    #[test]
    fn records_relabelled_into_each_others_places_are_named_out_of_order() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records.swap(2, 3);
        log.records[2].seq = 3;
        log.records[3].seq = 4;
        assert_eq!(
            verify_export(&log),
            Err(VerifyError::OutOfOrder {
                seq: 4,
                position: 3
            })
        );
    }

    #[test]
    fn a_repeated_record_is_named_duplicate() {
        let mut log = log(10, &EvidenceSigner::generate());
        let again = log.records[4].clone();
        log.records.insert(5, again);
        assert_eq!(verify_export(&log), Err(VerifyError::Duplicate { seq: 5 }));
    }

    #[test]
    fn an_edited_sequence_number_is_named_tampered() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records[4].seq = 9;
        assert_eq!(verify_export(&log), Err(VerifyError::Tampered { seq: 5 }));
    }

    #[test]
    fn a_forged_record_with_its_own_valid_hash_breaks_the_chain() {
        let mut log = log(10, &EvidenceSigner::generate());
        let r = &log.records[4];
        let forged = EvidenceRecord::new(
            5,
            &r.actor,
            "declaration.reject",
            &r.object,
            &r.payload_hash,
            r.recorded_at,
            &r.prev_hash,
        );
        log.records[4] = forged;
        assert_eq!(
            verify_export(&log),
            Err(VerifyError::BrokenChain { seq: 6 })
        );
    }

    #[test]
    fn history_rewritten_consistently_fails_against_the_signed_root() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records[2].actor = "user/evil".into();
        rechain(&mut log, 2);
        assert_eq!(
            verify_export(&log),
            Err(VerifyError::RootMismatch { tree_size: 10 })
        );
    }

    #[test]
    fn a_forged_signature_or_foreign_key_is_refused() {
        let signer = EvidenceSigner::generate();
        let mut log = log(5, &signer);
        if let Some(head) = log.tree_head.as_mut() {
            let mut sig = head.signature.clone().into_bytes();
            sig[3] = if sig[3] == b'A' { b'B' } else { b'A' };
            head.signature = String::from_utf8(sig).expect("ascii");
        }
        assert_eq!(
            verify_export(&log),
            Err(VerifyError::BadSignature { tree_size: 5 })
        );

        let other = EvidenceSigner::generate();
        let foreign = self::log(5, &other);
        assert!(
            verify_export(&foreign).is_ok(),
            "self-consistent with its own key"
        );
        assert!(matches!(
            verify_export_with_key(&foreign, &signer.public_key()),
            Err(VerifyError::KeyMismatch { tree_size: 5, .. })
        ));
    }

    #[test]
    fn a_tree_head_beyond_the_records_names_the_first_missing_record() {
        let signer = EvidenceSigner::generate();
        let mut log = log(6, &signer);
        log.records.truncate(4);
        assert_eq!(verify_export(&log), Err(VerifyError::Missing { seq: 5 }));
    }

    #[test]
    fn records_after_the_tree_head_are_chain_checked_but_unsealed() {
        let signer = EvidenceSigner::generate();
        let mut full = log(8, &signer);
        let sealed_at_5 = {
            let leaves: Vec<Hash> = full.records[..5]
                .iter()
                .filter_map(|r| r.leaf_hash())
                .collect();
            signer.sign_tree_head(5, &merkle::root(&leaves), Utc::now())
        };
        full.tree_head = Some(sealed_at_5);
        let report = verify_export(&full).expect("valid");
        assert_eq!((report.records, report.sealed), (8, 5));
        full.records[7].object = "declaration/other".into();
        assert_eq!(verify_export(&full), Err(VerifyError::Tampered { seq: 8 }));
    }

    #[test]
    fn an_unknown_format_is_refused() {
        let mut log = log(1, &EvidenceSigner::generate());
        log.format = "zhiwang-evidence-v0".into();
        assert!(matches!(
            verify_export(&log),
            Err(VerifyError::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn an_export_round_trips_through_json() {
        let log = log(4, &EvidenceSigner::generate());
        let text = serde_json::to_string_pretty(&log).expect("serialize");
        let back: ExportedLog = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, log);
        verify_export(&back).expect("still verifies");
    }
}
