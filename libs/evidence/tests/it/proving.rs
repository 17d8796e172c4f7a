//! Sealing and proofs: inclusion for every record, consistency between signed heads, and the
//! citizen's view of his own declaration.

use serde_json::json;
use zw_evidence::{
    ConsistencyProof, EvidenceError, EvidencePublicKey, EvidenceSigner, InclusionProof,
};

use crate::helpers::{Backend, append_n, fresh, on_both_backends};

on_both_backends!(
    every_record_has_an_inclusion_proof_that_verifies_at_every_signed_size,
    a_record_not_yet_sealed_has_no_proof_and_says_so,
    sealing_without_new_records_returns_the_same_signed_head,
    every_newer_signed_head_provably_extends_every_older_one,
    a_consistency_proof_against_another_history_fails,
    a_citizen_fetches_his_declaration_with_its_proof_and_checks_both,
);

async fn every_record_has_an_inclusion_proof_that_verifies_at_every_signed_size(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    let key = signer.public_key();
    append_n(&db, 37).await;
    let first = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    assert_eq!(first.tree_size, 37);
    append_n(&db, 30).await;
    let second = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    assert_eq!(second.tree_size, 67);

    for seq in 1..=67 {
        let latest = zw_evidence::inclusion_proof(&db.conn, seq, None)
            .await
            .expect("proof");
        assert_eq!((latest.leaf_index, latest.tree_size), (seq - 1, 67));
        zw_evidence::verify_inclusion_proof(&latest, &key).expect("verifies at the latest head");
        if seq <= 37 {
            let pinned = zw_evidence::inclusion_proof(&db.conn, seq, Some(37))
                .await
                .expect("proof");
            assert_eq!(pinned.tree_head, first);
            zw_evidence::verify_inclusion_proof(&pinned, &key).expect("verifies at the older head");
        }
    }

    let proof = zw_evidence::inclusion_proof(&db.conn, 20, None)
        .await
        .expect("proof");
    let mut wrong_record = proof.clone();
    wrong_record.record = zw_evidence::record(&db.conn, 21)
        .await
        .expect("read")
        .expect("exists");
    wrong_record.leaf_index = 20;
    assert!(matches!(
        zw_evidence::verify_inclusion_proof(&wrong_record, &key),
        Err(EvidenceError::ProofInvalid(_))
    ));
    let mut edited = proof.clone();
    edited.record.action = "declaration.reject".into();
    assert!(matches!(
        zw_evidence::verify_inclusion_proof(&edited, &key),
        Err(EvidenceError::RecordHashMismatch { seq: 20 })
    ));
    let mut bent = proof.clone();
    bent.audit_path[2] = bent.audit_path[1].clone();
    assert!(matches!(
        zw_evidence::verify_inclusion_proof(&bent, &key),
        Err(EvidenceError::ProofInvalid(_))
    ));
    let stranger = EvidenceSigner::generate().public_key();
    assert!(matches!(
        zw_evidence::verify_inclusion_proof(&proof, &stranger),
        Err(EvidenceError::KeyMismatch { .. })
    ));
}

async fn a_record_not_yet_sealed_has_no_proof_and_says_so(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    append_n(&db, 3).await;
    assert!(matches!(
        zw_evidence::inclusion_proof(&db.conn, 2, None).await,
        Err(EvidenceError::NotYetSealed { seq: 2 })
    ));
    zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    append_n(&db, 1).await;
    assert!(matches!(
        zw_evidence::inclusion_proof(&db.conn, 4, None).await,
        Err(EvidenceError::NotYetSealed { seq: 4 })
    ));
    assert!(matches!(
        zw_evidence::inclusion_proof(&db.conn, 99, None).await,
        Err(EvidenceError::RecordNotFound { seq: 99 })
    ));
    assert!(matches!(
        zw_evidence::inclusion_proof(&db.conn, 1, Some(2)).await,
        Err(EvidenceError::TreeHeadNotFound { tree_size: 2 })
    ));
    assert!(matches!(
        zw_evidence::inclusion_proof(&db.conn, 4, Some(3)).await,
        Err(EvidenceError::InvalidInput(_))
    ));
}

async fn sealing_without_new_records_returns_the_same_signed_head(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    let empty = zw_evidence::seal(&db.conn, &signer)
        .await
        .expect("seal the empty log");
    assert_eq!(empty.tree_size, 0);
    assert_eq!(empty.root_hash, hex_sha256_of_nothing());
    zw_evidence::verify_tree_head(&empty, &signer.public_key()).expect("signed");

    append_n(&db, 4).await;
    let head = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    let again = zw_evidence::seal(&db.conn, &signer)
        .await
        .expect("seal again");
    assert_eq!(again, head);
    assert_eq!(
        zw_evidence::latest_tree_head(&db.conn).await.expect("read"),
        Some(head.clone())
    );
    assert_eq!(
        zw_evidence::tree_head(&db.conn, 0).await.expect("read"),
        Some(empty)
    );
}

fn hex_sha256_of_nothing() -> String {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned()
}

async fn every_newer_signed_head_provably_extends_every_older_one(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    let key = signer.public_key();
    let mut sizes = Vec::new();
    for batch in [1, 1, 3, 3, 5, 8, 16, 1] {
        append_n(&db, batch).await;
        sizes.push(
            zw_evidence::seal(&db.conn, &signer)
                .await
                .expect("seal")
                .tree_size,
        );
    }
    assert_eq!(sizes, vec![1, 2, 5, 8, 13, 21, 37, 38]);
    for (i, old) in sizes.iter().enumerate() {
        for new in &sizes[i..] {
            let proof = zw_evidence::consistency_proof(&db.conn, *old, *new)
                .await
                .expect("proof");
            zw_evidence::verify_consistency_proof(&proof, &key)
                .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
        }
    }
    assert!(matches!(
        zw_evidence::consistency_proof(&db.conn, 8, 5).await,
        Err(EvidenceError::InvalidInput(_))
    ));
    assert!(matches!(
        zw_evidence::consistency_proof(&db.conn, 3, 8).await,
        Err(EvidenceError::TreeHeadNotFound { tree_size: 3 })
    ));
}

async fn a_consistency_proof_against_another_history_fails(backend: Backend) {
    let signer = EvidenceSigner::generate();
    let key = signer.public_key();
    let ours = fresh(backend).await;
    let theirs = fresh(backend).await;
    for db in [&ours, &theirs] {
        append_n(db, 5).await;
        zw_evidence::seal(&db.conn, &signer).await.expect("seal");
        append_n(db, 6).await;
        zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    }
    let genuine = zw_evidence::consistency_proof(&ours.conn, 5, 11)
        .await
        .expect("proof");
    zw_evidence::verify_consistency_proof(&genuine, &key).expect("verifies");

    // Same key, same sizes, different records (their timestamps differ): a forked history.
    let other_old = zw_evidence::tree_head(&theirs.conn, 5)
        .await
        .expect("read")
        .expect("sealed");
    assert_ne!(other_old.root_hash, genuine.old.root_hash);
    let forked = ConsistencyProof {
        old: other_old,
        ..genuine.clone()
    };
    assert!(matches!(
        zw_evidence::verify_consistency_proof(&forked, &key),
        Err(EvidenceError::ProofInvalid(_))
    ));
    let mut bent = genuine.clone();
    bent.proof.reverse();
    assert!(zw_evidence::verify_consistency_proof(&bent, &key).is_err());
}

async fn a_citizen_fetches_his_declaration_with_its_proof_and_checks_both(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    let declaration = json!({
        "resident_id": "440304199001011234",
        "address": "福田区 莲花街道 1栋 101",
        "moved_in": "2026-02-20",
    });
    append_n(&db, 6).await;
    zw_evidence::append(
        &db.conn,
        "citizen/42",
        "declaration.submit",
        "declaration/0190abc",
        &declaration,
    )
    .await
    .expect("submit");
    append_n(&db, 3).await;
    zw_evidence::append(
        &db.conn,
        "grid-worker/9",
        "declaration.accept",
        "declaration/0190abc",
        &json!({"by": 9}),
    )
    .await
    .expect("accept");
    zw_evidence::seal(&db.conn, &signer).await.expect("seal");

    // Server side: find the evidence of the declaration and prove the submission.
    let trail = zw_evidence::records_for_object(&db.conn, "declaration/0190abc")
        .await
        .expect("read");
    assert_eq!(
        trail
            .iter()
            .map(|r| (r.seq, r.action.as_str()))
            .collect::<Vec<_>>(),
        vec![(7, "declaration.submit"), (11, "declaration.accept")]
    );
    let proof = zw_evidence::inclusion_proof(&db.conn, trail[0].seq, None)
        .await
        .expect("proof");
    let wire = serde_json::to_string(&proof).expect("serialize");

    // Client side: only the published key, the proof as received and his own declaration.
    let published = EvidencePublicKey::from_base64(&signer.public_key_base64()).expect("key");
    let received: InclusionProof = serde_json::from_str(&wire).expect("deserialize");
    zw_evidence::verify_inclusion_proof(&received, &published).expect("in the signed log");
    assert!(
        received.record.matches_payload(&declaration),
        "about his declaration"
    );
    let mut altered = declaration.clone();
    altered["moved_in"] = json!("2026-03-01");
    assert!(!received.record.matches_payload(&altered));
    assert!(!received.record.payload_hash.is_empty() && !wire.contains("440304199001011234"));
}
