//! The evidence log in a service's own database (PostgreSQL or SQLite), through sea-orm.
//!
//! Every function takes the caller's connection, so evidence is appended in the *same
//! transaction* as the state change it records: both commit or neither does.
//!
//! # Serialising appends
//! [`append`] first runs `UPDATE evidence_head SET seq = seq + 1 … RETURNING …` on the single
//! head row. On PostgreSQL that row lock is held until the caller's transaction ends, so a
//! concurrent append waits and then chains onto the committed record — never onto the same one
//! (READ COMMITTED, PostgreSQL's default; under REPEATABLE READ or SERIALIZABLE the second
//! transaction fails with a serialisation error and must be retried). SQLite serialises writers
//! anyway. A rolled-back transaction rolls the head back too, so sequence numbers stay gapless.
//! The price: appends within one database are serial; each holds the lock for the rest of its
//! transaction, so keep those transactions short. [`append_many`] writes many consecutive
//! records under one lock, for a transaction that records many changes at once.
//!
//! # Cost at scale
//! A service accumulates millions of records, so nothing on the hot path reads the whole log:
//! - the head row keeps the Merkle *frontier* (one hash per set bit of the size), so an append
//!   writes the record, the ≈1 interior node that completes on average, and the head row, and
//!   [`seal`] computes the root from the frontier in O(log n);
//! - [`inclusion_proof`] and [`consistency_proof`] read the O(log n) perfect subtrees their
//!   ranges decompose into (`evidence_merkle_nodes`, plus leaves from `evidence_records`).
//!
//! Auditing is O(n) by nature: [`export`] materialises the log (that is what an export is);
//! [`verify_stored`] streams it in pages with O(log n) state.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use zw_domain::db::BeginWrite;

use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use chrono::SecondsFormat;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionSession as _, TransactionTrait,
};
use serde_json::Value;

use crate::error::{EvidenceError, VerifyError};
use crate::keys::{KeyStatus, PublishedKey, TrustedKeys};
use crate::merkle::{self, Frontier, Hash, NodeId};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::record::{EvidenceRecord, decode_hash, now_micros, payload_hash};
use crate::tree_head::{EvidenceSigner, SignedTreeHead};
use crate::verify::{
    Anomaly, ChainCursor, ChainVerifier, Clues, EXPORT_FORMAT, ExportedLog, VerifyReport,
    check_signature, classify,
};

/// The id of the single `evidence_head` row.
const HEAD_ID: i16 = 1;
/// Records per page when streaming the log.
const PAGE: u64 = 1_000;

/// Appends an evidence record for a state change, in the caller's transaction.
///
/// `payload` is hashed ([`payload_hash`]) and not stored. Pass the transaction that makes the
/// state change (a `DatabaseTransaction`); the append runs in a savepoint inside it. Passing a
/// `DatabaseConnection` appends in a transaction of its own.
///
/// `actor`, `action` and `object` must not be blank.
pub async fn append<C>(
    conn: &C,
    actor: &str,
    action: &str,
    object: &str,
    payload: &Value,
) -> Result<EvidenceRecord, EvidenceError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let mut records = append_many(
        conn,
        &[NewEvidence {
            actor,
            action,
            object,
            payload,
        }],
    )
    .await?;
    records
        .pop()
        .ok_or_else(|| corrupt("an append of one record wrote none"))
}

/// One record for [`append_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewEvidence<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub object: &'a str,
    pub payload: &'a Value,
}

/// Rows per INSERT statement on SQLite.
const ROWS_PER_INSERT: usize = 1_000;

/// Appends `entries` as consecutive records, in order, exactly as that many [`append`] calls
/// would, but with one lock of the head and a few statements in all: for work that records many
/// state changes in one transaction (a bulk import's cases). Nothing is appended if one entry is
/// invalid.
pub async fn append_many<C>(
    conn: &C,
    entries: &[NewEvidence<'_>],
) -> Result<Vec<EvidenceRecord>, EvidenceError>
where
    C: ConnectionTrait + TransactionTrait,
{
    for e in entries {
        check_entry(e.actor, e.action, e.object)?;
    }
    let entries: Vec<Entry<'_>> = entries
        .iter()
        .map(|e| Entry {
            actor: e.actor,
            action: e.action,
            object: e.object,
            payload_hash: payload_hash(e.payload),
        })
        .collect();
    append_entries(conn, &entries).await
}

/// A record to append, its payload already hashed.
pub(crate) struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub object: &'a str,
    pub payload_hash: String,
}

/// Refuses a blank `actor`, `action` or `object`.
pub(crate) fn check_entry(actor: &str, action: &str, object: &str) -> Result<(), EvidenceError> {
    for (name, value) in [("actor", actor), ("action", action), ("object", object)] {
        if value.trim().is_empty() {
            return Err(EvidenceError::InvalidInput(format!(
                "{name} must not be blank"
            )));
        }
    }
    Ok(())
}

/// Appends checked `entries` in a transaction (a savepoint if `conn` is one).
pub(crate) async fn append_entries<C>(
    conn: &C,
    entries: &[Entry<'_>],
) -> Result<Vec<EvidenceRecord>, EvidenceError>
where
    C: ConnectionTrait + TransactionTrait,
{
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let txn = conn.begin_write().await?;
    let records = append_in(&txn, entries).await?;
    txn.commit().await?;
    Ok(records)
}

/// On PostgreSQL the records, the Merkle nodes they complete and the new head go in one
/// statement, whatever their number: one round trip fewer per append (two for half of them)
/// while the head row is locked, and a text that never changes, so it is prepared once per
/// connection (a multi-row INSERT has a text of its own per row count, and the nodes' count
/// varies from call to call, so that INSERT was prepared anew nearly every time).
const PG_WRITE: &str = "WITH records AS (
    INSERT INTO evidence_records
        (seq, actor, action, object, payload_hash, recorded_at, prev_hash, record_hash)
    SELECT seq, actor, action, object, payload_hash, recorded_at, prev_hash, record_hash
    FROM jsonb_to_recordset($1) AS r(seq bigint, actor text, action text, object text,
        payload_hash text, recorded_at timestamptz, prev_hash text, record_hash text)
), nodes AS (
    INSERT INTO evidence_merkle_nodes (level, idx, hash)
    SELECT level, idx, hash FROM jsonb_to_recordset($2) AS n(level smallint, idx bigint, hash text)
)
UPDATE evidence_head SET last_hash = $3, frontier = $4 WHERE id = 1";

async fn append_in<T: ConnectionTrait>(
    txn: &T,
    entries: &[Entry<'_>],
) -> Result<Vec<EvidenceRecord>, EvidenceError> {
    let count = i64::try_from(entries.len()).map_err(|_| corrupt("too many records at once"))?;
    // Take the head row lock first: it decides the sequence numbers and the chain's start.
    let lock = Query::update()
        .table("evidence_head")
        .value("seq", Expr::col("seq").add(count))
        .and_where(Expr::col("id").eq(HEAD_ID))
        .returning(Query::returning().columns(["seq", "last_hash", "frontier"]))
        .to_owned();
    let row = txn
        .query_one(&lock)
        .await?
        .ok_or(EvidenceError::NotMigrated)?;
    let last_seq: i64 = row.try_get("", "seq")?;
    let mut prev_hash: String = row.try_get("", "last_hash")?;
    let frontier: String = row.try_get("", "frontier")?;
    let first_seq = last_seq - count + 1;
    let mut frontier = parse_frontier(first_seq - 1, &frontier)?;

    let at = now_micros();
    let mut records = Vec::with_capacity(entries.len());
    let mut nodes = Vec::new();
    for (seq, e) in (first_seq..).zip(entries) {
        let record = EvidenceRecord::new(
            seq,
            e.actor,
            e.action,
            e.object,
            &e.payload_hash,
            at,
            &prev_hash,
        );
        let leaf = record
            .leaf_hash()
            .ok_or_else(|| corrupt("a fresh record hash is not hex"))?;
        nodes.extend(frontier.push(leaf));
        prev_hash = record.record_hash.clone();
        records.push(record);
    }

    if txn.get_database_backend() == DbBackend::Postgres {
        let rows: Vec<Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "seq": r.seq,
                    "actor": r.actor,
                    "action": r.action,
                    "object": r.object,
                    "payload_hash": r.payload_hash,
                    // Microseconds and `Z`: the spelling the record hash covers, exact in
                    // PostgreSQL's timestamptz.
                    "recorded_at": r.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                    "prev_hash": r.prev_hash,
                    "record_hash": r.record_hash,
                })
            })
            .collect();
        let node_rows: Vec<Value> = nodes
            .iter()
            .map(|(id, hash)| {
                serde_json::json!({
                    "level": id.level,
                    "idx": id.index,
                    "hash": hex::encode(hash),
                })
            })
            .collect();
        let write = Statement::from_sql_and_values(
            DbBackend::Postgres,
            PG_WRITE,
            [
                Value::Array(rows).into(),
                Value::Array(node_rows).into(),
                prev_hash.into(),
                frontier_to_text(&frontier).into(),
            ],
        );
        txn.execute_raw(write).await?;
        return Ok(records);
    }

    for chunk in records.chunks(ROWS_PER_INSERT) {
        entity::records::Entity::insert_many(chunk.iter().map(entity::records::ActiveModel::from))
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in nodes.chunks(ROWS_PER_INSERT) {
        entity::nodes::Entity::insert_many(
            chunk
                .iter()
                .map(|(id, hash)| entity::nodes::ActiveModel::from_node(*id, hash)),
        )
        .exec_without_returning(txn)
        .await?;
    }

    let advance = Query::update()
        .table("evidence_head")
        .value("last_hash", prev_hash)
        .value("frontier", frontier_to_text(&frontier))
        .and_where(Expr::col("id").eq(HEAD_ID))
        .to_owned();
    txn.execute(&advance).await?;
    Ok(records)
}

/// Signs the current tree (every committed record, plus the caller's own uncommitted ones if
/// `conn` is a transaction) and stores the head. Returns the latest head unchanged when no
/// record was appended since; an empty log gets a head of size 0.
///
/// Concurrent seals of the same size store one head; each caller gets the stored one. After a
/// key rotation the new key signs from the next new record on (an unchanged log keeps its head).
pub async fn seal<C: ConnectionTrait>(
    conn: &C,
    signer: &EvidenceSigner,
) -> Result<SignedTreeHead, EvidenceError> {
    let head = read_head(conn).await?;
    if let Some(latest) = latest_tree_head(conn).await?
        && latest.tree_size >= head.seq
    {
        return Ok(latest);
    }
    let frontier = parse_frontier(head.seq, &head.frontier)?;
    let sth = signer.sign_tree_head(head.seq, &frontier.root(), now_micros());
    let model = entity::tree_heads::ActiveModel::from_head(&sth, &signer.public_key_base64());
    entity::tree_heads::Entity::insert(model)
        .on_conflict_do_nothing()
        .exec_without_returning(conn)
        .await?;
    tree_head(conn, sth.tree_size)
        .await?
        .ok_or_else(|| corrupt("a tree head just stored cannot be read back"))
}

/// The signed tree head of the largest size, if any was sealed.
pub async fn latest_tree_head<C: ConnectionTrait>(
    conn: &C,
) -> Result<Option<SignedTreeHead>, EvidenceError> {
    let model = entity::tree_heads::Entity::find()
        .order_by_desc(entity::tree_heads::Column::TreeSize)
        .one(conn)
        .await?;
    Ok(model.map(SignedTreeHead::from))
}

/// The signed tree head of exactly `tree_size` records, if one was sealed.
pub async fn tree_head<C: ConnectionTrait>(
    conn: &C,
    tree_size: i64,
) -> Result<Option<SignedTreeHead>, EvidenceError> {
    let model = entity::tree_heads::Entity::find_by_id(tree_size)
        .one(conn)
        .await?;
    Ok(model.map(SignedTreeHead::from))
}

/// The record with sequence number `seq`.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
) -> Result<Option<EvidenceRecord>, EvidenceError> {
    let model = entity::records::Entity::find_by_id(seq).one(conn).await?;
    Ok(model.map(EvidenceRecord::from))
}

/// Every record about `object` (e.g. `declaration/0190…`), oldest first: how a citizen's
/// declaration finds its evidence.
pub async fn records_for_object<C: ConnectionTrait>(
    conn: &C,
    object: &str,
) -> Result<Vec<EvidenceRecord>, EvidenceError> {
    let models = entity::records::Entity::find()
        .filter(entity::records::Column::Object.eq(object))
        .order_by_asc(entity::records::Column::Seq)
        .all(conn)
        .await?;
    Ok(models.into_iter().map(EvidenceRecord::from).collect())
}

/// The proof that record `seq` is in the signed log.
///
/// With `tree_size: None` it uses the latest signed tree head; if that does not cover the
/// record yet the error is [`EvidenceError::NotYetSealed`] — sealing needs the signing key,
/// which this function does not take: the caller decides whether to [`seal`] on demand or wait
/// for its periodic seal. With `Some(size)` it uses the head of exactly that size (for a client
/// that pinned an older head).
///
/// The proof is checked against the stored head before it is returned; a store that cannot
/// produce a valid one reports [`EvidenceError::Corrupt`].
pub async fn inclusion_proof<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    tree_size: Option<i64>,
) -> Result<InclusionProof, EvidenceError> {
    let record = record(conn, seq)
        .await?
        .ok_or(EvidenceError::RecordNotFound { seq })?;
    let head = match tree_size {
        Some(size) => {
            let head = tree_head(conn, size)
                .await?
                .ok_or(EvidenceError::TreeHeadNotFound { tree_size: size })?;
            if head.tree_size < seq {
                return Err(EvidenceError::InvalidInput(format!(
                    "the tree head of size {size} does not cover record {seq}"
                )));
            }
            head
        }
        None => latest_tree_head(conn)
            .await?
            .filter(|head| head.tree_size >= seq)
            .ok_or(EvidenceError::NotYetSealed { seq })?,
    };
    let (index, size) = ((seq - 1) as u64, head.tree_size as u64);
    let ranges = merkle::inclusion_ranges(index, size)
        .ok_or_else(|| corrupt(format!("record {seq} is outside the tree of size {size}")))?;
    let path = range_hashes(conn, &ranges).await?;

    let reaches_root = match (record.leaf_hash(), head.root()) {
        (Some(leaf), Some(root)) => {
            record.hash_is_valid() && merkle::verify_inclusion(&leaf, index, size, &path, &root)
        }
        _ => false,
    };
    if !reaches_root {
        return Err(corrupt(format!(
            "record {seq} does not prove into the signed tree of size {size}; run verify_stored"
        )));
    }
    Ok(InclusionProof {
        record,
        leaf_index: seq - 1,
        tree_size: head.tree_size,
        audit_path: path.iter().map(hex::encode).collect(),
        tree_head: head,
    })
}

/// The proof that the signed tree of `new_size` records extends the signed tree of `old_size`
/// records. Both sizes must be sizes of sealed heads.
pub async fn consistency_proof<C: ConnectionTrait>(
    conn: &C,
    old_size: i64,
    new_size: i64,
) -> Result<ConsistencyProof, EvidenceError> {
    if old_size < 0 || old_size > new_size {
        return Err(EvidenceError::InvalidInput(format!(
            "no consistency proof from size {old_size} to size {new_size}"
        )));
    }
    let old = tree_head(conn, old_size)
        .await?
        .ok_or(EvidenceError::TreeHeadNotFound {
            tree_size: old_size,
        })?;
    let new = tree_head(conn, new_size)
        .await?
        .ok_or(EvidenceError::TreeHeadNotFound {
            tree_size: new_size,
        })?;
    let (m, n) = (old_size as u64, new_size as u64);
    let ranges = merkle::consistency_ranges(m, n)
        .ok_or_else(|| corrupt("consistency ranges of ordered sizes"))?;
    let proof = range_hashes(conn, &ranges).await?;
    let consistent = match (old.root(), new.root()) {
        (Some(old_root), Some(new_root)) => {
            merkle::verify_consistency(m, n, &old_root, &new_root, &proof)
        }
        _ => false,
    };
    if !consistent {
        return Err(corrupt(format!(
            "the stored tree of size {new_size} does not extend the one of size {old_size}; \
             run verify_stored"
        )));
    }
    Ok(ConsistencyProof {
        old,
        new,
        proof: proof.iter().map(hex::encode).collect(),
    })
}

/// The whole log for offline verification: every record, every signed tree head and the keys
/// that signed them. Holds the log in memory. A database without evidence tables is
/// [`EvidenceError::NotMigrated`].
pub async fn export<C: ConnectionTrait>(
    conn: &C,
    service: &str,
) -> Result<ExportedLog, EvidenceError> {
    read_head(conn).await?;
    // The heads first: records only grow, so every record they cover is read below.
    let heads = entity::tree_heads::Entity::find()
        .order_by_asc(entity::tree_heads::Column::TreeSize)
        .all(conn)
        .await?;
    let records = entity::records::Entity::find()
        .order_by_asc(entity::records::Column::Seq)
        .all(conn)
        .await?;
    let mut public_keys: Vec<PublishedKey> = Vec::new();
    for h in &heads {
        match public_keys.iter_mut().find(|k| k.key_id == h.key_id) {
            Some(known) => known.retired_at = None,
            None => {
                if let Some(previous) = public_keys.last_mut() {
                    previous.retired_at = Some(h.signed_at);
                    previous.status = KeyStatus::Retired;
                }
                public_keys.push(PublishedKey {
                    key_id: h.key_id.clone(),
                    public_key: h.public_key.clone(),
                    valid_from: h.signed_at,
                    retired_at: None,
                    status: KeyStatus::Current,
                });
            }
        }
    }
    Ok(ExportedLog {
        format: EXPORT_FORMAT.to_owned(),
        service: Some(service.to_owned()),
        public_keys,
        tree_heads: heads.into_iter().map(SignedTreeHead::from).collect(),
        records: records.into_iter().map(EvidenceRecord::from).collect(),
    })
}

/// Audits the log in the database: every record hash, the chain, sequence continuity, every
/// stored tree head (root against the records, signature by a `trusted` key), and the append
/// head row (last seq, last hash, Merkle frontier). Streams the records in pages.
///
/// Fails with [`EvidenceError::Verify`] naming the first record found tampered, missing or out
/// of order, or the head signed by a key that is not trusted.
pub async fn verify_stored<C: ConnectionTrait>(
    conn: &C,
    trusted: &TrustedKeys,
) -> Result<VerifyReport, EvidenceError> {
    verify_stored_from(conn, trusted, ChainCursor::start())
        .await
        .map(|(report, _)| report)
}

/// [`verify_stored`] of what follows `cursor` (a previous walk's end): the records after it,
/// the heads larger than it, and the head row. Returns where this walk ended, to go on from.
pub(crate) async fn verify_stored_from<C: ConnectionTrait>(
    conn: &C,
    trusted: &TrustedKeys,
    cursor: ChainCursor,
) -> Result<(VerifyReport, ChainCursor), EvidenceError> {
    // Tree heads before the head row: a head only covers records the head row had counted
    // when it was sealed, so reading in this order never sees a head beyond the row.
    let mut heads_query =
        entity::tree_heads::Entity::find().order_by_asc(entity::tree_heads::Column::TreeSize);
    if cursor.verified > 0 {
        heads_query = heads_query.filter(entity::tree_heads::Column::TreeSize.gt(cursor.verified));
    }
    let heads: Vec<SignedTreeHead> = heads_query
        .all(conn)
        .await?
        .into_iter()
        .map(SignedTreeHead::from)
        .collect();
    let head = read_head(conn).await?;
    for sth in &heads {
        check_signature(sth, trusted)?;
    }

    let mut after = cursor.verified;
    let mut chain = ChainVerifier::resume(cursor, heads, Vec::new())?;
    loop {
        // Only records the head row had counted when read: later ones are concurrent appends.
        let page = entity::records::Entity::find()
            .filter(entity::records::Column::Seq.gt(after))
            .filter(entity::records::Column::Seq.lte(head.seq))
            .order_by_asc(entity::records::Column::Seq)
            .limit(PAGE)
            .all(conn)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for model in page {
            let record = EvidenceRecord::from(model);
            if let Err(anomaly) = chain.push(&record) {
                let clues = stored_clues(conn, &anomaly, &record).await?;
                return Err(classify(anomaly, &record, &clues).into());
            }
        }
    }
    let cursor = chain.cursor();
    let summary = chain.finish()?;
    let counted = summary.report.records;
    if counted < head.seq {
        return Err(VerifyError::Missing { seq: counted + 1 }.into());
    }
    if summary.report.last_record_hash != head.last_hash {
        return Err(if counted == 0 {
            VerifyError::FrontierMismatch
        } else {
            VerifyError::Tampered { seq: counted }
        }
        .into());
    }
    if frontier_to_text(&summary.frontier) != head.frontier {
        return Err(VerifyError::FrontierMismatch.into());
    }
    // A record beyond the head row that a concurrent append does not account for.
    let max_seq: Option<i64> = entity::records::Entity::find()
        .select_only()
        .column_as(entity::records::Column::Seq.max(), "max_seq")
        .into_tuple()
        .one(conn)
        .await?
        .flatten();
    let now = read_head(conn).await?;
    if max_seq.is_some_and(|max| max > now.seq) {
        return Err(VerifyError::Injected { seq: now.seq + 1 }.into());
    }
    Ok((summary.report, cursor))
}

/// Looks up the records related to a faulty one (only after a failure, so full scans are fine).
async fn stored_clues<C: ConnectionTrait>(
    conn: &C,
    anomaly: &Anomaly,
    record: &EvidenceRecord,
) -> Result<Clues, EvidenceError> {
    use entity::records::{Column, Entity};
    if !matches!(anomaly, Anomaly::HashMismatch { .. }) {
        // Rows come in primary-key order: a gap is a gap, never a record further on.
        return Ok(Clues::default());
    }
    let label_where = |condition: Condition| {
        Entity::find()
            .select_only()
            .column(Column::Seq)
            .filter(condition)
            .filter(Column::Seq.ne(record.seq))
            .into_tuple::<i64>()
            .one(conn)
    };
    Ok(Clues {
        successor: label_where(Condition::all().add(Column::PrevHash.eq(&record.record_hash)))
            .await?,
        predecessor: label_where(Condition::all().add(Column::RecordHash.eq(&record.prev_hash)))
            .await?,
        expected_later: false,
    })
}

/// `MTH` of each range, from the perfect subtrees that tile it.
async fn range_hashes<C: ConnectionTrait>(
    conn: &C,
    ranges: &[Range<u64>],
) -> Result<Vec<Hash>, EvidenceError> {
    let covers: Vec<Vec<NodeId>> = ranges.iter().cloned().map(merkle::perfect_cover).collect();
    let wanted: BTreeSet<NodeId> = covers.iter().flatten().copied().collect();
    let mut known: HashMap<NodeId, Hash> = HashMap::with_capacity(wanted.len());

    let leaf_seqs: Vec<i64> = wanted
        .iter()
        .filter(|id| id.level == 0)
        .map(|id| id.index as i64 + 1)
        .collect();
    if !leaf_seqs.is_empty() {
        use entity::records::{Column, Entity};
        let rows: Vec<(i64, String)> = Entity::find()
            .select_only()
            .column(Column::Seq)
            .column(Column::RecordHash)
            .filter(Column::Seq.is_in(leaf_seqs))
            .into_tuple()
            .all(conn)
            .await?;
        for (seq, record_hash) in rows {
            let bytes = decode_hash(&record_hash)
                .ok_or_else(|| corrupt(format!("record {seq} has a malformed hash")))?;
            known.insert(
                NodeId {
                    level: 0,
                    index: (seq - 1) as u64,
                },
                merkle::leaf_hash(&bytes),
            );
        }
    }

    let interior: Vec<NodeId> = wanted.iter().filter(|id| id.level > 0).copied().collect();
    for chunk in interior.chunks(100) {
        use entity::nodes::{Column, Entity};
        let mut any = Condition::any();
        for id in chunk {
            any = any.add(
                Condition::all()
                    .add(Column::Level.eq(id.level as i16))
                    .add(Column::Idx.eq(id.index as i64)),
            );
        }
        for node in Entity::find().filter(any).all(conn).await? {
            let hash = decode_hash(&node.hash).ok_or_else(|| {
                corrupt(format!(
                    "Merkle node ({}, {}) is malformed",
                    node.level, node.idx
                ))
            })?;
            known.insert(
                NodeId {
                    level: node.level as u32,
                    index: node.idx as u64,
                },
                hash,
            );
        }
    }

    covers
        .iter()
        .map(|cover| {
            let hashes = cover
                .iter()
                .map(|id| {
                    known.get(id).copied().ok_or_else(|| {
                        corrupt(format!(
                            "Merkle node ({}, {}) is missing",
                            id.level, id.index
                        ))
                    })
                })
                .collect::<Result<Vec<Hash>, EvidenceError>>()?;
            Ok(merkle::fold_right(&hashes))
        })
        .collect()
}

async fn read_head<C: ConnectionTrait>(conn: &C) -> Result<entity::head::Model, EvidenceError> {
    entity::head::Entity::find_by_id(HEAD_ID)
        .one(conn)
        .await
        .map_err(|e| {
            if is_missing_table(&e) {
                EvidenceError::NotMigrated
            } else {
                EvidenceError::Database(e)
            }
        })?
        .ok_or(EvidenceError::NotMigrated)
}

/// Whether the database says a table does not exist (SQLite and PostgreSQL wordings).
fn is_missing_table(e: &sea_orm::DbErr) -> bool {
    let text = e.to_string();
    text.contains("no such table") || (text.contains("relation") && text.contains("does not exist"))
}

/// The frontier as stored: its hashes in hex, concatenated, largest subtree first.
fn frontier_to_text(frontier: &Frontier) -> String {
    frontier.nodes().iter().map(hex::encode).collect()
}

fn parse_frontier(size: i64, text: &str) -> Result<Frontier, EvidenceError> {
    let bad = || {
        corrupt(format!(
            "the stored Merkle frontier does not fit size {size}"
        ))
    };
    let size = u64::try_from(size).map_err(|_| bad())?;
    if !text.len().is_multiple_of(64) || !text.is_ascii() {
        return Err(bad());
    }
    let nodes = (0..text.len())
        .step_by(64)
        .map(|at| decode_hash(&text[at..at + 64]))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(bad)?;
    Frontier::from_parts(size, nodes).ok_or_else(bad)
}

fn corrupt(what: impl Into<String>) -> EvidenceError {
    EvidenceError::Corrupt(what.into())
}

/// The sea-orm entities of the migration's tables (private: the tables are written only here).
mod entity {
    pub mod records {
        use sea_orm::ActiveValue::Set;
        use sea_orm::entity::prelude::*;

        use crate::record::EvidenceRecord;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "evidence_records")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub seq: i64,
            pub actor: String,
            pub action: String,
            pub object: String,
            pub payload_hash: String,
            pub recorded_at: DateTimeUtc,
            pub prev_hash: String,
            pub record_hash: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}

        impl From<&EvidenceRecord> for ActiveModel {
            fn from(r: &EvidenceRecord) -> ActiveModel {
                ActiveModel {
                    seq: Set(r.seq),
                    actor: Set(r.actor.clone()),
                    action: Set(r.action.clone()),
                    object: Set(r.object.clone()),
                    payload_hash: Set(r.payload_hash.clone()),
                    recorded_at: Set(r.recorded_at),
                    prev_hash: Set(r.prev_hash.clone()),
                    record_hash: Set(r.record_hash.clone()),
                }
            }
        }

        impl From<Model> for EvidenceRecord {
            fn from(m: Model) -> EvidenceRecord {
                EvidenceRecord {
                    seq: m.seq,
                    actor: m.actor,
                    action: m.action,
                    object: m.object,
                    payload_hash: m.payload_hash,
                    recorded_at: m.recorded_at,
                    prev_hash: m.prev_hash,
                    record_hash: m.record_hash,
                }
            }
        }
    }

    pub mod tree_heads {
        use sea_orm::ActiveValue::Set;
        use sea_orm::entity::prelude::*;

        use crate::tree_head::SignedTreeHead;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "evidence_tree_heads")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub tree_size: i64,
            pub root_hash: String,
            pub signed_at: DateTimeUtc,
            pub key_id: String,
            pub public_key: String,
            pub signature: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}

        impl ActiveModel {
            pub fn from_head(h: &SignedTreeHead, public_key: &str) -> ActiveModel {
                ActiveModel {
                    tree_size: Set(h.tree_size),
                    root_hash: Set(h.root_hash.clone()),
                    signed_at: Set(h.timestamp),
                    key_id: Set(h.key_id.clone()),
                    public_key: Set(public_key.to_owned()),
                    signature: Set(h.signature.clone()),
                }
            }
        }

        impl From<Model> for SignedTreeHead {
            fn from(m: Model) -> SignedTreeHead {
                SignedTreeHead {
                    tree_size: m.tree_size,
                    root_hash: m.root_hash,
                    timestamp: m.signed_at,
                    key_id: m.key_id,
                    signature: m.signature,
                }
            }
        }
    }

    pub mod nodes {
        use sea_orm::ActiveValue::Set;
        use sea_orm::entity::prelude::*;

        use crate::merkle::{Hash, NodeId};

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "evidence_merkle_nodes")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub level: i16,
            #[sea_orm(primary_key, auto_increment = false)]
            pub idx: i64,
            pub hash: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}

        impl ActiveModel {
            pub fn from_node(id: NodeId, hash: &Hash) -> ActiveModel {
                ActiveModel {
                    level: Set(id.level as i16),
                    idx: Set(id.index as i64),
                    hash: Set(hex::encode(hash)),
                }
            }
        }
    }

    pub mod head {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "evidence_head")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i16,
            pub seq: i64,
            pub last_hash: String,
            pub frontier: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}
