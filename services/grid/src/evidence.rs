//! The grid's evidence log: periodic sealing, and proofs for clients.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use zw_evidence::{EvidenceSigner, InclusionProof, SignedTreeHead};

use crate::error::ApiError;

/// The proofs a citizen's client checks.
#[derive(Debug, Serialize)]
pub struct ObjectProofs {
    /// Base64 Ed25519 public key that signs the tree heads.
    pub public_key: String,
    pub proofs: Vec<InclusionProof>,
}

/// Every record about `object`, each with its inclusion proof (sealing first if needed).
pub async fn proofs_for(
    db: &DatabaseConnection,
    signer: &EvidenceSigner,
    object: &str,
) -> Result<ObjectProofs, ApiError> {
    let records = zw_evidence::records_for_object(db, object).await?;
    let needs_seal = match zw_evidence::latest_tree_head(db).await? {
        Some(head) => records.iter().any(|r| r.seq > head.tree_size),
        None => !records.is_empty(),
    };
    if needs_seal {
        zw_evidence::seal(db, signer).await?;
    }
    let mut proofs = Vec::with_capacity(records.len());
    for r in records {
        proofs.push(zw_evidence::inclusion_proof(db, r.seq, None).await?);
    }
    Ok(ObjectProofs {
        public_key: signer.public_key_base64(),
        proofs,
    })
}

/// The current signed tree head (sealing what is new first).
#[derive(Debug, Serialize)]
pub struct CurrentHead {
    pub public_key: String,
    pub tree_head: SignedTreeHead,
}

pub async fn current_head(
    db: &DatabaseConnection,
    signer: &EvidenceSigner,
) -> Result<CurrentHead, ApiError> {
    let tree_head = zw_evidence::seal(db, signer).await?;
    Ok(CurrentHead {
        public_key: signer.public_key_base64(),
        tree_head,
    })
}

/// Seal new records every `every` until `stop` is cancelled, so tree heads stay fresh even when
/// nobody asks for a proof.
pub fn spawn_sealer(
    db: DatabaseConnection,
    signer: std::sync::Arc<EvidenceSigner>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = zw_evidence::seal(&db, &signer).await {
                        tracing::warn!(error = %e, "sealing the evidence log failed; will retry");
                    }
                }
            }
        }
    })
}
