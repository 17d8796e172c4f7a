//! The proofs a citizen's client checks for his own records.

use serde::Serialize;
use zw_evidence::{EvidenceLog, InclusionProof};

use crate::error::ApiError;

/// The proofs a citizen's client checks.
#[derive(Debug, Serialize)]
pub struct ObjectProofs {
    /// Base64 Ed25519 public key that signs the tree heads now (every key the service ever
    /// signed with: `GET /api/v1/grid/evidence/keys`).
    pub public_key: String,
    pub proofs: Vec<InclusionProof>,
}

/// Every record about `object`, each with its inclusion proof (sealing first if needed).
pub async fn proofs_for(log: &EvidenceLog, object: &str) -> Result<ObjectProofs, ApiError> {
    let records = zw_evidence::records_for_object(log.db(), object).await?;
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    Ok(ObjectProofs {
        public_key: log.public_key_base64(),
        proofs: log.inclusion_proofs(&seqs).await?,
    })
}
