//! Where a service keeps the key that signs its tree heads, and the task that signs them.
//!
//! The key is one row in the service's own database, created on first start. Anyone with the database could sign a rewritten log, so a monitor
//! keeps the published public key and the tree heads it has seen (consistency proofs then expose
//! a rewrite); keeping the key in a secret store instead is a deployment option to come.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, Value};
use serde::{Deserialize, Serialize};

use crate::error::EvidenceError;
use crate::tree_head::SignedTreeHead;

use crate::tree_head::EvidenceSigner;

/// The service's signer: the stored key, or a new one stored now. Safe when replicas start
/// together (the first insert wins, everyone reads it).
pub async fn load_or_create_signer<C: ConnectionTrait>(
    conn: &C,
) -> Result<EvidenceSigner, EvidenceError> {
    if let Some(signer) = load(conn).await? {
        return Ok(signer);
    }
    let fresh = EvidenceSigner::generate();
    conn.execute_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        "INSERT INTO evidence_signing_key (id, secret, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
        [
            Value::from(hex::encode(fresh.to_secret_bytes())),
            Value::from(Utc::now()),
        ],
    ))
    .await?;
    load(conn)
        .await?
        .ok_or_else(|| EvidenceError::Corrupt("the evidence signing key was not stored".into()))
}

async fn load<C: ConnectionTrait>(conn: &C) -> Result<Option<EvidenceSigner>, EvidenceError> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT secret FROM evidence_signing_key WHERE id = 1",
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let secret: String = row.try_get("", "secret")?;
    let bytes: [u8; 32] = hex::decode(secret)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            EvidenceError::Corrupt("the stored evidence signing key is not 32 bytes".into())
        })?;
    Ok(Some(EvidenceSigner::from_secret_bytes(&bytes)))
}

/// Seal new records every `every` until `stop` is cancelled, so tree heads stay fresh even when
/// nobody asks for a proof.
pub fn spawn_sealer(
    db: DatabaseConnection,
    signer: std::sync::Arc<EvidenceSigner>,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = crate::seal(&db, &signer).await {
                        tracing::warn!(error = %e, "sealing the evidence log failed; will retry");
                    }
                }
            }
        }
    })
}

/// What a service publishes of its log: the latest signed tree head and the key that signs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedHead {
    /// Base64 Ed25519 public key.
    pub public_key: String,
    pub tree_head: SignedTreeHead,
}

/// Seal what is new and return the head to publish.
pub async fn publish_head<C: ConnectionTrait>(
    conn: &C,
    signer: &EvidenceSigner,
) -> Result<PublishedHead, EvidenceError> {
    let tree_head = crate::seal(conn, signer).await?;
    Ok(PublishedHead {
        public_key: signer.public_key_base64(),
        tree_head,
    })
}
