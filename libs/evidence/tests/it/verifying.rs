//! Exporting and verifying an intact log.

use zw_evidence::{EXPORT_FORMAT, EvidenceSigner, ExportedLog, VerifyError};

use crate::helpers::{Backend, append_n, fresh, on_both_backends};

on_both_backends!(
    an_exported_log_verifies_offline_after_a_round_trip_through_json,
    verify_stored_checks_every_signed_head_of_an_intact_log,
    an_exported_log_of_another_service_fails_against_our_published_key,
);

async fn an_exported_log_verifies_offline_after_a_round_trip_through_json(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    append_n(&db, 21).await;
    let head = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    append_n(&db, 2).await;

    let log = zw_evidence::export(&db.conn, "test").await.expect("export");
    assert_eq!(log.format, EXPORT_FORMAT);
    assert_eq!(log.public_keys.len(), 1);
    assert_eq!(log.public_keys[0].public_key, signer.public_key_base64());
    assert_eq!(log.tree_heads.len(), 1, "every head, here the one sealed");
    let file = serde_json::to_vec_pretty(&log).expect("serialize");
    let read: ExportedLog = serde_json::from_slice(&file).expect("deserialize");

    let report =
        zw_evidence::verify_export(&read, zw_evidence::Trust::Embedded, &[]).expect("intact");
    assert_eq!((report.records, report.sealed), (23, 21));
    assert_eq!(report.root_hash, Some(head.root_hash.clone()));
    assert_eq!(report.key_id, Some(signer.key_id()));
    assert_eq!(report.last_record_hash, read.records[22].record_hash);
    zw_evidence::verify_export(
        &read,
        zw_evidence::Trust::Pinned(&zw_evidence::TrustedKeys::new([signer.public_key()])),
        &[],
    )
    .expect("trusted key");
}

async fn verify_stored_checks_every_signed_head_of_an_intact_log(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    zw_evidence::seal(&db.conn, &signer)
        .await
        .expect("seal the empty log");
    for batch in [3, 1, 12, 7] {
        append_n(&db, batch).await;
        zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    }
    append_n(&db, 2).await;
    let report = zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    .expect("intact");
    assert_eq!(
        (report.records, report.sealed, report.tree_heads_checked),
        (25, 23, 5)
    );

    let other = EvidenceSigner::generate();
    assert!(matches!(
        zw_evidence::verify_stored(
            &db.conn,
            &zw_evidence::TrustedKeys::new([other.public_key()])
        )
        .await,
        Err(zw_evidence::EvidenceError::Verify(
            VerifyError::UnknownKey { tree_size: 0, .. }
        ))
    ));
}

async fn an_exported_log_of_another_service_fails_against_our_published_key(backend: Backend) {
    let db = fresh(backend).await;
    let theirs = EvidenceSigner::generate();
    append_n(&db, 4).await;
    zw_evidence::seal(&db.conn, &theirs).await.expect("seal");
    let log = zw_evidence::export(&db.conn, "test").await.expect("export");
    zw_evidence::verify_export(&log, zw_evidence::Trust::Embedded, &[])
        .expect("self-consistent with its own key");
    let ours = EvidenceSigner::generate();
    assert!(matches!(
        zw_evidence::verify_export(
            &log,
            zw_evidence::Trust::Pinned(&zw_evidence::TrustedKeys::new([ours.public_key()])),
            &[]
        ),
        Err(VerifyError::UnknownKey { tree_size: 4, .. })
    ));
}
