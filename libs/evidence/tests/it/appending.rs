//! Appending: the chain, its atomicity with the caller's transaction, and concurrency.

use std::collections::HashSet;
use zw_domain::db::BeginWrite;

use sea_orm::ConnectionTrait as _;
use serde_json::json;
use zw_evidence::{EvidenceError, EvidenceSigner, GENESIS_PREV_HASH};

use crate::helpers::{Backend, append_n, fresh, on_both_backends};

on_both_backends!(
    appended_records_chain_from_the_genesis_hash_and_read_back_unchanged,
    an_append_rolled_back_with_its_transaction_leaves_no_trace_and_no_gap,
    appends_in_concurrent_transactions_form_one_gapless_unforked_chain,
    a_blank_action_object_or_actor_is_refused,
    the_database_refuses_to_update_or_delete_evidence,
    many_appended_at_once_chain_prove_and_verify_as_one_by_one,
    records_handed_to_a_group_appender_by_concurrent_callers_form_one_chain,
    a_group_appender_answers_each_caller_with_the_error_of_a_failed_batch,
);

async fn appended_records_chain_from_the_genesis_hash_and_read_back_unchanged(backend: Backend) {
    let db = fresh(backend).await;
    let records = append_n(&db, 5).await;

    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(records[0].prev_hash, GENESIS_PREV_HASH);
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].record_hash);
    }
    for r in &records {
        assert!(r.hash_is_valid());
        assert!(r.matches_payload(&json!({ "declaration": r.seq - 1, "name": "张三" })));
        let stored = zw_evidence::record(&db.conn, r.seq)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(
            &stored, r,
            "record {} round-trips, microseconds included",
            r.seq
        );
    }
    assert_eq!(zw_evidence::record(&db.conn, 6).await.expect("read"), None);
}

async fn an_append_rolled_back_with_its_transaction_leaves_no_trace_and_no_gap(backend: Backend) {
    let db = fresh(backend).await;
    append_n(&db, 2).await;

    let txn = db.conn.begin_write().await.expect("begin");
    let doomed = zw_evidence::append(
        &txn,
        "user/1",
        "declaration.submit",
        "declaration/x",
        &json!({}),
    )
    .await
    .expect("append inside the caller's transaction");
    assert_eq!(doomed.seq, 3);
    txn.rollback().await.expect("rollback");

    assert_eq!(zw_evidence::record(&db.conn, 3).await.expect("read"), None);
    let next = zw_evidence::append(
        &db.conn,
        "user/1",
        "declaration.submit",
        "declaration/y",
        &json!({}),
    )
    .await
    .expect("append");
    assert_eq!(next.seq, 3, "the rolled-back seq is reused: no gap");
    let signer = EvidenceSigner::generate();
    zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    .expect("intact");
}

async fn appends_in_concurrent_transactions_form_one_gapless_unforked_chain(backend: Backend) {
    const TASKS: usize = 8;
    const EACH: usize = 20;
    let db = fresh(backend).await;

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let conn = db.conn.clone();
        handles.push(tokio::spawn(async move {
            let mut committed = 0;
            for i in 0..EACH {
                let txn = conn.begin_write().await.expect("begin");
                zw_evidence::append(
                    &txn,
                    &format!("user/{task}"),
                    "declaration.submit",
                    &format!("declaration/{task}-{i}"),
                    &json!({ "task": task, "i": i }),
                )
                .await
                .expect("append");
                // Every fifth state change fails and takes its evidence with it.
                if i % 5 == 4 {
                    txn.rollback().await.expect("rollback");
                } else {
                    txn.commit().await.expect("commit");
                    committed += 1;
                }
            }
            committed
        }));
    }
    let mut committed = 0;
    for handle in handles {
        committed += handle.await.expect("task");
    }
    assert_eq!(committed, TASKS * EACH * 4 / 5);

    let log = zw_evidence::export(&db.conn, "test").await.expect("export");
    let seqs: Vec<i64> = log.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=committed as i64).collect::<Vec<_>>(), "gapless");
    let prevs: HashSet<&str> = log.records.iter().map(|r| r.prev_hash.as_str()).collect();
    assert_eq!(
        prevs.len(),
        committed,
        "no two records chain onto the same predecessor"
    );
    let objects: HashSet<&str> = log.records.iter().map(|r| r.object.as_str()).collect();
    assert_eq!(
        objects.len(),
        committed,
        "every committed append is there once"
    );

    let signer = EvidenceSigner::generate();
    let head = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    assert_eq!(head.tree_size, committed as i64);
    let report = zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    .expect("intact");
    assert_eq!(report.records, committed as i64);
    for seq in 1..=committed as i64 {
        let proof = zw_evidence::inclusion_proof(&db.conn, seq, None)
            .await
            .expect("proof");
        zw_evidence::verify_inclusion_proof(&proof, &signer.public_key()).expect("verifies");
    }
}

async fn a_blank_action_object_or_actor_is_refused(backend: Backend) {
    let db = fresh(backend).await;
    for (actor, action, object) in [("", "a.b", "o/1"), ("u", " ", "o/1"), ("u", "a.b", "")] {
        let result = zw_evidence::append(&db.conn, actor, action, object, &json!(null)).await;
        assert!(
            matches!(result, Err(EvidenceError::InvalidInput(_))),
            "{result:?}"
        );
    }
    assert_eq!(zw_evidence::record(&db.conn, 1).await.expect("read"), None);
}

async fn the_database_refuses_to_update_or_delete_evidence(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let db = fresh(backend).await;
    append_n(&db, 3).await;
    zw_evidence::seal(&db.conn, &EvidenceSigner::generate())
        .await
        .expect("seal");
    for statement in [
        "UPDATE evidence_records SET action = 'declaration.reject' WHERE seq = 2",
        "DELETE FROM evidence_records WHERE seq = 3",
        "UPDATE evidence_tree_heads SET tree_size = 2",
        "DELETE FROM evidence_tree_heads",
        "DELETE FROM evidence_merkle_nodes",
    ] {
        let result = db.conn.execute_unprepared(statement).await;
        let err = result.expect_err(statement).to_string();
        assert!(err.contains("append-only"), "{statement}: {err}");
    }
}

async fn many_appended_at_once_chain_prove_and_verify_as_one_by_one(backend: Backend) {
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    let key = signer.public_key();
    append_n(&db, 3).await;
    // 1,100 at once: more than one INSERT statement's worth, after records appended one by one.
    let payloads: Vec<serde_json::Value> = (0..1_100).map(|i| json!({"case": i})).collect();
    let objects: Vec<String> = (0..1_100).map(|i| format!("case/{i}")).collect();
    let entries: Vec<zw_evidence::NewEvidence> = payloads
        .iter()
        .zip(&objects)
        .map(|(payload, object)| zw_evidence::NewEvidence {
            actor: "import/1",
            action: "case.raised",
            object,
            payload,
        })
        .collect();
    let txn = db.conn.begin_write().await.expect("begin");
    let many = zw_evidence::append_many(&txn, &entries)
        .await
        .expect("append many");
    txn.commit().await.expect("commit");
    assert_eq!(many.len(), 1_100);
    assert_eq!(many[0].seq, 4);
    assert_eq!(many[1_099].seq, 1_103);
    let third = zw_evidence::record(&db.conn, 3)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(many[0].prev_hash, third.record_hash);
    for (r, payload) in many.iter().zip(&payloads) {
        assert!(r.hash_is_valid());
        assert!(r.matches_payload(payload));
    }
    // One by one after them: the chain goes on from the last of the batch.
    let after = append_n(&db, 1).await;
    assert_eq!(after[0].seq, 1_104);
    assert_eq!(after[0].prev_hash, many[1_099].record_hash);

    // The stored log verifies and every record proves into the signed head.
    let head = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    assert_eq!(head.tree_size, 1_104);
    let report = zw_evidence::verify_stored(&db.conn, &zw_evidence::TrustedKeys::new([key]))
        .await
        .expect("verify");
    assert_eq!(report.records, 1_104, "{report:?}");
    for seq in [1, 4, 500, 1_103, 1_104] {
        let proof = zw_evidence::inclusion_proof(&db.conn, seq, None)
            .await
            .expect("proof");
        zw_evidence::verify_inclusion_proof(&proof, &key).expect("verifies");
    }

    // A blank field anywhere appends nothing.
    let bad = [
        entries[0],
        zw_evidence::NewEvidence {
            actor: " ",
            ..entries[1]
        },
    ];
    assert!(matches!(
        zw_evidence::append_many(&db.conn, &bad).await,
        Err(EvidenceError::InvalidInput(_))
    ));
    assert_eq!(
        zw_evidence::record(&db.conn, 1_105).await.expect("read"),
        None
    );
}

async fn records_handed_to_a_group_appender_by_concurrent_callers_form_one_chain(
    backend: Backend,
) {
    const TASKS: usize = 16;
    const EACH: usize = 10;
    let db = fresh(backend).await;
    let signer = EvidenceSigner::generate();
    append_n(&db, 2).await;
    let group = zw_evidence::GroupAppender::spawn(db.conn.clone(), 8);

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let group = group.clone();
        handles.push(tokio::spawn(async move {
            let mut records = Vec::new();
            for i in 0..EACH {
                let payload = json!({ "task": task, "i": i });
                let record = group
                    .append(
                        &format!("user/{task}"),
                        "record.read",
                        &format!("record/{task}-{i}"),
                        &payload,
                    )
                    .await
                    .expect("group append");
                assert!(record.matches_payload(&payload));
                records.push(record);
            }
            records
        }));
    }
    let mut answered = Vec::new();
    for handle in handles {
        answered.extend(handle.await.expect("task"));
    }
    answered.sort_by_key(|r| r.seq);
    let total = (TASKS * EACH) as i64;
    assert_eq!(
        answered.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (3..=total + 2).collect::<Vec<_>>(),
        "every caller got its own record, after the two appended one by one, no gap"
    );
    for r in &answered {
        let stored = zw_evidence::record(&db.conn, r.seq)
            .await
            .expect("read")
            .expect("committed before it was answered");
        assert_eq!(&stored, r);
    }
    let log = zw_evidence::export(&db.conn, "test").await.expect("export");
    for pair in log.records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].record_hash, "one unforked chain");
    }

    // A blank field is refused before it reaches the writer.
    let blank = group
        .append(" ", "record.read", "record/x", &json!({}))
        .await;
    assert!(matches!(blank, Err(EvidenceError::InvalidInput(_))), "{blank:?}");
    // One by one again after them: the chain goes on.
    let after = append_n(&db, 1).await;
    assert_eq!(after[0].seq, total + 3);
    assert_eq!(after[0].prev_hash, answered.last().expect("some").record_hash);

    let head = zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    assert_eq!(head.tree_size, total + 3);
    let key = signer.public_key();
    let report = zw_evidence::verify_stored(&db.conn, &zw_evidence::TrustedKeys::new([key]))
        .await
        .expect("verify");
    assert_eq!(report.records, total + 3, "{report:?}");
    for seq in [3, 50, total + 2] {
        let proof = zw_evidence::inclusion_proof(&db.conn, seq, None)
            .await
            .expect("proof");
        zw_evidence::verify_inclusion_proof(&proof, &key).expect("verifies");
    }
}

async fn a_group_appender_answers_each_caller_with_the_error_of_a_failed_batch(
    backend: Backend,
) {
    let db = fresh(backend).await;
    append_n(&db, 1).await;
    let group = zw_evidence::GroupAppender::spawn(db.conn.clone(), 8);
    // Every append now fails (its INSERT has no table), and with it the head's advance.
    crate::helpers::sql(&db, "DROP TABLE evidence_merkle_nodes").await;
    crate::helpers::sql(&db, "DROP TABLE evidence_records").await;
    let calls = (0..4).map(|i| {
        let group = group.clone();
        async move {
            group
                .append("user/1", "record.read", &format!("record/{i}"), &json!({}))
                .await
        }
    });
    for answer in futures::future::join_all(calls).await {
        assert!(
            matches!(answer, Err(EvidenceError::Database(_))),
            "{answer:?}"
        );
    }
    let seq: i64 = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT seq FROM evidence_head WHERE id = 1",
        ))
        .await
        .expect("read the head")
        .expect("the head row")
        .try_get("", "seq")
        .expect("seq");
    assert_eq!(seq, 1, "no failed append moved the head");
}
