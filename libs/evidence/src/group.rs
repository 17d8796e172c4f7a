//! Group commit: appends handed over by many concurrent callers, written together.
//!
//! [`append`](crate::append) runs in the caller's transaction, so appends within one database
//! are serial: each holds the chain's head row lock until its transaction commits, one commit
//! (one WAL flush) after the other. A [`GroupAppender`] is for records that need not commit
//! together with a state change of the caller's: one writer task takes every record waiting (up
//! to a batch), appends them under one lock in one transaction of its own, and answers each
//! caller once that transaction committed. Many callers then share one commit.

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::EvidenceError;
use crate::record::{EvidenceRecord, payload_hash};
use crate::store::{Entry, append_entries, check_entry};

/// A handle on a writer task that appends records from many callers in shared transactions.
/// Cheap to clone; the writer stops when the last handle is dropped (after answering what it
/// took).
///
/// Each record is appended in the writer's transaction, **not the caller's**: use it for records
/// of something that is not a change in the caller's database (a read of personal data, an
/// export), or of a change already committed. A record is answered only after its transaction
/// committed, so an answered record is durable. Records of one batch get consecutive sequence
/// numbers in the order they were handed over; the chain, its hashes and its Merkle tree are
/// exactly what as many [`append`](crate::append) calls would have made.
///
/// If a batch fails, the writer appends its records again one by one, so that each caller gets
/// its own answer (a record that failed alone does not fail the others).
#[derive(Debug, Clone)]
pub struct GroupAppender {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug)]
struct Job {
    actor: String,
    action: String,
    object: String,
    payload_hash: String,
    reply: oneshot::Sender<Result<EvidenceRecord, EvidenceError>>,
}

impl Job {
    fn entry(&self) -> Entry<'_> {
        Entry {
            actor: &self.actor,
            action: &self.action,
            object: &self.object,
            payload_hash: self.payload_hash.clone(),
        }
    }
}

impl GroupAppender {
    /// Start the writer on `db`, appending at most `max_batch` records per transaction (at
    /// least 1). Needs a Tokio runtime.
    pub fn spawn(db: DatabaseConnection, max_batch: usize) -> GroupAppender {
        let max_batch = max_batch.max(1);
        let (jobs, queue) = mpsc::channel(max_batch.saturating_mul(2));
        tokio::spawn(write(db, queue, max_batch));
        GroupAppender { jobs }
    }

    /// Appends a record (as [`append`](crate::append) would, but in the writer's transaction)
    /// and returns it once committed. `actor`, `action` and `object` must not be blank.
    pub async fn append(
        &self,
        actor: &str,
        action: &str,
        object: &str,
        payload: &Value,
    ) -> Result<EvidenceRecord, EvidenceError> {
        check_entry(actor, action, object)?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            actor: actor.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            payload_hash: payload_hash(payload),
            reply,
        };
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> EvidenceError {
    EvidenceError::Database(DbErr::Custom(
        "the evidence group appender stopped".to_owned(),
    ))
}

async fn write(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        // Callers answered by the last batch are about to hand over their next records: let
        // them run once before taking what is waiting, or batches alternate between one record
        // and the rest.
        tokio::task::yield_now().await;
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let entries: Vec<Entry<'_>> = jobs.iter().map(Job::entry).collect();
        let result = append_entries(&db, &entries).await;
        drop(entries);
        match result {
            Ok(records) if records.len() == jobs.len() => {
                for (job, record) in jobs.drain(..).zip(records) {
                    let _ = job.reply.send(Ok(record));
                }
            }
            Ok(_) => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(EvidenceError::Corrupt(
                        "a group append wrote a different number of records".to_owned(),
                    )));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(_) => {
                // Nothing of the batch was written: each on its own, for its own answer.
                for job in jobs.drain(..) {
                    let result = append_entries(&db, &[job.entry()])
                        .await
                        .and_then(|mut records| {
                            records.pop().ok_or_else(|| {
                                EvidenceError::Corrupt(
                                    "an append of one record wrote none".to_owned(),
                                )
                            })
                        });
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}
