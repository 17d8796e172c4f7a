//! The two error types: [`EvidenceError`] for operations, [`VerifyError`] for a verification
//! that found the log untrustworthy (it names the record).

use sea_orm::DbErr;

/// Why an evidence operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The database failed (connection, constraint, serialisation failure under a stricter
    /// isolation level than READ COMMITTED…).
    #[error("evidence database error: {0}")]
    Database(#[from] DbErr),
    /// The evidence tables are missing or their head row is: the database keeps no log (the
    /// service has none, or its migration has not run).
    #[error("this database keeps no evidence log (its evidence tables do not exist)")]
    NotMigrated,
    /// The signing key file is missing, unreadable or invalid.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyFileError),
    /// The service found its stored log tampered with: it no longer seals or serves proofs.
    #[error("the evidence log was tampered with: {0}")]
    Tampered(String),
    /// A caller-supplied value is unusable (empty action, negative size…).
    #[error("invalid evidence request: {0}")]
    InvalidInput(String),
    /// No record with this sequence number.
    #[error("evidence record {seq} does not exist")]
    RecordNotFound {
        /// The sequence number asked for.
        seq: i64,
    },
    /// The record exists but no signed tree head covers it yet: call [`crate::seal`] first.
    #[error("evidence record {seq} is not covered by a signed tree head yet")]
    NotYetSealed {
        /// The record.
        seq: i64,
    },
    /// No signed tree head of this size was ever sealed.
    #[error("no signed tree head of size {tree_size}")]
    TreeHeadNotFound {
        /// The size asked for.
        tree_size: i64,
    },
    /// Stored evidence state is inconsistent (bad hex, a missing Merkle node, a proof that does
    /// not reach the signed root): the store was damaged or tampered with; run
    /// [`crate::verify_stored`].
    #[error("stored evidence is inconsistent: {0}")]
    Corrupt(String),
    /// A public key that is not a valid Ed25519 key in base64.
    #[error("invalid evidence public key")]
    InvalidPublicKey,
    /// The tree head names a different signing key than the one given.
    #[error("tree head signed by key {found}, expected key {expected}")]
    KeyMismatch {
        /// Key id of the key given.
        expected: String,
        /// Key id the tree head names.
        found: String,
    },
    /// The tree head's signature does not verify (or the head is malformed).
    #[error("the signature of the tree head of size {tree_size} does not verify")]
    BadSignature {
        /// Size of the tree head.
        tree_size: i64,
    },
    /// The record's fields do not hash to its `record_hash`.
    #[error("evidence record {seq} does not match its record hash")]
    RecordHashMismatch {
        /// The record.
        seq: i64,
    },
    /// An inclusion or consistency proof does not verify against its signed tree head(s).
    #[error("proof does not verify: {0}")]
    ProofInvalid(String),
    /// Verification of the stored log failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A checkpoint or cosignature sent to the log was refused.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The `evidence.*` settings are unusable (a witness key that does not parse).
    #[error("evidence settings: {0}")]
    Settings(String),
}

/// What verification found wrong, naming the record (by `seq`) or tree head concerned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The export is not in a format this version reads.
    #[error("unsupported evidence export format {format:?}")]
    UnsupportedFormat {
        /// The format found.
        format: String,
    },
    /// The record's contents were changed: its fields do not hash to its `record_hash`.
    #[error("evidence record {seq} was tampered with: its contents do not match its hash")]
    Tampered {
        /// The record.
        seq: i64,
    },
    /// The record hashes correctly but does not chain onto its predecessor (`prev_hash` differs
    /// from record `seq - 1`'s hash): a record was forged, or its predecessor rewritten.
    #[error("evidence record {seq} does not chain onto record {}", seq - 1)]
    BrokenChain {
        /// The record whose link is broken.
        seq: i64,
    },
    /// The record is absent: a gap in the sequence, or a tree head covering more records than
    /// the log holds.
    #[error("evidence record {seq} is missing")]
    Missing {
        /// The first missing record.
        seq: i64,
    },
    /// A genuine record sits at the wrong position (`position` is the sequence number the slot
    /// belongs to).
    #[error("evidence record {seq} is out of order: found where record {position} belongs")]
    OutOfOrder {
        /// The misplaced record's true sequence number.
        seq: i64,
        /// Where it was found.
        position: i64,
    },
    /// A record appears twice.
    #[error("evidence record {seq} appears more than once")]
    Duplicate {
        /// The record.
        seq: i64,
    },
    /// A record is in the stored log but was not appended through the chain head (the head
    /// row stops before it).
    #[error("evidence record {seq} was not appended through the evidence chain head")]
    Injected {
        /// The first such record.
        seq: i64,
    },
    /// The records chain correctly but their Merkle root differs from the signed one: the log
    /// was rewritten consistently after the head was signed.
    #[error("the records do not produce the signed root of the tree head of size {tree_size}")]
    RootMismatch {
        /// Size of the tree head.
        tree_size: i64,
    },
    /// A tree head's signature does not verify.
    #[error("the signature of the tree head of size {tree_size} does not verify")]
    BadSignature {
        /// Size of the tree head.
        tree_size: i64,
    },
    /// A tree head names another signing key than the trusted one.
    #[error("the tree head of size {tree_size} is signed by key {found}, expected {expected}")]
    KeyMismatch {
        /// Size of the tree head.
        tree_size: i64,
        /// The trusted key id.
        expected: String,
        /// The key id found.
        found: String,
    },
    /// The public key is not a valid Ed25519 key in base64 (or absent while a head is present).
    #[error("the evidence public key is missing or invalid")]
    InvalidPublicKey,
    /// Verification against a trusted key requires a signed tree head, and there is none.
    #[error("the evidence log carries no signed tree head")]
    NoTreeHead,
    /// The log holds no records: nothing is proven.
    #[error("the log holds no records: nothing is proven")]
    EmptyLog,
    /// A tree head is signed by a key the verifier does not trust.
    #[error(
        "the tree head of size {tree_size} is signed by key {key_id}, which is not among the trusted keys"
    )]
    UnknownKey {
        /// Size of the tree head.
        tree_size: i64,
        /// The key id it names.
        key_id: String,
    },
    /// The log's root at the size of a head seen before is another one: it was rewritten.
    #[error(
        "the log does not extend the head of size {tree_size} seen before: its first {tree_size} records were rewritten"
    )]
    DivergesFromKnownHead {
        /// Size of the known head.
        tree_size: i64,
    },
    /// The log is shorter than a head seen before: its tail was dropped.
    #[error(
        "the log holds {records} records but a head of size {tree_size} was seen before: its tail was dropped"
    )]
    ShorterThanKnownHead {
        /// Size of the known head.
        tree_size: i64,
        /// Records the log holds.
        records: i64,
    },
    /// The stored Merkle frontier (used for future roots) disagrees with the records.
    #[error("the stored Merkle frontier disagrees with the records")]
    FrontierMismatch,
}

impl VerifyError {
    /// The record this error names, if it names one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            VerifyError::Tampered { seq }
            | VerifyError::BrokenChain { seq }
            | VerifyError::Missing { seq }
            | VerifyError::OutOfOrder { seq, .. }
            | VerifyError::Duplicate { seq }
            | VerifyError::Injected { seq } => Some(*seq),
            _ => None,
        }
    }
}
