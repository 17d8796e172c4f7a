//! A service's log at run time: the signing key in a file outside the database (and the key an
//! earlier version kept inside it), and tampering noticed while the service runs.

use std::time::Duration;

use sea_orm::ConnectionTrait as _;
use zw_evidence::{
    CheckpointSettings, EvidenceError, EvidenceLog, EvidenceSigner, KeyFile, KeyStatus,
};
use zw_platform::health::ReadinessCheck as _;
use zw_testkit::TestDb;

use crate::helpers::{Backend, append_n, drop_append_only_guard, fresh, on_both_backends, sql};

on_both_backends!(
    the_key_is_created_in_its_own_file_and_never_in_the_database,
    a_key_kept_in_the_database_by_an_earlier_version_is_retired_into_the_file,
    a_record_edited_after_it_was_checked_is_found_by_the_next_full_check,
    a_record_edited_before_it_was_checked_is_found_before_any_head_covers_it,
    a_proof_over_an_edited_record_is_refused_and_marks_the_log,
    the_guard_notices_tampering_on_its_own,
);

async fn open(db: &TestDb, dir: &std::path::Path) -> EvidenceLog {
    EvidenceLog::open(
        db.conn.clone(),
        "grid",
        dir,
        true,
        CheckpointSettings::new("zhiwang.test", "grid"),
    )
    .await
    .expect("the log opens")
}

async fn legacy_rows(db: &TestDb) -> i64 {
    let row = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM evidence_signing_key WHERE secret <> 'moved-to-key-file'",
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

async fn the_key_is_created_in_its_own_file_and_never_in_the_database(backend: Backend) {
    let db = fresh(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let missing = EvidenceLog::open(
        db.conn.clone(),
        "grid",
        dir.path(),
        false,
        CheckpointSettings::new("zhiwang.test", "grid"),
    )
    .await
    .expect_err("no key file, none to be created");
    assert!(matches!(missing, EvidenceError::Keys(_)));
    assert!(
        missing.to_string().contains("zhiwang keys generate grid"),
        "{missing}"
    );

    let log = open(&db, dir.path()).await;
    let file = KeyFile::load(&dir.path().join("grid.json"), "grid").expect("the key file");
    assert_eq!(
        file.signer().expect("signer").public_key_base64(),
        log.public_key_base64()
    );
    assert_eq!(legacy_rows(&db).await, 0, "no secret in the database");
    assert!(
        zw_evidence::log::legacy_key(&db.conn)
            .await
            .expect("read")
            .is_none(),
        "the marker an earlier version refuses to start on is no key"
    );
    let again = open(&db, dir.path()).await;
    assert_eq!(again.public_key_base64(), log.public_key_base64());
    assert_eq!(log.keys().keys.len(), 1);
    assert_eq!(log.keys().keys[0].status, KeyStatus::Current);

    append_n(&db, 3).await;
    let head = log.publish_head().await.expect("head").tree_head;
    assert_eq!(head.key_id, log.keys().keys[0].key_id);
    log.verify(true).await.expect("intact");
}

async fn a_key_kept_in_the_database_by_an_earlier_version_is_retired_into_the_file(
    backend: Backend,
) {
    let db = fresh(backend).await;
    let legacy = EvidenceSigner::generate();
    sql(
        &db,
        &format!(
            "INSERT INTO evidence_signing_key (id, secret, created_at) VALUES (1, '{}', '2026-11-30T08:00:00+00:00')",
            hex::encode(legacy.to_secret_bytes())
        ),
    )
    .await;
    append_n(&db, 4).await;
    zw_evidence::seal(&db.conn, &legacy)
        .await
        .expect("sealed as before");

    let dir = tempfile::tempdir().expect("dir");
    let log = open(&db, dir.path()).await;
    assert_ne!(
        log.public_key_base64(),
        legacy.public_key_base64(),
        "it signs no more"
    );
    let keys = &log.keys().keys;
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (keys[0].key_id.as_str(), keys[0].status),
        (legacy.key_id().as_str(), KeyStatus::Retired)
    );
    assert_eq!(legacy_rows(&db).await, 0, "the secret left the database");
    let file = std::fs::read_to_string(dir.path().join("grid.json")).expect("file");
    assert!(!file.contains(&hex::encode(legacy.to_secret_bytes())));

    log.verify(true)
        .await
        .expect("heads of the retired key still verify");
    append_n(&db, 2).await;
    let head = log.seal().await.expect("sealed");
    assert_eq!(head.key_id, keys[1].key_id);
    let proof = log
        .consistency_proof(4, 6)
        .await
        .expect("across the rotation");
    assert_eq!(proof.old.key_id, legacy.key_id());
    log.verify(true).await.expect("both keys' heads verify");

    // A later start finds nothing left to adopt and keeps the same keys.
    let again = open(&db, dir.path()).await;
    assert_eq!(again.keys(), log.keys());
}

async fn a_record_edited_after_it_was_checked_is_found_by_the_next_full_check(backend: Backend) {
    let db = fresh(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = open(&db, dir.path()).await;
    append_n(&db, 5).await;
    log.verify(true).await.expect("intact");
    log.seal().await.expect("sealed");
    let check = log.readiness_check();
    check.check().await.expect("ready");

    drop_append_only_guard(&db).await;
    sql(
        &db,
        "UPDATE evidence_records SET action = 'declaration.reject' WHERE seq = 3",
    )
    .await;
    append_n(&db, 2).await;
    log.verify(false)
        .await
        .expect("only the new records are checked between full checks");
    let found = log.verify(true).await.expect_err("the full check finds it");
    assert!(matches!(found, EvidenceError::Tampered(_)), "{found}");
    assert!(found.to_string().contains("record 3"), "{found}");

    let not_ready = check.check().await.expect_err("not ready");
    assert!(not_ready.contains("record 3"), "{not_ready}");
    assert!(matches!(log.seal().await, Err(EvidenceError::Tampered(_))));
    assert!(matches!(
        log.publish_head().await,
        Err(EvidenceError::Tampered(_))
    ));
    assert!(matches!(
        log.inclusion_proofs(&[1]).await,
        Err(EvidenceError::Tampered(_))
    ));
    let problem = zw_evidence::http::problem(&found).expect("a problem");
    assert_eq!(
        (problem.status, problem.code.as_str()),
        (503, "evidence-log-tampered")
    );
    assert_eq!(
        zw_evidence::latest_tree_head(&db.conn)
            .await
            .expect("read")
            .map(|h| h.tree_size),
        Some(5),
        "no head was signed over the edited record"
    );
}

async fn a_record_edited_before_it_was_checked_is_found_before_any_head_covers_it(
    backend: Backend,
) {
    let db = fresh(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = open(&db, dir.path()).await;
    append_n(&db, 3).await;
    log.verify(true).await.expect("intact");
    append_n(&db, 3).await;
    drop_append_only_guard(&db).await;
    sql(
        &db,
        "UPDATE evidence_records SET actor = 'user/8' WHERE seq = 5",
    )
    .await;
    let found = log
        .verify(false)
        .await
        .expect_err("the incremental check finds it");
    assert!(found.to_string().contains("record 5"), "{found}");
    assert!(log.tampered().is_some());
}

async fn a_proof_over_an_edited_record_is_refused_and_marks_the_log(backend: Backend) {
    let db = fresh(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = open(&db, dir.path()).await;
    append_n(&db, 4).await;
    log.verify(true).await.expect("intact");
    log.inclusion_proofs(&[2]).await.expect("a proof");
    drop_append_only_guard(&db).await;
    sql(
        &db,
        "UPDATE evidence_records SET object = 'declaration/other' WHERE seq = 2",
    )
    .await;
    let refused = log
        .inclusion_proofs(&[2])
        .await
        .expect_err("a proof that does not verify is not served");
    assert!(matches!(refused, EvidenceError::Tampered(_)), "{refused}");
    assert!(log.tampered().is_some());
}

async fn the_guard_notices_tampering_on_its_own(backend: Backend) {
    let db = fresh(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let log = open(&db, dir.path()).await;
    append_n(&db, 4).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let guard = log.spawn_guard(
        Duration::from_millis(20),
        Duration::from_millis(100),
        stop.clone(),
    );
    // The guard seals what it has checked.
    let mut sealed = false;
    for _ in 0..500 {
        if zw_evidence::latest_tree_head(&db.conn)
            .await
            .expect("read")
            .is_some_and(|h| h.tree_size == 4)
        {
            sealed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sealed, "the guard sealed the log");
    drop_append_only_guard(&db).await;
    sql(
        &db,
        "UPDATE evidence_records SET action = 'declaration.reject' WHERE seq = 1",
    )
    .await;
    let mut noticed = false;
    for _ in 0..500 {
        if log.tampered().is_some() {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    guard.await.expect("guard stops");
    assert!(noticed, "the guard found the edited record");
}
