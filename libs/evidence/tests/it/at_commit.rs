//! Records noted during a write and appended just before its commit (`zw_evidence::at_commit`).

use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use serde_json::json;
use zw_domain::db::BeginWrite;
use zw_evidence::NewEvidence;
use zw_evidence::at_commit::{Naming, append_at_commit, collect};

use crate::helpers::{Backend, append_n, fresh, on_both_backends, sql};

on_both_backends!(
    records_noted_in_a_write_are_appended_in_order_at_its_end_with_the_rows_that_name_them,
    a_write_that_rolls_back_appends_nothing_it_noted,
    outside_a_collecting_write_a_record_is_appended_at_once,
    concurrent_collecting_writes_form_one_gapless_chain,
);

/// A table of rows that name their record, as a service's life events do.
async fn steps_table(db: &zw_testkit::TestDb) {
    sql(
        db,
        "CREATE TABLE steps (name TEXT PRIMARY KEY, evidence_seq BIGINT NOT NULL)",
    )
    .await;
}

/// The row `steps(name, seq)`, built once the record's sequence number is known.
fn step_row(backend: DbBackend, name: &str) -> Naming {
    let name = name.to_owned();
    Box::new(move |seq| {
        let sql = match backend {
            DbBackend::Postgres => "INSERT INTO steps (name, evidence_seq) VALUES ($1, $2)",
            _ => "INSERT INTO steps (name, evidence_seq) VALUES (?, ?)",
        };
        Statement::from_sql_and_values(backend, sql, [name.into(), seq.into()])
    })
}

async fn note<C>(conn: &C, object: &str, naming: Option<Naming>)
where
    C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait,
{
    append_at_commit(
        conn,
        NewEvidence {
            actor: "user/7",
            action: "step.record",
            object,
            payload: &json!({ "object": object }),
        },
        naming,
    )
    .await
    .expect("noted");
}

/// The rows that name records, as `conn` sees them (inside a write on SQLite, whose test pool
/// has one connection: that write's).
async fn steps(conn: &impl sea_orm::ConnectionTrait) -> Vec<(String, i64)> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT name, evidence_seq FROM steps ORDER BY evidence_seq",
    ))
    .await
    .expect("read steps")
    .iter()
    .map(|r| {
        (
            r.try_get("", "name").expect("name"),
            r.try_get("", "evidence_seq").expect("seq"),
        )
    })
    .collect()
}

async fn head_seq(conn: &impl sea_orm::ConnectionTrait) -> i64 {
    conn.query_one_raw(Statement::from_string(
        conn.get_database_backend(),
        "SELECT seq FROM evidence_head WHERE id = 1",
    ))
    .await
    .expect("read the head")
    .expect("the head row")
    .try_get("", "seq")
    .expect("seq")
}

async fn records_noted_in_a_write_are_appended_in_order_at_its_end_with_the_rows_that_name_them(
    backend: Backend,
) {
    let db = fresh(backend).await;
    steps_table(&db).await;
    append_n(&db, 2).await;
    let txn = db.conn.begin_write().await.expect("begin");
    let db_backend = txn.get_database_backend();
    let ((), pending) = collect(async {
        note(&txn, "step/a", Some(step_row(db_backend, "a"))).await;
        note(&txn, "step/b", None).await;
        note(&txn, "step/c", Some(step_row(db_backend, "c"))).await;
    })
    .await;
    // Noted, not yet appended: the chain's head was not touched (nor locked).
    assert!(!pending.is_empty());
    assert_eq!(head_seq(&txn).await, 2);
    assert!(zw_evidence::record(&txn, 3).await.expect("read").is_none());
    pending.write(&txn).await.expect("written");
    txn.commit().await.expect("commit");

    let objects: Vec<String> = (3..=5)
        .map(|seq| {
            let db = &db;
            async move {
                zw_evidence::record(&db.conn, seq)
                    .await
                    .expect("read")
                    .expect("there")
                    .object
            }
        })
        .collect::<futures::future::JoinAll<_>>()
        .await;
    assert_eq!(objects, ["step/a", "step/b", "step/c"]);
    assert_eq!(
        steps(&db.conn).await,
        [("a".to_owned(), 3), ("c".to_owned(), 5)]
    );
    let third = zw_evidence::record(&db.conn, 3)
        .await
        .expect("read")
        .expect("there");
    assert!(third.matches_payload(&json!({ "object": "step/a" })));
    let second = zw_evidence::record(&db.conn, 2)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(third.prev_hash, second.record_hash);
}

async fn a_write_that_rolls_back_appends_nothing_it_noted(backend: Backend) {
    let db = fresh(backend).await;
    steps_table(&db).await;
    let txn = db.conn.begin_write().await.expect("begin");
    let db_backend = txn.get_database_backend();
    let ((), pending) = collect(async {
        note(&txn, "step/a", Some(step_row(db_backend, "a"))).await;
    })
    .await;
    drop(pending);
    txn.rollback().await.expect("rollback");
    assert_eq!(head_seq(&db.conn).await, 0);
    assert!(steps(&db.conn).await.is_empty());
    // The next record is the first: no gap was left.
    let records = append_n(&db, 1).await;
    assert_eq!(records[0].seq, 1);
}

async fn outside_a_collecting_write_a_record_is_appended_at_once(backend: Backend) {
    let db = fresh(backend).await;
    steps_table(&db).await;
    let txn = db.conn.begin_write().await.expect("begin");
    let db_backend = txn.get_database_backend();
    note(&txn, "step/a", Some(step_row(db_backend, "a"))).await;
    assert_eq!(
        steps(&txn).await,
        [("a".to_owned(), 1)],
        "named in the write"
    );
    txn.commit().await.expect("commit");
    assert_eq!(head_seq(&db.conn).await, 1);
    assert_eq!(steps(&db.conn).await, [("a".to_owned(), 1)]);
}

async fn concurrent_collecting_writes_form_one_gapless_chain(backend: Backend) {
    const WRITES: usize = 12;
    let db = fresh(backend).await;
    steps_table(&db).await;
    let writes = (0..WRITES).map(|i| {
        let conn = db.conn.clone();
        tokio::spawn(async move {
            loop {
                let txn = match conn.begin_write().await {
                    Ok(txn) => txn,
                    // SQLite: another writer holds the file; try again.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        continue;
                    }
                };
                let backend = txn.get_database_backend();
                let ((), pending) = collect(async {
                    note(
                        &txn,
                        &format!("step/{i}-1"),
                        Some(step_row(backend, &format!("{i}-1"))),
                    )
                    .await;
                    note(
                        &txn,
                        &format!("step/{i}-2"),
                        Some(step_row(backend, &format!("{i}-2"))),
                    )
                    .await;
                })
                .await;
                pending.write(&txn).await.expect("written");
                txn.commit().await.expect("commit");
                return;
            }
        })
    });
    for write in futures::future::join_all(writes).await {
        write.expect("write");
    }
    let named = steps(&db.conn).await;
    assert_eq!(
        named.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(),
        (1..=(2 * WRITES) as i64).collect::<Vec<_>>()
    );
    // A write's two records are consecutive: nothing of another write came between them.
    for pair in named.chunks(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        assert_eq!(
            a.trim_end_matches("-1"),
            b.trim_end_matches("-2"),
            "{pair:?}"
        );
    }
    let signer = zw_evidence::EvidenceSigner::generate();
    zw_evidence::seal(&db.conn, &signer).await.expect("seal");
    let report = zw_evidence::verify_stored(
        &db.conn,
        &zw_evidence::TrustedKeys::new([signer.public_key()]),
    )
    .await
    .expect("intact");
    assert_eq!(report.records, (2 * WRITES) as i64);
}
