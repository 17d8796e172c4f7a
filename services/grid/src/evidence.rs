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
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    Ok(ObjectProofs {
        public_key: signer.public_key_base64(),
        proofs: proofs_for_seqs(db, signer, &seqs).await?,
    })
}

/// The inclusion proofs of records `seqs`, in that order, against the latest signed tree head
/// (sealing first when it does not cover them all yet).
pub async fn proofs_for_seqs(
    db: &DatabaseConnection,
    signer: &EvidenceSigner,
    seqs: &[i64],
) -> Result<Vec<InclusionProof>, ApiError> {
    let Some(last) = seqs.iter().max() else {
        return Ok(Vec::new());
    };
    let needs_seal = match zw_evidence::latest_tree_head(db).await? {
        Some(head) => *last > head.tree_size,
        None => true,
    };
    if needs_seal {
        zw_evidence::seal(db, signer).await?;
    }
    let mut proofs = Vec::with_capacity(seqs.len());
    for seq in seqs {
        proofs.push(zw_evidence::inclusion_proof(db, *seq, None).await?);
    }
    Ok(proofs)
}
