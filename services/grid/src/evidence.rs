//! The grid's evidence log: periodic sealing, and proofs for clients.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use zw_evidence::{EvidenceSigner, InclusionProof};

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
