//! Someone with database access edits, deletes, swaps or forges evidence: `verify_stored` and
//! `verify_export` each name the record (or tree head) concerned.

use zw_evidence::{EvidenceError, EvidenceSigner, VerifyError};
use zw_testkit::TestDb;

use crate::helpers::{Backend, append_n, drop_append_only_guard, fresh, on_both_backends, sql};

on_both_backends!(
    an_edited_record_is_named_tampered_by_both_verifiers,
    a_deleted_record_is_named_missing_by_both_verifiers,
    two_swapped_records_are_named_out_of_order_by_both_verifiers,
    a_forged_tree_head_signature_is_refused_by_both_verifiers,
    a_rewritten_and_rechained_record_fails_against_the_signed_root,
    deleting_the_newest_unsealed_record_is_caught_by_the_chain_head,
    a_record_inserted_behind_the_chain_head_is_named_injected,
);

/// A log of 12 records sealed at 8 and 12, with the append-only guard dropped.
async fn sealed_log(backend: Backend) -> (TestDb, EvidenceSigner) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    append_n(&db, 8).await;
    zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    append_n(&db, 4).await;
    zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    .expect("intact before");
    drop_append_only_guard(&db).await;
    (db, signer)
}

/// Runs both verifiers and returns their findings.
async fn findings(db: &TestDb, signer: &EvidenceSigner) -> (VerifyError, VerifyError) {
    let stored = match zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    {
        Err(EvidenceError::Verify(e)) => e,
        other => panic!("verify_stored should find the tampering, got {other:?}"),
    };
    let log = zw_evidence::export(&db.conn, "test").await.expect("export");
    let exported = zw_evidence::verify_export(&log, zw_evidence::Trust::Embedded, &[])
        .expect_err("verify_export should find it");
    (stored, exported)
}

async fn an_edited_record_is_named_tampered_by_both_verifiers(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    sql(
        &db,
        "UPDATE evidence_records SET action = 'declaration.reject' WHERE seq = 7",
    )
    .await;
    let (stored, exported) = findings(&db, &signer).await;
    assert_eq!(stored, VerifyError::Tampered { seq: 7 });
    assert_eq!(exported, VerifyError::Tampered { seq: 7 });
    assert_eq!(stored.seq(), Some(7));
    assert!(matches!(
        zw_evidence::inclusion_proof(&db.conn, 7, None).await,
        Err(EvidenceError::Corrupt(_))
    ));
}

async fn a_deleted_record_is_named_missing_by_both_verifiers(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    sql(&db, "DELETE FROM evidence_records WHERE seq = 5").await;
    let (stored, exported) = findings(&db, &signer).await;
    assert_eq!(stored, VerifyError::Missing { seq: 5 });
    assert_eq!(exported, VerifyError::Missing { seq: 5 });
}

async fn two_swapped_records_are_named_out_of_order_by_both_verifiers(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    sql(&db, "UPDATE evidence_records SET seq = -4 WHERE seq = 4").await;
    sql(&db, "UPDATE evidence_records SET seq = 4 WHERE seq = 3").await;
    sql(&db, "UPDATE evidence_records SET seq = 3 WHERE seq = -4").await;
    let (stored, exported) = findings(&db, &signer).await;
    assert_eq!(
        stored,
        VerifyError::OutOfOrder {
            seq: 4,
            position: 3
        }
    );
    assert_eq!(
        exported,
        VerifyError::OutOfOrder {
            seq: 4,
            position: 3
        }
    );
}

async fn a_forged_tree_head_signature_is_refused_by_both_verifiers(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    // Claim the 8-record root for the 12-record head, keeping the genuine signature.
    let old = zw_evidence::tree_head(&db.conn, 8)
        .await
        .expect("read")
        .expect("sealed");
    sql(
        &db,
        &format!(
            "UPDATE evidence_tree_heads SET root_hash = '{}' WHERE tree_size = 12",
            old.root_hash
        ),
    )
    .await;
    let (stored, exported) = findings(&db, &signer).await;
    assert_eq!(stored, VerifyError::BadSignature { tree_size: 12 });
    assert_eq!(exported, VerifyError::BadSignature { tree_size: 12 });

    // A head signed by someone else's key under our key id.
    let forger = EvidenceSigner::generate();
    let mut forged = forger.sign_tree_head(12, &[7u8; 32], chrono::Utc::now());
    forged.key_id = signer.key_id();
    let mut log = zw_evidence::export(&db.conn, "test").await.expect("export");
    *log.tree_heads.last_mut().expect("a head") = forged;
    assert_eq!(
        zw_evidence::verify_export(&log, zw_evidence::Trust::Embedded, &[]),
        Err(VerifyError::BadSignature { tree_size: 12 })
    );
}

async fn a_rewritten_and_rechained_record_fails_against_the_signed_root(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    // Rewrite record 12 with a consistent hash: the chain holds, the signed root does not.
    let mut r = zw_evidence::record(&db.conn, 12)
        .await
        .expect("read")
        .expect("exists");
    r.actor = "user/someone-else".into();
    r.record_hash = r.compute_hash();
    sql(
        &db,
        &format!(
            "UPDATE evidence_records SET actor = '{}', record_hash = '{}' WHERE seq = 12",
            r.actor, r.record_hash
        ),
    )
    .await;
    sql(
        &db,
        &format!("UPDATE evidence_head SET last_hash = '{}'", r.record_hash),
    )
    .await;
    let (stored, exported) = findings(&db, &signer).await;
    assert_eq!(stored, VerifyError::RootMismatch { tree_size: 12 });
    assert_eq!(exported, VerifyError::RootMismatch { tree_size: 12 });
}

async fn deleting_the_newest_unsealed_record_is_caught_by_the_chain_head(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    append_n(&db, 1).await;
    sql(&db, "DELETE FROM evidence_records WHERE seq = 13").await;
    match zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    {
        Err(EvidenceError::Verify(e)) => assert_eq!(e, VerifyError::Missing { seq: 13 }),
        other => panic!("expected record 13 missing, got {other:?}"),
    }
}

async fn a_record_inserted_behind_the_chain_head_is_named_injected(backend: Backend) {
    let (db, signer) = sealed_log(backend).await;
    let last = zw_evidence::record(&db.conn, 12)
        .await
        .expect("read")
        .expect("exists");
    let fake = zw_evidence::EvidenceRecord::new(
        13,
        "user/ghost",
        "declaration.accept",
        "declaration/ghost",
        &last.payload_hash,
        chrono::Utc::now(),
        &last.record_hash,
    );
    sql(
        &db,
        &format!(
            "INSERT INTO evidence_records (seq, actor, action, object, payload_hash, recorded_at, \
             prev_hash, record_hash) VALUES (13, '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
            fake.actor,
            fake.action,
            fake.object,
            fake.payload_hash,
            fake.recorded_at.to_rfc3339(),
            fake.prev_hash,
            fake.record_hash
        ),
    )
    .await;
    match zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    {
        Err(EvidenceError::Verify(e)) => assert_eq!(e, VerifyError::Injected { seq: 13 }),
        other => panic!("expected record 13 injected, got {other:?}"),
    }
}
