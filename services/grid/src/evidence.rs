//! The grid's evidence log: its signing key, periodic sealing, and proofs for clients.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};
use serde::Serialize;
use zw_evidence::{EvidenceSigner, InclusionProof, SignedTreeHead};

use crate::error::ApiError;

/// The signing key of this service's tree heads, kept in its own database (created on first
/// start). An operator who wants the key outside the database supplies it as a secret instead
/// (a later release); the public key is published with every tree head.
pub async fn load_or_create_signer(db: &DatabaseConnection) -> anyhow::Result<EvidenceSigner> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT secret FROM evidence_signing_keys WHERE id = 1",
        ))
        .await?;
    if let Some(row) = row {
        let hex_secret: String = row.try_get("", "secret")?;
        let bytes: [u8; 32] = hex::decode(hex_secret)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("stored evidence key is not 32 bytes"))?;
        return Ok(EvidenceSigner::from_secret_bytes(&bytes));
    }
    let signer = EvidenceSigner::generate();
    // Two replicas starting at once: the second insert does nothing and both read the winner.
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO evidence_signing_keys (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        [Value::from(hex::encode(signer.to_secret_bytes()))],
    ))
    .await?;
    Box::pin(load_or_create_signer(db)).await
}

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
