//! Evidence appended when its transaction is about to commit, so that the chain's lock is held
//! for as short a time as possible.
//!
//! [`append`](crate::append) locks the chain's head row at once, and the lock lasts until the
//! transaction ends: everything the transaction does after its first append runs while every
//! other writer of the service waits, and writers commit one after the other. A write operation
//! that records several steps (a declaration that moves a person in: a life event for the
//! person, one for the house, the declaration's own record) held the lock across most of its
//! statements.
//!
//! Inside [`collect`], [`append_at_commit`] only notes the record (its payload already hashed)
//! and the row that must name its sequence number (a life event, an incident step), and the write
//! operation calls [`Pending::write`] just before it commits: every noted record is appended
//! under one lock, in the order noted, then the rows that name them are inserted. The lock is
//! then held for the append, those inserts and the commit only. The records, their hashes and
//! the tree are exactly what as many `append` calls at the end of the transaction would have
//! made; a transaction that rolls back discards what it noted, as it would have discarded the
//! records.
//!
//! Outside [`collect`], [`append_at_commit`] appends at once and inserts the row right after.

use std::cell::RefCell;
use std::future::Future;

use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use crate::error::EvidenceError;
use crate::record::payload_hash;
use crate::store::{Entry, NewEvidence, append_entries, check_entry};

/// The row that names a record's sequence number, built once the number is known.
pub type Naming = Box<dyn FnOnce(i64) -> Statement + Send>;

struct Noted {
    actor: String,
    action: String,
    object: String,
    payload_hash: String,
    naming: Option<Naming>,
}

tokio::task_local! {
    static NOTED: RefCell<Vec<Noted>>;
}

/// What [`collect`] noted during its work: records to append before the commit.
#[must_use = "the noted records are lost unless written before the commit"]
pub struct Pending(Vec<Noted>);

impl Pending {
    /// Whether nothing was noted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Append the noted records in `txn` (in the order noted) and insert the rows that name
    /// them. Call it last before committing `txn`, the transaction the work ran in.
    pub async fn write<C>(self, txn: &C) -> Result<(), EvidenceError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        if self.0.is_empty() {
            return Ok(());
        }
        let entries: Vec<Entry<'_>> = self
            .0
            .iter()
            .map(|n| Entry {
                actor: &n.actor,
                action: &n.action,
                object: &n.object,
                payload_hash: n.payload_hash.clone(),
            })
            .collect();
        let records = append_entries(txn, &entries).await?;
        drop(entries);
        for (noted, record) in self.0.into_iter().zip(&records) {
            if let Some(naming) = noted.naming {
                txn.execute_raw(naming(record.seq)).await?;
            }
        }
        Ok(())
    }
}

/// Run `work` noting the records [`append_at_commit`] is given instead of appending them; the
/// caller writes them with [`Pending::write`] before it commits the transaction `work` wrote in
/// (and drops them if it rolls back).
pub async fn collect<F: Future>(work: F) -> (F::Output, Pending) {
    NOTED
        .scope(RefCell::new(Vec::new()), async {
            let output = work.await;
            let noted = NOTED.with(|n| n.take());
            (output, Pending(noted))
        })
        .await
}

/// Append `entry` with the row `naming` builds from its sequence number (if any): at the end of
/// the transaction when called inside [`collect`] (`conn` must then be the transaction the
/// collecting work writes in), at once otherwise.
pub async fn append_at_commit<C>(
    conn: &C,
    entry: NewEvidence<'_>,
    naming: Option<Naming>,
) -> Result<(), EvidenceError>
where
    C: ConnectionTrait + TransactionTrait,
{
    check_entry(entry.actor, entry.action, entry.object)?;
    let entry = Entry {
        actor: entry.actor,
        action: entry.action,
        object: entry.object,
        payload_hash: payload_hash(entry.payload),
    };
    if NOTED.try_with(|_| ()).is_ok() {
        NOTED.with(|noted| {
            noted.borrow_mut().push(Noted {
                actor: entry.actor.to_owned(),
                action: entry.action.to_owned(),
                object: entry.object.to_owned(),
                payload_hash: entry.payload_hash,
                naming,
            })
        });
        return Ok(());
    }
    let records = append_entries(conn, std::slice::from_ref(&entry)).await?;
    if let (Some(naming), Some(record)) = (naming, records.first()) {
        conn.execute_raw(naming(record.seq)).await?;
    }
    Ok(())
}
