//! Evidence (信息证据化): an append-only, hash-chained record of every state change, sealed
//! into an RFC 6962 Merkle tree whose head is signed with Ed25519. Each service keeps its log in
//! its own database and appends in the same transaction as the change it records.
//!
//! # Map
//! - [`merkle`]: pure RFC 6962 hashing, inclusion and consistency proofs, RFC 9162
//!   verification, and the [`merkle::Frontier`] that lets the store avoid reading every leaf.
//! - [`record`](mod@record): [`EvidenceRecord`], the canonical record encoding behind `record_hash`, and
//!   [`payload_hash`] over canonical JSON (payloads are hashed, never stored).
//! - [`tree_head`](mod@tree_head): [`SignedTreeHead`], [`EvidenceSigner`], [`EvidencePublicKey`],
//!   [`verify_tree_head`].
//! - [`proof`]: [`InclusionProof`] / [`ConsistencyProof`] and the checks a citizen's client or a
//!   monitor runs offline ([`verify_inclusion_proof`], [`verify_consistency_proof`]).
//! - [`verify`]: [`ExportedLog`] and [`verify_export`], which names the first tampered, missing
//!   or out-of-order record ([`VerifyError`]).
//! - `store` (re-exported here): the database side — [`append`], [`seal`], the finders,
//!   [`inclusion_proof`], [`consistency_proof`], [`export`], [`verify_stored`].
//! - [`at_commit`]: records a write operation appends just before it commits, so that the chain's
//!   lock is held for the append and the commit only ([`at_commit::collect`],
//!   [`at_commit::append_at_commit`]).
//! - [`group`](mod@group): [`GroupAppender`], group commit for many concurrent callers whose
//!   records need not commit with a change of their own (one writer, one transaction per batch).
//! - [`migration`]: the tables, for a service's own `Migrator` ([`migrations`]).
//! - [`error`]: [`EvidenceError`], [`VerifyError`].
//! - [`keys`]: the signing keys, kept in a key file outside the database, with their history;
//!   what a service publishes of them ([`PublishedKeys`]) and what a verifier trusts
//!   ([`TrustedKeys`]).
//! - [`log`](mod@log): [`EvidenceLog`], a service's log at run time: sealing, proofs checked
//!   before they are served, and the guard that verifies the stored chain and reports tampering.
//! - [`checkpoint`]: the signed tree head as a C2SP checkpoint (a signed note), and the
//!   witnesses' `cosignature/v1` lines the log accepts and shows with it.
//! - [`http`]: the public routes (`…/evidence/keys`, `…/tree-head`, `…/consistency`,
//!   `…/checkpoint`) and the problem for each evidence error.
//!
//! # Use in a service
//! ```ignore
//! let txn = db.begin_write().await?;
//! declaration.insert(&txn).await?;
//! zw_evidence::append(&txn, &actor, "declaration.submit", &format!("declaration/{id}"), &payload).await?;
//! txn.commit().await?;
//! // periodically, or before answering a proof request:
//! let log = zw_evidence::EvidenceLog::open_with(db.clone(), "grid", &settings).await?;
//! log.spawn_guard(seal_every, full_every, stop); // checks and seals in the background
//! let proofs = log.inclusion_proofs(&[seq]).await?;
//! ```

pub mod at_commit;
pub mod checkpoint;
pub mod error;
pub mod group;
pub mod http;
pub mod keys;
pub mod log;
pub mod merkle;
pub mod migration;
pub mod proof;
pub mod record;
mod store;
pub mod tree_head;
pub mod verify;

pub use checkpoint::{CheckpointError, Cosignature, Witness};
pub use error::{EvidenceError, VerifyError};
pub use group::GroupAppender;
pub use keys::{
    CheckpointKey, KeyFile, KeyFileError, KeyStatus, PublishedKey, PublishedKeys, TrustedKeys,
};
pub use log::{CheckpointSettings, EvidenceLog, PublishedHead};
pub use migration::migrations;
pub use proof::{
    ConsistencyProof, InclusionProof, verify_consistency_proof, verify_consistency_proof_across,
    verify_inclusion_proof,
};
pub use record::{EvidenceRecord, GENESIS_PREV_HASH, canonical_json, payload_hash};
pub use store::{
    NewEvidence, append, append_many, consistency_proof, export, inclusion_proof, latest_tree_head,
    record, records_for_object, seal, tree_head, verify_stored,
};
pub use tree_head::{EvidencePublicKey, EvidenceSigner, SignedTreeHead, verify_tree_head};
pub use verify::{EXPORT_FORMAT, ExportedLog, KnownHead, Trust, VerifyReport, verify_export};
