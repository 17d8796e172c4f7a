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
use crate::keys::{KeyStatus, PublishedKey, TrustedKeys};
use crate::merkle::{Frontier, Hash};
use crate::record::{EvidenceRecord, GENESIS_PREV_HASH, decode_hash};
use crate::tree_head::{EvidencePublicKey, SignedTreeHead, verify_tree_head};

/// The `format` of an [`ExportedLog`] this version writes.
pub const EXPORT_FORMAT: &str = "zhiwang-evidence-v2";

/// The first format, still read: one head (`tree_head`) and the key that signed it.
pub const EXPORT_FORMAT_V1: &str = "zhiwang-evidence-v1";

/// A whole evidence log as JSON, for `zhiwang evidence verify` and auditors (`docs/evidence.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedLog {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The service whose log this is.
    #[serde(default)]
    pub service: Option<String>,
    /// The keys the service says signed its heads. Only self-consistency follows from them: a
    /// verifier compares them with the keys it pinned (see [`Trust`]).
    #[serde(default)]
    pub public_keys: Vec<PublishedKey>,
    /// Every signed tree head, ascending by size, so a dropped tail shows against any of them.
    #[serde(default)]
    pub tree_heads: Vec<SignedTreeHead>,
    /// Every record, in sequence order.
    pub records: Vec<EvidenceRecord>,
}

impl ExportedLog {
    /// Reads an export of either format ([`EXPORT_FORMAT`] or [`EXPORT_FORMAT_V1`]).
    pub fn from_json(text: &str) -> Result<ExportedLog, String> {
        #[derive(Deserialize)]
        struct Probe {
            format: String,
        }
        #[derive(Deserialize)]
        struct V1 {
            public_key: Option<String>,
            tree_head: Option<SignedTreeHead>,
            records: Vec<EvidenceRecord>,
        }
        let probe: Probe = serde_json::from_str(text).map_err(|e| e.to_string())?;
        match probe.format.as_str() {
            EXPORT_FORMAT => serde_json::from_str(text).map_err(|e| e.to_string()),
            EXPORT_FORMAT_V1 => {
                let v1: V1 = serde_json::from_str(text).map_err(|e| e.to_string())?;
                let public_keys = match (&v1.public_key, &v1.tree_head) {
                    (Some(key), Some(head)) => vec![PublishedKey {
                        key_id: EvidencePublicKey::from_base64(key)
                            .map(|k| k.key_id())
                            .unwrap_or_default(),
                        public_key: key.clone(),
                        valid_from: head.timestamp,
                        retired_at: None,
                        status: KeyStatus::Current,
                    }],
                    _ => Vec::new(),
                };
                Ok(ExportedLog {
                    format: EXPORT_FORMAT.to_owned(),
                    service: None,
                    public_keys,
                    tree_heads: v1.tree_head.into_iter().collect(),
                    records: v1.records,
                })
            }
            other => Err(VerifyError::UnsupportedFormat {
                format: other.to_owned(),
            }
            .to_string()),
        }
    }
}

/// Which keys a verification accepts tree heads from.
#[derive(Clone, Copy, Debug)]
pub enum Trust<'a> {
    /// Keys the verifier pinned (published by the service, kept by a monitor).
    Pinned(&'a TrustedKeys),
    /// The keys the export itself carries: proves the log self-consistent, not whose it is.
    Embedded,
}

/// A head seen before (by a monitor, or noted by a court): the log must extend it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownHead {
    pub tree_size: i64,
    /// Hex root at that size.
    pub root_hash: String,
}

impl std::str::FromStr for KnownHead {
    type Err = String;

    /// `<size>:<root hex>`, as `zhiwang evidence verify --known-head` takes it.
    fn from_str(s: &str) -> Result<KnownHead, String> {
        let (size, root) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not <size>:<root hex>"))?;
        let tree_size: i64 = size
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{size:?} is not a tree size (a positive number)"))?;
        let root_hash = root.trim().to_ascii_lowercase();
        if decode_hash(&root_hash).is_none() {
            return Err(format!("{root:?} is not a root hash (64 hex digits)"));
        }
        Ok(KnownHead {
            tree_size,
            root_hash,
        })
    }
}

impl From<&SignedTreeHead> for KnownHead {
    fn from(h: &SignedTreeHead) -> KnownHead {
        KnownHead {
            tree_size: h.tree_size,
            root_hash: h.root_hash.clone(),
        }
    }
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
    /// Heads seen before that the log was shown to extend.
    pub known_heads_checked: usize,
}

/// Verifies an exported log: every record hash, the chain, sequence continuity, every signed
/// tree head (its root against the records, its signature by a key of `trust`), and that the
/// log extends each of `known` heads. The error names the first record or head found wrong. A
/// log without records, or without a signed head, proves nothing and is refused.
pub fn verify_export(
    log: &ExportedLog,
    trust: Trust<'_>,
    known: &[KnownHead],
) -> Result<VerifyReport, VerifyError> {
    if log.format != EXPORT_FORMAT {
        return Err(VerifyError::UnsupportedFormat {
            format: log.format.clone(),
        });
    }
    if log.records.is_empty() {
        return Err(VerifyError::EmptyLog);
    }
    if log.tree_heads.is_empty() {
        return Err(VerifyError::NoTreeHead);
    }
    let embedded;
    let keys = match trust {
        Trust::Pinned(keys) => keys,
        Trust::Embedded => {
            embedded = TrustedKeys::from_published(&ExportedLog::keys_of(log))
                .map_err(|_| VerifyError::InvalidPublicKey)?;
            &embedded
        }
    };
    for head in &log.tree_heads {
        check_signature(head, keys)?;
    }
    let mut chain = ChainVerifier::new(log.tree_heads.clone(), known.to_vec())?;
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

impl ExportedLog {
    fn keys_of(log: &ExportedLog) -> crate::keys::PublishedKeys {
        crate::keys::PublishedKeys {
            service: log.service.clone().unwrap_or_default(),
            keys: log.public_keys.clone(),
            checkpoint: None,
        }
    }
}

/// Checks a head's signature by the trusted key it names, in the verification vocabulary.
pub(crate) fn check_signature(
    head: &SignedTreeHead,
    keys: &TrustedKeys,
) -> Result<(), VerifyError> {
    let Some(key) = keys.get(&head.key_id) else {
        return Err(VerifyError::UnknownKey {
            tree_size: head.tree_size,
            key_id: head.key_id.clone(),
        });
    };
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
    /// The root at `tree_size` is not the one of a head seen before.
    Diverged { tree_size: i64 },
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
            // Labels come from the log under check: any i64 (overflow is no candidate).
            let candidates = [
                clues.successor.and_then(|s| s.checked_sub(1)),
                clues.predecessor.and_then(|p| p.checked_add(1)),
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
        Anomaly::Diverged { tree_size } => VerifyError::DivergesFromKnownHead { tree_size },
    }
}

/// The result of a successful walk.
pub(crate) struct ChainSummary {
    pub report: VerifyReport,
    pub frontier: Frontier,
}

/// A size at which the root is checked: a signed head, or a head seen before.
#[derive(Clone, Debug)]
struct Checkpoint {
    tree_size: i64,
    /// `None` if the root is malformed (it then matches nothing).
    root: Option<Hash>,
    /// The signed head, for the report; `None` for a known head.
    signed: Option<SignedTreeHead>,
}

/// Where a walk starts: after record `verified` (0 for the start of the log).
#[derive(Clone, Debug)]
pub(crate) struct ChainCursor {
    pub verified: i64,
    pub prev_hash: String,
    pub frontier: Frontier,
}

impl ChainCursor {
    pub fn start() -> ChainCursor {
        ChainCursor {
            verified: 0,
            prev_hash: GENESIS_PREV_HASH.to_owned(),
            frontier: Frontier::new(),
        }
    }
}

/// The in-order walk over the records (see the module docs).
pub(crate) struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    frontier: Frontier,
    /// Ascending by size.
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
    last_signed: Option<SignedTreeHead>,
    signed_checked: usize,
    known_checked: usize,
}

impl ChainVerifier {
    /// `heads` must already be signature-checked; heads and `known` may come in any order.
    pub fn new(
        heads: Vec<SignedTreeHead>,
        known: Vec<KnownHead>,
    ) -> Result<ChainVerifier, VerifyError> {
        Self::resume(ChainCursor::start(), heads, known)
    }

    /// A walk that goes on after `cursor`; checkpoints at or below its size are not checked.
    pub fn resume(
        cursor: ChainCursor,
        heads: Vec<SignedTreeHead>,
        known: Vec<KnownHead>,
    ) -> Result<ChainVerifier, VerifyError> {
        if let Some(h) = heads.iter().find(|h| h.tree_size < 0) {
            return Err(VerifyError::RootMismatch {
                tree_size: h.tree_size,
            });
        }
        let mut checkpoints: Vec<Checkpoint> = heads
            .into_iter()
            .map(|h| Checkpoint {
                tree_size: h.tree_size,
                root: h.root(),
                signed: Some(h),
            })
            .chain(known.into_iter().map(|k| Checkpoint {
                tree_size: k.tree_size,
                root: decode_hash(&k.root_hash),
                signed: None,
            }))
            .filter(|c| c.tree_size > cursor.verified || (cursor.verified == 0 && c.tree_size == 0))
            .collect();
        checkpoints.sort_by_key(|c| (c.tree_size, c.signed.is_none()));
        let mut chain = ChainVerifier {
            next_seq: cursor.verified + 1,
            prev_hash: cursor.prev_hash,
            frontier: cursor.frontier,
            checkpoints,
            next_checkpoint: 0,
            last_signed: None,
            signed_checked: 0,
            known_checked: 0,
        };
        chain.check_heads().map_err(|anomaly| match anomaly {
            Anomaly::Diverged { tree_size } => VerifyError::DivergesFromKnownHead { tree_size },
            _ => VerifyError::RootMismatch {
                tree_size: chain_size_of(&anomaly),
            },
        })?;
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
        self.check_heads()?;
        self.next_seq += 1;
        self.prev_hash.clone_from(&record.record_hash);
        Ok(())
    }

    /// Ends the walk: every checkpoint must have been reached.
    pub fn finish(self) -> Result<ChainSummary, VerifyError> {
        let records = self.next_seq - 1;
        if let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            return Err(match c.signed {
                Some(_) => VerifyError::Missing { seq: records + 1 },
                None => VerifyError::ShorterThanKnownHead {
                    tree_size: c.tree_size,
                    records,
                },
            });
        }
        let last = self.last_signed;
        Ok(ChainSummary {
            report: VerifyReport {
                records,
                sealed: last.as_ref().map_or(0, |h| h.tree_size),
                root_hash: last.as_ref().map(|h| h.root_hash.clone()),
                key_id: last.as_ref().map(|h| h.key_id.clone()),
                last_record_hash: self.prev_hash.clone(),
                tree_heads_checked: self.signed_checked,
                known_heads_checked: self.known_checked,
            },
            frontier: self.frontier,
        })
    }

    /// Where the walk stands: what a later walk resumes from.
    pub fn cursor(&self) -> ChainCursor {
        ChainCursor {
            verified: self.next_seq - 1,
            prev_hash: self.prev_hash.clone(),
            frontier: self.frontier.clone(),
        }
    }

    /// Compares every checkpoint of the current size with the current root.
    fn check_heads(&mut self) -> Result<(), Anomaly> {
        let size = self.frontier.size() as i64;
        while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.tree_size != size {
                break;
            }
            if c.root != Some(self.frontier.root()) {
                return Err(match c.signed {
                    Some(_) => Anomaly::Root { tree_size: size },
                    None => Anomaly::Diverged { tree_size: size },
                });
            }
            match &c.signed {
                Some(head) => {
                    self.last_signed = Some(head.clone());
                    self.signed_checked += 1;
                }
                None => self.known_checked += 1,
            }
            self.next_checkpoint += 1;
        }
        Ok(())
    }
}

fn chain_size_of(anomaly: &Anomaly) -> i64 {
    match anomaly {
        Anomaly::Root { tree_size } | Anomaly::Diverged { tree_size } => *tree_size,
        _ => 0,
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
            service: Some("grid".into()),
            public_keys: published(signer).keys,
            tree_heads: vec![head],
            records,
        }
    }

    fn published(signer: &EvidenceSigner) -> crate::keys::PublishedKeys {
        crate::keys::PublishedKeys {
            service: "grid".into(),
            keys: vec![PublishedKey {
                key_id: signer.key_id(),
                public_key: signer.public_key_base64(),
                valid_from: chrono::SubsecRound::trunc_subsecs(Utc::now(), 6),
                retired_at: None,
                status: KeyStatus::Current,
            }],
            checkpoint: None,
        }
    }

    /// Self-consistency only: the keys the log carries.
    fn self_check(log: &ExportedLog) -> Result<VerifyReport, VerifyError> {
        verify_export(log, Trust::Embedded, &[])
    }

    fn pinned(log: &ExportedLog, key: &EvidencePublicKey) -> Result<VerifyReport, VerifyError> {
        verify_export(log, Trust::Pinned(&TrustedKeys::new([*key])), &[])
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
        let report = self_check(&log).expect("intact");
        assert_eq!(
            (report.records, report.sealed, report.tree_heads_checked),
            (13, 13, 1)
        );
        assert_eq!(report.key_id, Some(signer.key_id()));
        pinned(&log, &signer.public_key()).expect("trusted key");
    }

    #[test]
    fn an_empty_or_unsealed_log_proves_nothing() {
        let signer = EvidenceSigner::generate();
        let mut empty = log(0, &signer);
        empty.tree_heads.clear();
        assert_eq!(self_check(&empty), Err(VerifyError::EmptyLog));
        assert_eq!(
            pinned(&empty, &signer.public_key()),
            Err(VerifyError::EmptyLog)
        );
        let mut unsealed = log(3, &signer);
        unsealed.tree_heads.clear();
        assert_eq!(
            pinned(&unsealed, &signer.public_key()),
            Err(VerifyError::NoTreeHead)
        );
    }

    #[test]
    fn a_log_resigned_with_another_key_fails_against_the_pinned_one() {
        let genuine = EvidenceSigner::generate();
        let forger = EvidenceSigner::generate();
        let mut log = log(6, &genuine);
        log.records[2].action = "declaration.reject".into();
        rechain(&mut log, 2);
        let leaves: Vec<Hash> = log.records.iter().filter_map(|r| r.leaf_hash()).collect();
        log.tree_heads = vec![forger.sign_tree_head(6, &merkle::root(&leaves), Utc::now())];
        log.public_keys = published(&forger).keys;
        assert!(
            self_check(&log).is_ok(),
            "self-consistent under the forger's key"
        );
        assert_eq!(
            pinned(&log, &genuine.public_key()),
            Err(VerifyError::UnknownKey {
                tree_size: 6,
                key_id: forger.key_id()
            })
        );
    }

    #[test]
    fn a_dropped_tail_or_a_rewrite_shows_against_a_head_seen_before() {
        let signer = EvidenceSigner::generate();
        let trusted = TrustedKeys::new([signer.public_key()]);
        let full = log(9, &signer);
        let seen = KnownHead::from(&full.tree_heads[0]);
        verify_export(&full, Trust::Pinned(&trusted), std::slice::from_ref(&seen))
            .expect("the log extends what was seen");
        // The tail dropped, an older genuine head attached: fine on its own, not against 9.
        let mut cut = full.clone();
        cut.records.truncate(5);
        let leaves: Vec<Hash> = cut.records.iter().filter_map(|r| r.leaf_hash()).collect();
        cut.tree_heads = vec![signer.sign_tree_head(5, &merkle::root(&leaves), Utc::now())];
        verify_export(&cut, Trust::Pinned(&trusted), &[]).expect("alone it looks fine");
        assert_eq!(
            verify_export(&cut, Trust::Pinned(&trusted), std::slice::from_ref(&seen)),
            Err(VerifyError::ShorterThanKnownHead {
                tree_size: 9,
                records: 5
            })
        );
        let mut rewritten = full.clone();
        let known_at_4 = KnownHead {
            tree_size: 4,
            root_hash: hex::encode(merkle::root(
                &rewritten.records[..4]
                    .iter()
                    .filter_map(|r| r.leaf_hash())
                    .collect::<Vec<_>>(),
            )),
        };
        rewritten.records[1].actor = "user/evil".into();
        rechain(&mut rewritten, 1);
        let leaves: Vec<Hash> = rewritten
            .records
            .iter()
            .filter_map(|r| r.leaf_hash())
            .collect();
        rewritten.tree_heads = vec![signer.sign_tree_head(9, &merkle::root(&leaves), Utc::now())];
        assert_eq!(
            verify_export(&rewritten, Trust::Pinned(&trusted), &[known_at_4]),
            Err(VerifyError::DivergesFromKnownHead { tree_size: 4 })
        );
        assert!("4:zz".parse::<KnownHead>().is_err());
        assert!(
            format!("0:{}", "a".repeat(64))
                .parse::<KnownHead>()
                .is_err()
        );
        assert_eq!(
            format!("9:{}", seen.root_hash.to_uppercase()).parse::<KnownHead>(),
            Ok(seen)
        );
    }

    #[test]
    fn every_head_of_the_export_is_checked() {
        let signer = EvidenceSigner::generate();
        let mut log = log(7, &signer);
        let leaves: Vec<Hash> = log.records[..3]
            .iter()
            .filter_map(|r| r.leaf_hash())
            .collect();
        let mut early = signer.sign_tree_head(3, &merkle::root(&leaves), Utc::now());
        log.tree_heads.insert(0, early.clone());
        assert_eq!(self_check(&log).expect("intact").tree_heads_checked, 2);
        early.root_hash = "0".repeat(64);
        log.tree_heads[0] = early;
        assert_eq!(
            self_check(&log),
            Err(VerifyError::BadSignature { tree_size: 3 })
        );
    }

    #[test]
    fn a_first_format_export_is_still_read() {
        let signer = EvidenceSigner::generate();
        let v2 = log(3, &signer);
        let v1 = json!({
            "format": EXPORT_FORMAT_V1,
            "public_key": signer.public_key_base64(),
            "tree_head": v2.tree_heads[0],
            "records": v2.records,
        });
        let read = ExportedLog::from_json(&v1.to_string()).expect("v1");
        assert_eq!(read.tree_heads, v2.tree_heads);
        pinned(&read, &signer.public_key()).expect("verifies");
    }

    #[test]
    fn an_edited_field_names_the_tampered_record() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records[6].action = "declaration.reject".into();
        assert_eq!(self_check(&log), Err(VerifyError::Tampered { seq: 7 }));
    }

    #[test]
    fn a_removed_record_is_named_missing() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records.remove(3);
        assert_eq!(self_check(&log), Err(VerifyError::Missing { seq: 4 }));
        let mut tail = self::log(10, &EvidenceSigner::generate());
        tail.records.pop();
        assert_eq!(self_check(&tail), Err(VerifyError::Missing { seq: 10 }));
    }

    #[test]
    fn swapped_records_are_named_out_of_order() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records.swap(2, 5);
        assert_eq!(
            self_check(&log),
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
            self_check(&log),
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
        assert_eq!(self_check(&log), Err(VerifyError::Duplicate { seq: 5 }));
    }

    #[test]
    fn an_edited_sequence_number_is_named_tampered() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records[4].seq = 9;
        assert_eq!(self_check(&log), Err(VerifyError::Tampered { seq: 5 }));
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
        assert_eq!(self_check(&log), Err(VerifyError::BrokenChain { seq: 6 }));
    }

    #[test]
    fn history_rewritten_consistently_fails_against_the_signed_root() {
        let mut log = log(10, &EvidenceSigner::generate());
        log.records[2].actor = "user/evil".into();
        rechain(&mut log, 2);
        assert_eq!(
            self_check(&log),
            Err(VerifyError::RootMismatch { tree_size: 10 })
        );
    }

    #[test]
    fn a_forged_signature_or_foreign_key_is_refused() {
        let signer = EvidenceSigner::generate();
        let mut log = log(5, &signer);
        if let Some(head) = log.tree_heads.first_mut() {
            let mut sig = head.signature.clone().into_bytes();
            sig[3] = if sig[3] == b'A' { b'B' } else { b'A' };
            head.signature = String::from_utf8(sig).expect("ascii");
        }
        assert_eq!(
            self_check(&log),
            Err(VerifyError::BadSignature { tree_size: 5 })
        );

        let other = EvidenceSigner::generate();
        let foreign = self::log(5, &other);
        assert!(
            self_check(&foreign).is_ok(),
            "self-consistent with its own key"
        );
        assert!(matches!(
            pinned(&foreign, &signer.public_key()),
            Err(VerifyError::UnknownKey { tree_size: 5, .. })
        ));
    }

    #[test]
    fn a_tree_head_beyond_the_records_names_the_first_missing_record() {
        let signer = EvidenceSigner::generate();
        let mut log = log(6, &signer);
        log.records.truncate(4);
        assert_eq!(self_check(&log), Err(VerifyError::Missing { seq: 5 }));
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
        full.tree_heads = vec![sealed_at_5];
        let report = self_check(&full).expect("valid");
        assert_eq!((report.records, report.sealed), (8, 5));
        full.records[7].object = "declaration/other".into();
        assert_eq!(self_check(&full), Err(VerifyError::Tampered { seq: 8 }));
    }

    #[test]
    fn an_unknown_format_is_refused() {
        let mut log = log(1, &EvidenceSigner::generate());
        log.format = "zhiwang-evidence-v0".into();
        assert!(matches!(
            self_check(&log),
            Err(VerifyError::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn an_export_round_trips_through_json() {
        let log = log(4, &EvidenceSigner::generate());
        let text = serde_json::to_string_pretty(&log).expect("serialize");
        let back: ExportedLog = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, log);
        self_check(&back).expect("still verifies");
    }

    #[test]
    fn labels_at_the_ends_of_i64_are_named_not_a_panic() {
        // A tampered record whose chain neighbour is labelled i64::MIN (or whose predecessor by
        // hash is labelled i64::MAX) overflowed the search for its place (a panic in debug).
        let mut log = log(3, &EvidenceSigner::generate());
        log.records[0].actor = "user/evil".into();
        log.records[1].seq = i64::MIN;
        assert_eq!(self_check(&log), Err(VerifyError::Tampered { seq: 1 }));
        let mut log = self::log(3, &EvidenceSigner::generate());
        log.records[0].actor = "user/evil".into();
        log.records[2].seq = i64::MAX;
        log.records[2].record_hash = GENESIS_PREV_HASH.into();
        assert_eq!(self_check(&log), Err(VerifyError::Tampered { seq: 1 }));
    }

    /// Exports fuzzed: arbitrary text never panics the reader or the verifier, and a valid
    /// export changed anywhere (a byte of its JSON, or one field of one record or head) either
    /// fails verification or still says the same: the same records under the same signed heads.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// What an export establishes, if it verifies: its records and its signed heads. (The
        /// `service` name and the published keys' metadata are not evidence: a verifier pins its
        /// own keys.)
        fn same_meaning(a: &ExportedLog, b: &ExportedLog) -> bool {
            a.records == b.records && a.tree_heads == b.tree_heads
        }

        /// Reads `text` as an export and verifies it both ways; whatever verifies must say what
        /// `original` says.
        fn check(
            text: &str,
            original: &ExportedLog,
            key: &EvidencePublicKey,
        ) -> Result<(), TestCaseError> {
            let Ok(read) = ExportedLog::from_json(text) else {
                return Ok(());
            };
            let pinned = pinned(&read, key);
            let embedded = self_check(&read);
            if pinned.is_ok() || embedded.is_ok() {
                prop_assert!(
                    same_meaning(&read, original),
                    "a changed export verified: {:?} / {:?}",
                    pinned,
                    embedded
                );
            }
            Ok(())
        }

        /// A valid export of 1 to 6 records, sealed at its full size and, for some, also earlier.
        fn export() -> impl Strategy<Value = (ExportedLog, EvidencePublicKey)> {
            (1i64..=6, any::<[u8; 32]>(), any::<bool>()).prop_map(|(n, secret, early)| {
                let signer = EvidenceSigner::from_secret_bytes(&secret);
                let mut log = log(n, &signer);
                if early && n > 1 {
                    let leaves: Vec<Hash> = log.records[..1]
                        .iter()
                        .filter_map(|r| r.leaf_hash())
                        .collect();
                    log.tree_heads.insert(
                        0,
                        signer.sign_tree_head(1, &merkle::root(&leaves), Utc::now()),
                    );
                }
                (log, signer.public_key())
            })
        }

        /// One field of one record or head, changed.
        #[derive(Debug, Clone)]
        enum Edit {
            Seq(i64),
            Actor(String),
            Action(String),
            Object(String),
            PayloadHash(usize),
            RecordedAt(i64),
            PrevHash(usize),
            RecordHash(usize),
            HeadSize(i64),
            HeadRoot(usize),
            HeadTime(i64),
            HeadKey(String),
            HeadSignature(usize),
        }

        fn edit() -> impl Strategy<Value = Edit> {
            let text = || "\\PC{0,12}";
            prop_oneof![
                prop_oneof![-3i64..=3, any::<i64>()].prop_map(Edit::Seq),
                text().prop_map(Edit::Actor),
                text().prop_map(Edit::Action),
                text().prop_map(Edit::Object),
                any::<usize>().prop_map(Edit::PayloadHash),
                prop_oneof![-2i64..=2, -1_000_000_000i64..1_000_000_000].prop_map(Edit::RecordedAt),
                any::<usize>().prop_map(Edit::PrevHash),
                any::<usize>().prop_map(Edit::RecordHash),
                prop_oneof![-3i64..=3, any::<i64>()].prop_map(Edit::HeadSize),
                any::<usize>().prop_map(Edit::HeadRoot),
                prop_oneof![-2i64..=2, -1_000_000_000i64..1_000_000_000].prop_map(Edit::HeadTime),
                text().prop_map(Edit::HeadKey),
                any::<usize>().prop_map(Edit::HeadSignature),
            ]
        }

        /// The `i`th character of a hex or base64 string changed to another of its alphabet.
        fn flip(s: &mut String, i: usize) {
            if s.is_empty() {
                s.push('0');
                return;
            }
            let mut bytes = s.clone().into_bytes();
            let at = i % bytes.len();
            bytes[at] = match bytes[at] {
                b'0' => b'1',
                b'f' => b'e',
                b'A' => b'B',
                b'=' => b'A',
                b'+' => b'/',
                b => b ^ 1,
            };
            *s = String::from_utf8_lossy(&bytes).into_owned();
        }

        fn apply(log: &mut ExportedLog, edit: &Edit, which: usize) {
            let n = log.records.len();
            let r = &mut log.records[which % n];
            let micros = chrono::Duration::microseconds;
            let h = log.tree_heads.len();
            let head = &mut log.tree_heads[which % h];
            match edit {
                Edit::Seq(d) => r.seq = r.seq.wrapping_add(*d),
                Edit::Actor(t) => r.actor.push_str(t),
                Edit::Action(t) => r.action = t.clone(),
                Edit::Object(t) => r.object.insert_str(0, t),
                Edit::PayloadHash(i) => flip(&mut r.payload_hash, *i),
                Edit::RecordedAt(d) => {
                    r.recorded_at = r
                        .recorded_at
                        .checked_add_signed(micros(*d))
                        .unwrap_or(r.recorded_at);
                }
                Edit::PrevHash(i) => flip(&mut r.prev_hash, *i),
                Edit::RecordHash(i) => flip(&mut r.record_hash, *i),
                Edit::HeadSize(d) => head.tree_size = head.tree_size.wrapping_add(*d),
                Edit::HeadRoot(i) => flip(&mut head.root_hash, *i),
                Edit::HeadTime(d) => {
                    head.timestamp = head
                        .timestamp
                        .checked_add_signed(micros(*d))
                        .unwrap_or(head.timestamp);
                }
                Edit::HeadKey(t) => head.key_id.push_str(t),
                Edit::HeadSignature(i) => flip(&mut head.signature, *i),
            }
        }

        proptest! {
            #![proptest_config(zw_testkit::fuzz::config(256))]

            #[test]
            fn fuzz_arbitrary_text_is_refused_without_a_panic(s in any::<String>()) {
                prop_assert!(ExportedLog::from_json(&s).is_err() || serde_json::from_str::<serde_json::Value>(&s).is_ok());
                let _ = s.parse::<KnownHead>();
                let _ = crate::record::rfc3339_micros::parse(&s);
                let _ = EvidencePublicKey::from_base64(&s);
            }

            #[test]
            fn fuzz_arbitrary_json_documents_are_refused_without_a_panic(
                records in prop::collection::vec(any::<(i64, String, String, String, String)>(), 0..4),
                heads in prop::collection::vec(any::<(i64, String, String, String)>(), 0..3),
                v1 in any::<bool>(),
            ) {
                // Export-shaped documents of arbitrary values: they reach the chain walk.
                let records: Vec<serde_json::Value> = records
                    .into_iter()
                    .map(|(seq, actor, payload, prev, hash)| json!({
                        "seq": seq, "actor": actor, "action": "a.b", "object": "o/1",
                        "payload_hash": payload, "recorded_at": "2026-11-30T08:15:00.123456Z",
                        "prev_hash": prev, "record_hash": hash,
                    }))
                    .collect();
                let heads: Vec<serde_json::Value> = heads
                    .into_iter()
                    .map(|(size, root, key, sig)| json!({
                        "tree_size": size, "root_hash": root, "key_id": key, "signature": sig,
                        "timestamp": "2026-11-30T08:15:00.123456Z",
                    }))
                    .collect();
                let doc = if v1 {
                    json!({"format": EXPORT_FORMAT_V1, "public_key": "AAAA", "tree_head": heads.first(), "records": records})
                } else {
                    json!({"format": EXPORT_FORMAT, "tree_heads": heads, "records": records})
                };
                let read = ExportedLog::from_json(&doc.to_string()).expect("export-shaped");
                prop_assert!(self_check(&read).is_err());
                let key = EvidenceSigner::from_secret_bytes(&[7; 32]).public_key();
                prop_assert!(pinned(&read, &key).is_err());
            }

            #[test]
            fn fuzz_arbitrary_records_under_a_genuine_head_verify_only_as_a_chain(
                specs in prop::collection::vec(
                    (prop_oneof![1i64..=6, any::<i64>()], "\\PC{0,6}", any::<bool>(), any::<bool>()),
                    1..6,
                ),
                size in 0i64..=7,
            ) {
                // Records of any labels, hashes and links, sealed by a genuine key: the walk and
                // its diagnosis run on them. Whatever verifies is a gapless, intact chain.
                let signer = EvidenceSigner::from_secret_bytes(&[9; 32]);
                let mut records: Vec<EvidenceRecord> = Vec::new();
                let mut prev = GENESIS_PREV_HASH.to_owned();
                for (seq, actor, hash_ok, linked) in specs {
                    let mut r = EvidenceRecord::new(seq, &actor, "a.b", "o/1", &payload_hash(&json!(seq)), Utc::now(), &prev);
                    if !hash_ok {
                        r.record_hash = r.compute_hash_as(seq.wrapping_add(1));
                    }
                    prev = if linked { r.record_hash.clone() } else { r.payload_hash.clone() };
                    records.push(r);
                }
                let leaves: Vec<Hash> = records.iter().filter_map(|r| r.leaf_hash()).collect();
                let covered = leaves.len().min(usize::try_from(size).unwrap_or(0));
                let head = signer.sign_tree_head(size, &merkle::root(&leaves[..covered]), Utc::now());
                let log = ExportedLog {
                    format: EXPORT_FORMAT.into(),
                    service: None,
                    public_keys: published(&signer).keys,
                    tree_heads: vec![head],
                    records,
                };
                if pinned(&log, &signer.public_key()).is_ok() {
                    let mut prev = GENESIS_PREV_HASH;
                    for (i, r) in log.records.iter().enumerate() {
                        prop_assert_eq!(r.seq, i as i64 + 1);
                        prop_assert!(r.hash_is_valid());
                        prop_assert_eq!(r.prev_hash.as_str(), prev);
                        prev = r.record_hash.as_str();
                    }
                    prop_assert!(size as usize <= log.records.len());
                }
                let _ = self_check(&log);
            }

            #[test]
            fn fuzz_a_valid_export_with_one_byte_changed_never_verifies_changed(
                (log, key) in export(),
                at in any::<usize>(),
                byte in any::<u8>(),
                pretty in any::<bool>(),
            ) {
                let text = if pretty {
                    serde_json::to_string_pretty(&log)
                } else {
                    serde_json::to_string(&log)
                }
                .expect("serialise");
                prop_assert!(pinned(&ExportedLog::from_json(&text).expect("reads"), &key).is_ok());
                let mut bytes = text.into_bytes();
                let at = at % bytes.len();
                prop_assume!(bytes[at] != byte);
                bytes[at] = byte;
                let _ = serde_json::from_slice::<ExportedLog>(&bytes);
                if let Ok(text) = String::from_utf8(bytes) {
                    check(&text, &log, &key)?;
                }
            }

            #[test]
            fn fuzz_a_valid_export_with_one_field_changed_fails(
                (log, key) in export(),
                edit in edit(),
                which in any::<usize>(),
                rechained in any::<bool>(),
            ) {
                let mut changed = log.clone();
                apply(&mut changed, &edit, which);
                if rechained {
                    // As a forger would: the chain made whole again after the edit.
                    rechain(&mut changed, 0);
                }
                prop_assume!(changed != log);
                prop_assert!(pinned(&changed, &key).is_err(), "{:?} verified", edit);
                prop_assert!(self_check(&changed).is_err(), "{:?} verified", edit);
                // And through JSON, as `zhiwang evidence verify` reads it.
                let text = serde_json::to_string(&changed).expect("serialise");
                check(&text, &log, &key)?;
            }
        }
    }
}
