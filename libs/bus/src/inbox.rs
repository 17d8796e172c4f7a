//! Idempotent consumers: the inbox table and the consumer loop.
//!
//! For each delivery, [`run_consumer`]:
//! 1. decodes the [`Envelope`]; a message that does not decode is a poison message: it is logged
//!    at error level and terminated, so it never blocks the consumer;
//! 2. begins a transaction and inserts (consumer, event id) into `inbox`; if the row exists the
//!    event was applied before (a redelivery, or a duplicate publish past the stream's window):
//!    roll back and acknowledge;
//! 3. otherwise calls the [`EventHandler`] in that transaction, commits, then acknowledges.
//!
//! A handler or database error rolls back and naks with a growing delay (100 ms doubling to
//! 30 s), so the event is retried; [`HandlerError::Permanent`] instead logs and terminates it. If
//! the process dies after the commit but before the ack, the redelivery finds the inbox row:
//! applied exactly once. The delivery's `traceparent` header is the current [`trace`] context
//! while the handler runs, and a field of its `consume` span.
//!
//! One consumer loop handles one delivery at a time; for more throughput, spawn several loops on
//! the same durable (they share its messages; order between them is not guaranteed).

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use zw_domain::db::BeginWrite;

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr};
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;
use zw_contracts::Envelope;

use crate::bus::Bus;
use crate::error::BusError;
use crate::message::{ConsumerSpec, Delivery, Subscription};
use crate::migration::names::*;
use crate::trace;

/// Applies one event to the service's own database, inside the transaction that also records it
/// in the inbox.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Apply `env`. Do every write through `txn`; an error rolls everything back.
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError>;
}

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A database error: retried later.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Something that may work later (a dependency is down): retried later.
    #[error("transient failure: {0}")]
    Transient(Box<dyn StdError + Send + Sync>),
    /// The event can never be applied (e.g. an unknown event type it must not skip silently):
    /// logged at error level and terminated, never retried.
    #[error("the event cannot be applied: {0}")]
    Permanent(Box<dyn StdError + Send + Sync>),
}

impl HandlerError {
    /// A failure worth retrying.
    pub fn transient(e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        HandlerError::Transient(e.into())
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(e: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        HandlerError::Permanent(e.into())
    }
}

/// Record that `consumer` applied `event_id`; `false` if it had already. Use it inside the
/// transaction that applies the event (as [`run_consumer`] does).
pub async fn record(
    conn: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    // ON CONFLICT DO NOTHING rather than a look-up first: with two deliveries of the same event
    // in flight, PostgreSQL makes the second insert wait for the first transaction, then skip.
    let stmt = Query::insert()
        .into_table(INBOX)
        .columns([CONSUMER, EVENT_ID, PROCESSED_AT])
        .values([consumer.into(), event_id.into(), Utc::now().into()])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::columns([CONSUMER, EVENT_ID])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(conn.execute(&stmt).await?.rows_affected() == 1)
}

/// Whether `consumer` has applied `event_id`.
pub async fn is_processed(
    conn: &impl ConnectionTrait,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, DbErr> {
    let stmt = Query::select()
        .column(EVENT_ID)
        .from(INBOX)
        .and_where(Expr::col(CONSUMER).eq(consumer))
        .and_where(Expr::col(EVENT_ID).eq(event_id))
        .to_owned();
    Ok(conn.query_one(&stmt).await?.is_some())
}

/// Delete inbox rows older than `age`. Keep them at least as long as the events stream keeps
/// events (30 days), or a replay could apply an event twice.
pub async fn purge(conn: &impl ConnectionTrait, age: Duration) -> Result<u64, DbErr> {
    let before = Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    let stmt = Query::delete()
        .from_table(INBOX)
        .and_where(Expr::col(PROCESSED_AT).lt(before))
        .to_owned();
    Ok(conn.execute(&stmt).await?.rows_affected())
}

/// The nak delay before delivery number `deliveries + 1`: 100 ms doubling, at most 30 s.
pub fn retry_delay(deliveries: u64) -> Duration {
    let exp = u32::try_from(Ord::min(deliveries.saturating_sub(1), 9)).unwrap_or(9);
    (Duration::from_millis(100) * 2u32.pow(exp)).min(Duration::from_secs(30))
}

/// The result of applying one event.
enum Applied {
    Now,
    Before,
}

async fn apply(
    db: &DatabaseConnection,
    consumer: &str,
    handler: &dyn EventHandler,
    env: &Envelope,
) -> Result<Applied, HandlerError> {
    let txn = db.begin_write().await?;
    if !record(&txn, consumer, env.id).await? {
        txn.rollback().await?;
        return Ok(Applied::Before);
    }
    if let Err(e) = handler.handle(&txn, env).await {
        if let Err(rb) = txn.rollback().await {
            tracing::warn!(error = %rb, "rollback failed (the transaction is dropped anyway)");
        }
        return Err(e);
    }
    txn.commit().await?;
    Ok(Applied::Now)
}

/// Handle one delivery to the end: applied and acked, already applied and acked, poison and
/// terminated, or failed and nak'ed.
async fn process(db: &DatabaseConnection, consumer: &str, handler: &dyn EventHandler, d: Delivery) {
    let env = match Envelope::from_bytes(&d.payload) {
        Ok(env) => env,
        Err(e) => {
            tracing::error!(
                consumer,
                subject = d.subject,
                id = d.id,
                error = %e,
                "poison message: not an event envelope; terminating it so it does not block the consumer"
            );
            if let Err(e) = d.term().await {
                tracing::warn!(consumer, error = %e, "cannot terminate a poison message");
            }
            return;
        }
    };
    let tp = d.header(trace::TRACEPARENT).map(str::to_owned);
    let span = tracing::info_span!(
        "consume",
        consumer,
        subject = d.subject,
        event_id = %env.id,
        event_type = env.event_type,
        delivery = d.delivery_count(),
        traceparent = tp.as_deref().unwrap_or(""),
    );
    async {
        let outcome = trace::scope(tp, apply(db, consumer, handler, &env)).await;
        let acked = match outcome {
            Ok(Applied::Now) => d.ack().await,
            Ok(Applied::Before) => {
                tracing::debug!("already applied; acknowledging the redelivery");
                d.ack().await
            }
            Err(HandlerError::Permanent(e)) => {
                tracing::error!(error = %e, "the event cannot be applied; terminating it");
                d.term().await
            }
            Err(e) => {
                let delay = retry_delay(d.delivery_count());
                tracing::warn!(error = %e, retry_in = ?delay, "applying the event failed; it will be redelivered");
                d.nak(delay).await
            }
        };
        if let Err(e) = acked {
            // It comes back after the ack wait; the inbox makes that harmless.
            tracing::warn!(error = %e, "acknowledgement failed");
        }
    }
    .instrument(span)
    .await;
}

/// Subscribe, retrying transient failures (the bus may not be up yet) until `shutdown`.
async fn subscribe<S: Future>(
    bus: &Bus,
    spec: &ConsumerSpec,
    shutdown: &mut std::pin::Pin<&mut S>,
) -> Result<Option<Subscription>, BusError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match bus.subscribe(spec.clone()).await {
            Ok(sub) => return Ok(Some(sub)),
            Err(e) if e.is_transient() => {
                tracing::warn!(consumer = spec.durable, error = %e, retry_in = ?backoff, "cannot subscribe yet");
                tokio::select! {
                    _ = shutdown.as_mut() => return Ok(None),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Consume `spec` with `handler` until `shutdown` resolves (see the module documentation).
/// The inbox key is `spec.durable`. Returns an error only for a consumer that can never work
/// (an invalid name or filter, a filter clash on the task stream).
pub async fn run_consumer<S>(
    bus: Bus,
    db: DatabaseConnection,
    spec: ConsumerSpec,
    handler: Arc<dyn EventHandler>,
    shutdown: S,
) -> Result<(), BusError>
where
    S: Future + Send,
{
    tokio::pin!(shutdown);
    let consumer = spec.durable.clone();
    let Some(mut sub) = subscribe(&bus, &spec, &mut shutdown).await? else {
        return Ok(());
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            next = sub.next() => next,
        };
        match next {
            Some(Ok(d)) => {
                backoff = Duration::from_millis(100);
                process(&db, &consumer, handler.as_ref(), d).await;
            }
            Some(Err(e)) => {
                tracing::warn!(consumer, error = %e, retry_in = ?backoff, "receiving failed");
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            None => {
                tracing::warn!(consumer, "the subscription ended; subscribing again");
                match subscribe(&bus, &spec, &mut shutdown).await? {
                    Some(s) => sub = s,
                    None => return Ok(()),
                }
            }
        }
    }
}

/// [`run_consumer`] in its own task.
pub fn spawn_consumer<S>(
    bus: Bus,
    db: DatabaseConnection,
    spec: ConsumerSpec,
    handler: Arc<dyn EventHandler>,
    shutdown: S,
) -> JoinHandle<Result<(), BusError>>
where
    S: Future + Send + 'static,
{
    let durable = spec.durable.clone();
    tokio::spawn(async move {
        let result = run_consumer(bus, db, spec, handler, shutdown).await;
        if let Err(e) = &result {
            tracing::error!(consumer = durable, error = %e, "consumer stopped");
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn retry_delay_doubles_up_to_thirty_seconds() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(4), Duration::from_millis(800));
        assert_eq!(
            retry_delay(10),
            Duration::from_millis(51_200).min(Duration::from_secs(30))
        );
        assert_eq!(retry_delay(1000), Duration::from_secs(30));
    }
}
