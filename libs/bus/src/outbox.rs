//! The transactional outbox and its relay.
//!
//! A service calls [`enqueue`] inside the transaction that writes its change, so the event exists
//! if and only if the change does. The [`Relay`] publishes unpublished rows in id (= time) order,
//! with `Nats-Msg-Id` = event id, and marks them published after the JetStream ack. A relay that
//! dies between the ack and the mark publishes the rows again on its next pass: the stream's
//! duplicate window drops them, and past the window the consumers' inbox does. Two relays on the
//! same database are therefore harmless too.
//!
//! Waking: [`RelayHandle::notify`] right after a commit makes the latency one round trip; a
//! fallback pass every second picks up anything else (rows written by a process that died before
//! it could notify, rows whose publish failed while the bus was down).
//!
//! In-process mode: the in-memory streams die with the process, so events that were published
//! but not yet consumed would be lost. On start, an in-process relay therefore re-publishes the
//! rows published within [`Relay::replay_window`] (24 h by default) before anything else. The
//! consumers' inbox makes the events they already applied no-ops; events older than the window
//! that a consumer had not applied before the restart are not replayed. Tasks are replayed too,
//! so task consumers must also go through the inbox ([`crate::inbox::run_consumer`]). With NATS
//! nothing is replayed: the streams are durable.
//!
//! Published rows ([`PublishedRows`]): with NATS the stream is the durable record of what was
//! published, so a row is deleted as soon as its acks arrive — a delete writes a few bytes of
//! WAL, where marking the row published rewrote it whole (its payload and two index entries),
//! which cost more than publishing it (docs/figures.md). In process the rows are the replay's
//! source, so they are marked published and kept 7 days.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};
use tokio::sync::{Notify, watch};
use uuid::Uuid;
use zw_contracts::Envelope;

use crate::bus::Bus;
use crate::error::BusError;
use crate::message::{self, OutgoingMessage, StreamKind};
use crate::migration::names::*;
use crate::{subject, trace};

/// Write `env` to the outbox as an event on `env.subject()`. Call it inside the transaction that
/// writes the change the event describes. The current [`trace`] context is added to `headers`
/// unless they carry a `traceparent`.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    env: &Envelope,
    headers: &[(String, String)],
) -> Result<(), DbErr> {
    insert(conn, &env.subject(), StreamKind::Events, env, headers).await
}

/// Write `env` to the outbox as a task on `subject` (`zw.task.…`), inside the caller's
/// transaction.
pub async fn enqueue_task(
    conn: &impl ConnectionTrait,
    subject: &str,
    env: &Envelope,
    headers: &[(String, String)],
) -> Result<(), DbErr> {
    insert(conn, subject, StreamKind::Tasks, env, headers).await
}

/// [`enqueue`] of many events at once (a bulk import's), with the same `headers`: a few
/// statements in all. Nothing is written if one of them is refused.
pub async fn enqueue_many(
    conn: &impl ConnectionTrait,
    envs: &[Envelope],
    headers: &[(String, String)],
) -> Result<(), DbErr> {
    let headers = trace::with_current(headers);
    message::validate_headers(&headers).map_err(|e| DbErr::Custom(e.to_string()))?;
    let headers = serde_json::to_value(&headers)
        .map_err(|e| DbErr::Custom(format!("cannot encode headers: {e}")))?;
    let now = Utc::now();
    let mut rows = Vec::with_capacity(envs.len());
    for env in envs {
        rows.push(row(&env.subject(), StreamKind::Events, env, &headers, now)?);
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut stmt = Query::insert();
        stmt.into_table(OUTBOX)
            .columns([ID, SUBJECT, KIND, PAYLOAD, HEADERS, CREATED_AT]);
        for values in chunk {
            stmt.values(values.clone())
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        conn.execute(&stmt).await?;
    }
    Ok(())
}

/// Outbox rows per INSERT statement (six values each).
const ROWS_PER_INSERT: usize = 1_000;

/// The values of one outbox row, checked: refused here, in the caller's transaction, rather than
/// in the relay where a bad row would be stuck forever.
fn row(
    subject: &str,
    kind: StreamKind,
    env: &Envelope,
    headers: &serde_json::Value,
    now: chrono::DateTime<Utc>,
) -> Result<[Expr; 6], DbErr> {
    subject::validate_publish(kind, subject).map_err(|e| DbErr::Custom(e.to_string()))?;
    let payload = serde_json::to_string(env)
        .map_err(|e| DbErr::Custom(format!("cannot encode the envelope: {e}")))?;
    Ok([
        env.id.into(),
        subject.into(),
        kind.as_str().into(),
        payload.into(),
        headers.clone().into(),
        now.into(),
    ])
}

async fn insert(
    conn: &impl ConnectionTrait,
    subject: &str,
    kind: StreamKind,
    env: &Envelope,
    headers: &[(String, String)],
) -> Result<(), DbErr> {
    let headers = trace::with_current(headers);
    message::validate_headers(&headers).map_err(|e| DbErr::Custom(e.to_string()))?;
    let headers = serde_json::to_value(&headers)
        .map_err(|e| DbErr::Custom(format!("cannot encode headers: {e}")))?;
    let values = row(subject, kind, env, &headers, Utc::now())?;
    let stmt = Query::insert()
        .into_table(OUTBOX)
        .columns([ID, SUBJECT, KIND, PAYLOAD, HEADERS, CREATED_AT])
        .values(values)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(())
}

/// Why a relay pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading or updating the outbox failed.
    #[error("outbox database error: {0}")]
    Db(#[from] DbErr),
    /// Publishing failed (the bus is down, or refused a message).
    #[error(transparent)]
    Bus(#[from] BusError),
}

const COLUMNS: [&str; 5] = [ID, SUBJECT, KIND, PAYLOAD, HEADERS];

/// Turn a row into a message; `None` (logged) for a row this code could not have written.
fn to_message(row: &QueryResult) -> Result<Option<OutgoingMessage>, DbErr> {
    let id: Uuid = row.try_get("", ID)?;
    let subject: String = row.try_get("", SUBJECT)?;
    let kind: String = row.try_get("", KIND)?;
    let payload: String = row.try_get("", PAYLOAD)?;
    let headers: serde_json::Value = row.try_get("", HEADERS)?;
    let Some(kind) = StreamKind::parse(&kind) else {
        tracing::error!(%id, kind, "outbox row with an unknown kind is skipped");
        return Ok(None);
    };
    let headers: Vec<(String, String)> = match serde_json::from_value(headers) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(%id, error = %e, "outbox row with unreadable headers is skipped");
            return Ok(None);
        }
    };
    Ok(Some(OutgoingMessage {
        id,
        subject,
        kind,
        payload: payload.into_bytes().into(),
        headers,
    }))
}

/// Rows the relay read to publish: their messages (rows it could not have written are left out),
/// the last row's id (where the next read starts) and whether the read was a full batch (so more
/// may follow).
struct Batch {
    msgs: Vec<OutgoingMessage>,
    last: Uuid,
    full: bool,
}

/// What becomes of an outbox row once its event is published (acked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedRows {
    /// Deleted at once (the default with NATS, whose stream keeps the event).
    Delete,
    /// Marked published and deleted after this long (the default in process: 7 days).
    KeepFor(Duration),
    /// Marked published and kept.
    KeepForever,
}

/// Publishes the outbox of one database. Build it with [`Relay::new`], adjust, then
/// [`Relay::spawn`] it (or call its passes directly).
#[derive(Debug, Clone)]
pub struct Relay {
    db: DatabaseConnection,
    bus: Bus,
    batch_size: u64,
    interval: Duration,
    replay_window: Duration,
    published: PublishedRows,
}

/// Rows per batch by default. A batch is one read, one publish round trip and one mark; with the
/// three stages pipelined, 500 rows a batch relayed 0.69 of raw JetStream publishing's rate
/// against 0.28 for 100 (docs/figures.md). It bounds only how much one read takes: a single row
/// committed alone is still published at once.
pub const DEFAULT_BATCH: u64 = 500;

/// Waits between failed passes grow from this…
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// …to at most this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often published rows older than [`Relay::keep_published`] are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

impl Relay {
    /// A relay with the defaults: batches of [`DEFAULT_BATCH`], a fallback pass every second;
    /// with NATS published rows deleted at once, in process a 24 h replay window and published
    /// rows kept 7 days.
    pub fn new(db: DatabaseConnection, bus: Bus) -> Self {
        let published = if bus.is_in_process() {
            PublishedRows::KeepFor(Duration::from_secs(7 * 24 * 3600))
        } else {
            PublishedRows::Delete
        };
        Self {
            db,
            bus,
            batch_size: DEFAULT_BATCH,
            interval: Duration::from_secs(1),
            replay_window: Duration::from_secs(24 * 3600),
            published,
        }
    }

    /// Rows per publish round trip.
    pub fn batch_size(mut self, n: u64) -> Self {
        self.batch_size = Ord::max(n, 1);
        self
    }

    /// The fallback pass interval (for rows nobody notified about).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// In-process mode only: on start, re-publish rows published within this window (zero: do
    /// not). Only rows still kept ([`Relay::published_rows`]) can be replayed.
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// What becomes of published rows (see [`PublishedRows`] for the defaults).
    pub fn published_rows(mut self, published: PublishedRows) -> Self {
        self.published = published;
        self
    }

    /// Publish every unpublished row, oldest first, in batches; returns how many were published.
    ///
    /// Each batch is sent whole before its acks are awaited (one round trip per batch), and a
    /// batch's rows are marked published only after all its acks. The pass is a pipeline of three
    /// stages that run at once: while a batch is published, the next one is read and the one
    /// before is marked (a commit, so a WAL flush). Batches are still published one after the
    /// other, in id order. The pass walks the rows by id rather than re-reading those still being
    /// marked; a row committed meanwhile with an id below the walk's position waits for the next
    /// pass.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        let mut batch = self.read_batch(None).await?;
        let mut marking: Option<Vec<Uuid>> = None;
        while let Some(current) = batch.take() {
            let ids: Vec<Uuid> = current.msgs.iter().map(|m| m.id).collect();
            let read_next = async {
                if current.full {
                    self.read_batch(Some(current.last)).await
                } else {
                    Ok(None)
                }
            };
            let previous = marking.take();
            let mark = async {
                match previous {
                    Some(ids) => self.mark_published(ids).await,
                    None => Ok(()),
                }
            };
            let (next, published, marked) =
                tokio::join!(read_next, self.bus.publish_batch(&current.msgs), mark);
            marked?;
            published?;
            total += ids.len();
            if !ids.is_empty() {
                marking = Some(ids);
            }
            batch = next?;
        }
        if let Some(ids) = marking {
            self.mark_published(ids).await?;
        }
        Ok(total)
    }

    /// The next batch of unpublished rows after `after` (from the start if `None`); `None` when
    /// there is none.
    async fn read_batch(&self, after: Option<Uuid>) -> Result<Option<Batch>, RelayError> {
        self.read_rows(Expr::col(PUBLISHED_AT).is_null(), after)
            .await
    }

    /// The next batch of rows matching `which` after `after`, in id order.
    async fn read_rows(
        &self,
        which: sea_orm::sea_query::SimpleExpr,
        after: Option<Uuid>,
    ) -> Result<Option<Batch>, RelayError> {
        let mut stmt = Query::select()
            .columns(COLUMNS)
            .from(OUTBOX)
            .and_where(which)
            .order_by(ID, Order::Asc)
            .limit(self.batch_size)
            .to_owned();
        if let Some(after) = after {
            stmt.and_where(Expr::col(ID).gt(after));
        }
        let rows = self.db.query_all(&stmt).await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        let last: Uuid = last.try_get("", ID)?;
        let mut msgs = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(m) = to_message(row)? {
                msgs.push(m);
            }
        }
        Ok(Some(Batch {
            msgs,
            last,
            full: rows.len() as u64 >= self.batch_size,
        }))
    }

    /// Mark the rows of `ids` published (after their acks), or delete them.
    async fn mark_published(&self, ids: Vec<Uuid>) -> Result<(), RelayError> {
        if self.published == PublishedRows::Delete {
            let delete = Query::delete()
                .from_table(OUTBOX)
                .and_where(Expr::col(ID).is_in(ids))
                .to_owned();
            self.db.execute(&delete).await?;
            return Ok(());
        }
        let mark = Query::update()
            .table(OUTBOX)
            .value(PUBLISHED_AT, Utc::now())
            .and_where(Expr::col(ID).is_in(ids))
            .and_where(Expr::col(PUBLISHED_AT).is_null())
            .to_owned();
        self.db.execute(&mark).await?;
        Ok(())
    }

    /// Re-publish the rows published within the replay window (what an in-process relay does on
    /// start); returns how many.
    pub async fn replay_recent(&self) -> Result<usize, RelayError> {
        let window = match self.published {
            PublishedRows::Delete => return Ok(0),
            PublishedRows::KeepFor(keep) => self.replay_window.min(keep),
            PublishedRows::KeepForever => self.replay_window,
        };
        if window.is_zero() {
            return Ok(0);
        }
        let since = chrono::Duration::from_std(window)
            .ok()
            .and_then(|window| Utc::now().checked_sub_signed(window))
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let mut after: Option<Uuid> = None;
        let mut total = 0;
        while let Some(batch) = self
            .read_rows(Expr::col(PUBLISHED_AT).gte(since), after)
            .await?
        {
            after = Some(batch.last);
            self.bus.publish_batch(&batch.msgs).await?;
            total += batch.msgs.len();
        }
        Ok(total)
    }

    /// Delete published rows kept longer than [`PublishedRows::KeepFor`] says; returns how many.
    pub async fn purge_published(&self) -> Result<u64, DbErr> {
        let PublishedRows::KeepFor(keep) = self.published else {
            return Ok(0);
        };
        let Some(before) = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|keep| Utc::now().checked_sub_signed(keep))
        else {
            return Ok(0);
        };
        let stmt = Query::delete()
            .from_table(OUTBOX)
            .and_where(Expr::col(PUBLISHED_AT).lt(before))
            .to_owned();
        Ok(self.db.execute(&stmt).await?.rows_affected())
    }

    /// Run until `shutdown` resolves: (in process) replay the recent rows, then publish whenever
    /// notified and at least every interval, retrying with backoff while the bus or the database
    /// is down. On shutdown it makes one last pass (at most 5 s).
    pub fn spawn<S>(self, shutdown: S) -> RelayHandle
    where
        S: Future + Send + 'static,
    {
        let wake = Arc::new(Notify::new());
        let (done_tx, done_rx) = watch::channel(());
        let handle = RelayHandle {
            wake: wake.clone(),
            done: done_rx,
        };
        tokio::spawn(async move {
            // Dropped when this task ends, however it ends: that is what `stopped` waits for.
            let _done = done_tx;
            tokio::pin!(shutdown);
            let mut backoff = MIN_BACKOFF;
            if self.bus.is_in_process() {
                loop {
                    match self.replay_recent().await {
                        Ok(n) => {
                            if n > 0 {
                                tracing::info!(
                                    rows = n,
                                    "outbox relay: re-published recent events to the in-process bus"
                                );
                            }
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay: replay failed");
                            tokio::select! {
                                _ = &mut shutdown => return,
                                _ = tokio::time::sleep(backoff) => {}
                            }
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
            }
            backoff = MIN_BACKOFF;
            let mut last_purge: Option<tokio::time::Instant> = None;
            loop {
                match self.publish_pending().await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::debug!(rows = n, "outbox relay: published");
                        }
                        backoff = MIN_BACKOFF;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay: publishing failed, will retry");
                        tokio::select! {
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
                if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                    last_purge = Some(tokio::time::Instant::now());
                    match self.purge_published().await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(rows = n, "outbox relay: purged old published rows")
                        }
                        Err(e) => tracing::warn!(error = %e, "outbox relay: purge failed"),
                    }
                }
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(self.interval) => {}
                }
            }
            // Best effort: what was committed just before shutdown goes out now rather than on
            // the next start.
            match tokio::time::timeout(Duration::from_secs(5), self.publish_pending()).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "outbox relay: last pass failed"),
                Err(_) => tracing::warn!("outbox relay: last pass timed out"),
                Ok(Ok(_)) => {}
            }
        });
        handle
    }
}

/// Start a relay with the defaults ([`Relay::new`]) until `shutdown` resolves.
pub fn spawn_relay<S>(db: DatabaseConnection, bus: Bus, shutdown: S) -> RelayHandle
where
    S: Future + Send + 'static,
{
    Relay::new(db, bus).spawn(shutdown)
}

/// A running relay. Cheap to clone: hand it to whatever commits outbox rows.
#[derive(Debug, Clone)]
pub struct RelayHandle {
    wake: Arc<Notify>,
    done: watch::Receiver<()>,
}

impl RelayHandle {
    /// Wake the relay now (call it right after committing a transaction that enqueued rows).
    /// Wake-ups while it is busy are not lost: it passes again.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Wait until the relay has stopped (after its shutdown future resolved).
    pub async fn stopped(&self) {
        let mut done = self.done.clone();
        while done.changed().await.is_ok() {}
    }

    /// Whether the relay has stopped.
    pub fn is_stopped(&self) -> bool {
        self.done.has_changed().is_err()
    }
}
