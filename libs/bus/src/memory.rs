//! The in-process transport, for `zhiwang up`: the same semantics as the NATS one, in memory.
//!
//! - Each stream is a log of sequenced messages. Events keep limits retention (30 days, at most
//!   [`MAX_IN_MEMORY_EVENTS`]); tasks are a work queue (a message is removed once acknowledged or
//!   terminated, and two durables with overlapping filters are refused, as NATS does).
//! - A durable consumer is a cursor into its log plus the set of delivered-but-unacknowledged
//!   messages. A delivery not acknowledged within the ack wait, or negatively acknowledged, is
//!   delivered again (to any subscription of that durable) once its time comes.
//! - Publishing the same id twice within the duplicate window stores it once.
//! - A fan-out subscription is a cursor of its own on the events log (from a start time or from
//!   now), delivering without acknowledgements, removed when the subscription is dropped.
//! - Request/reply goes to registered handlers, round-robin among the servers of a subject.
//!
//! Everything lives in the value, so two buses never share anything, and nothing survives the
//! process: the outbox relay re-publishes recent rows on start (see [`crate::outbox`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bus::{RawHandler, RawRequest, Transport};
use crate::error::BusError;
use crate::message::{
    Acker, ConsumerSpec, Delivery, FanoutSpec, OutgoingMessage, StreamKind, Subscription,
    SubscriptionInner,
};
use crate::{limits, subject};

/// At most this many events are kept in memory; the oldest go first (NATS keeps them on disk).
pub const MAX_IN_MEMORY_EVENTS: usize = 1_000_000;

/// The in-process transport; cloning shares the same streams.
#[derive(Clone, Default)]
pub(crate) struct MemoryTransport {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Woken on every change a waiting subscription may care about (new message, nak, new
    /// consumer configuration).
    changed: Notify,
    responders: Mutex<HashMap<String, Responders>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update; the data stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn responders(&self) -> MutexGuard<'_, HashMap<String, Responders>> {
        self.responders.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct State {
    events: Log,
    tasks: Log,
}

impl Default for State {
    fn default() -> Self {
        Self {
            events: Log::new(false, limits::EVENTS_MAX_AGE, MAX_IN_MEMORY_EVENTS),
            tasks: Log::new(true, Duration::ZERO, usize::MAX),
        }
    }
}

impl State {
    fn log(&mut self, kind: StreamKind) -> &mut Log {
        match kind {
            StreamKind::Events => &mut self.events,
            StreamKind::Tasks => &mut self.tasks,
        }
    }
}

struct Stored {
    id: String,
    subject: String,
    headers: Vec<(String, String)>,
    payload: Bytes,
    stored_at: Instant,
}

struct Log {
    work_queue: bool,
    /// Zero: no age limit.
    max_age: Duration,
    max_messages: usize,
    next_seq: u64,
    messages: BTreeMap<u64, Stored>,
    recent_ids: HashMap<String, Instant>,
    recent_order: VecDeque<(Instant, String)>,
    consumers: HashMap<String, Consumer>,
}

struct Consumer {
    filters: Vec<String>,
    /// A fan-out subscription's cursor: nothing pending, nothing redelivered.
    fanout: bool,
    ack_wait: Duration,
    /// The next sequence to consider for a first delivery.
    cursor: u64,
    /// Delivered and not yet acknowledged, by sequence.
    pending: BTreeMap<u64, Pending>,
}

impl Consumer {
    fn accepts(&self, subject: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| subject::matches(f, subject))
    }
}

struct Pending {
    deliveries: u64,
    /// When it may be delivered again: the end of the ack wait, or the end of a nak's delay.
    ready_at: Instant,
}

enum Next {
    Deliver(Box<Delivery>),
    /// Nothing now; something may be due at this time (or on the next change).
    Wait(Option<Instant>),
    Gone,
}

impl Log {
    fn new(work_queue: bool, max_age: Duration, max_messages: usize) -> Self {
        Self {
            work_queue,
            max_age,
            max_messages,
            next_seq: 1,
            messages: BTreeMap::new(),
            recent_ids: HashMap::new(),
            recent_order: VecDeque::new(),
            consumers: HashMap::new(),
        }
    }

    fn remove(&mut self, seq: u64) {
        self.messages.remove(&seq);
        for c in self.consumers.values_mut() {
            c.pending.remove(&seq);
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some((&seq, first)) = self.messages.first_key_value() {
            let too_old = !self.max_age.is_zero()
                && now.saturating_duration_since(first.stored_at) > self.max_age;
            if too_old || self.messages.len() > self.max_messages {
                self.remove(seq);
            } else {
                break;
            }
        }
        while let Some((at, _)) = self.recent_order.front() {
            if now.saturating_duration_since(*at) <= limits::DUPLICATE_WINDOW {
                break;
            }
            if let Some((_, id)) = self.recent_order.pop_front() {
                self.recent_ids.remove(&id);
            }
        }
    }

    fn append(&mut self, msg: &OutgoingMessage, now: Instant) {
        let id = msg.id.to_string();
        if self.recent_ids.contains_key(&id) {
            return;
        }
        self.recent_ids.insert(id.clone(), now);
        self.recent_order.push_back((now, id.clone()));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.messages.insert(
            seq,
            Stored {
                id,
                subject: msg.subject.clone(),
                headers: msg.headers.clone(),
                payload: msg.payload.clone(),
                stored_at: now,
            },
        );
    }

    fn next_for(&mut self, durable: &str, now: Instant, acker: impl Fn(u64) -> Acker) -> Next {
        self.expire(now);
        let Log {
            messages,
            consumers,
            ..
        } = self;
        let Some(cons) = consumers.get_mut(durable) else {
            return Next::Gone;
        };

        // Redeliveries first, oldest message first, as NATS does.
        let mut wake: Option<Instant> = None;
        let mut due = None;
        for (&seq, p) in &cons.pending {
            if p.ready_at <= now {
                due = Some(seq);
                break;
            }
            wake = Some(wake.map_or(p.ready_at, |w| w.min(p.ready_at)));
        }
        let seq = match due {
            Some(seq) => Some(seq),
            None => {
                let mut found = None;
                for (&seq, m) in messages.range(cons.cursor..) {
                    cons.cursor = seq + 1;
                    if cons.accepts(&m.subject) {
                        found = Some(seq);
                        break;
                    }
                }
                found
            }
        };
        let Some(seq) = seq else {
            return Next::Wait(wake);
        };
        let Some(m) = messages.get(&seq) else {
            // Expired while pending: forget it and look again on the next turn.
            cons.pending.remove(&seq);
            return Next::Wait(Some(now));
        };
        if cons.fanout {
            return Next::Deliver(Box::new(Delivery {
                id: m.id.clone(),
                subject: m.subject.clone(),
                headers: m.headers.clone(),
                payload: m.payload.clone(),
                deliveries: 1,
                acker: Acker::Fanout,
            }));
        }
        let entry = cons.pending.entry(seq).or_insert(Pending {
            deliveries: 0,
            ready_at: now,
        });
        entry.deliveries += 1;
        entry.ready_at = now + cons.ack_wait;
        Next::Deliver(Box::new(Delivery {
            id: m.id.clone(),
            subject: m.subject.clone(),
            headers: m.headers.clone(),
            payload: m.payload.clone(),
            deliveries: entry.deliveries,
            acker: acker(seq),
        }))
    }
}

/// A request on its way to an in-process server.
struct MemoryRequest {
    request: RawRequest,
    reply: oneshot::Sender<Bytes>,
}

#[derive(Default)]
struct Responders {
    next: usize,
    servers: Vec<mpsc::Sender<MemoryRequest>>,
}

/// A subscription to an in-process durable consumer, or a fan-out cursor.
pub(crate) struct MemorySubscription {
    shared: Arc<Shared>,
    kind: StreamKind,
    durable: String,
    fanout: bool,
}

impl Drop for MemorySubscription {
    /// A fan-out cursor lives exactly as long as its subscription.
    fn drop(&mut self) {
        if self.fanout {
            self.shared
                .state()
                .log(self.kind)
                .consumers
                .remove(&self.durable);
        }
    }
}

impl MemorySubscription {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            // Register interest before looking, so a change between the look and the wait
            // still wakes us.
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut state = self.shared.state();
                let (shared, kind, durable) = (&self.shared, self.kind, &self.durable);
                state.log(kind).next_for(durable, Instant::now(), |seq| {
                    Acker::Memory(MemoryAcker {
                        shared: shared.clone(),
                        kind,
                        durable: durable.clone(),
                        seq,
                    })
                })
            };
            match next {
                Next::Deliver(d) => return Some(Ok(*d)),
                Next::Gone => return None,
                Next::Wait(Some(at)) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                Next::Wait(None) => notified.await,
            }
        }
    }
}

/// The acknowledgement handle of an in-process delivery.
pub(crate) struct MemoryAcker {
    shared: Arc<Shared>,
    kind: StreamKind,
    durable: String,
    seq: u64,
}

impl MemoryAcker {
    /// Done: forget the pending entry; on the work queue, remove the message.
    pub(crate) fn ack(self) {
        let mut state = self.shared.state();
        let log = state.log(self.kind);
        if let Some(c) = log.consumers.get_mut(&self.durable) {
            c.pending.remove(&self.seq);
        }
        if log.work_queue {
            log.remove(self.seq);
        }
    }

    /// Deliver again after `delay`.
    pub(crate) fn nak(self, delay: Duration) {
        {
            let mut state = self.shared.state();
            let log = state.log(self.kind);
            if let Some(p) = log
                .consumers
                .get_mut(&self.durable)
                .and_then(|c| c.pending.get_mut(&self.seq))
            {
                p.ready_at = Instant::now() + delay;
            }
        }
        // Waiting subscriptions computed their wake-up from the old ack deadline.
        self.shared.changed.notify_waiters();
    }

    /// Never deliver again; the same as an ack for the stream's bookkeeping.
    pub(crate) fn term(self) {
        self.ack();
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn publish(&self, msgs: &[OutgoingMessage]) -> Result<(), BusError> {
        let now = Instant::now();
        {
            let mut state = self.shared.state();
            for m in msgs {
                let log = state.log(m.kind);
                log.expire(now);
                log.append(m, now);
            }
        }
        self.shared.changed.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        spec: &ConsumerSpec,
        ack_wait: Duration,
    ) -> Result<Subscription, BusError> {
        {
            let mut state = self.shared.state();
            let log = state.log(spec.kind);
            if log.work_queue {
                let clash = log.consumers.iter().find(|(name, c)| {
                    *name != &spec.durable && filters_overlap(&c.filters, &spec.filter_subjects)
                });
                if let Some((other, _)) = clash {
                    return Err(BusError::Setup(format!(
                        "consumer {:?}: its filter overlaps consumer {other:?} on the work-queue \
                         task stream (each task goes to exactly one consumer)",
                        spec.durable
                    )));
                }
            }
            let first = log
                .messages
                .first_key_value()
                .map_or(log.next_seq, |(s, _)| *s);
            let c = log
                .consumers
                .entry(spec.durable.clone())
                .or_insert_with(|| Consumer {
                    filters: Vec::new(),
                    fanout: false,
                    ack_wait,
                    cursor: first,
                    pending: BTreeMap::new(),
                });
            c.filters = spec.filter_subjects.clone();
            c.ack_wait = ack_wait;
        }
        self.shared.changed.notify_waiters();
        Ok(Subscription {
            inner: SubscriptionInner::Memory(MemorySubscription {
                shared: self.shared.clone(),
                kind: spec.kind,
                durable: spec.durable.clone(),
                fanout: false,
            }),
        })
    }

    async fn subscribe_fanout(&self, spec: &FanoutSpec) -> Result<Subscription, BusError> {
        // A name no durable can have (durable names have no `:`).
        let name = format!("fanout:{}", uuid::Uuid::new_v4().simple());
        {
            let mut state = self.shared.state();
            let log = state.log(StreamKind::Events);
            let now = Instant::now();
            log.expire(now);
            let cursor = match spec.since {
                None => log.next_seq,
                Some(since) => {
                    let ago = (chrono::Utc::now() - since).to_std().unwrap_or_default();
                    let since = now.checked_sub(ago).unwrap_or(now);
                    log.messages
                        .iter()
                        .find(|(_, m)| m.stored_at >= since)
                        .map_or(log.next_seq, |(seq, _)| *seq)
                }
            };
            log.consumers.insert(
                name.clone(),
                Consumer {
                    filters: spec.filter_subjects.clone(),
                    fanout: true,
                    ack_wait: Duration::ZERO,
                    cursor,
                    pending: BTreeMap::new(),
                },
            );
        }
        Ok(Subscription {
            inner: SubscriptionInner::Memory(MemorySubscription {
                shared: self.shared.clone(),
                kind: StreamKind::Events,
                durable: name,
                fanout: true,
            }),
        })
    }

    async fn request(
        &self,
        subject: &str,
        headers: &[(String, String)],
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        let server = {
            let mut all = self.shared.responders();
            let Some(group) = all.get_mut(subject) else {
                return Err(BusError::NoResponders);
            };
            group.servers.retain(|s| !s.is_closed());
            if group.servers.is_empty() {
                all.remove(subject);
                return Err(BusError::NoResponders);
            }
            let i = group.next % group.servers.len();
            group.next = group.next.wrapping_add(1);
            group.servers[i].clone()
        };
        let (reply, answer) = oneshot::channel();
        let request = RawRequest {
            headers: headers.to_vec(),
            payload,
        };
        let exchange = async move {
            if server.send(MemoryRequest { request, reply }).await.is_err() {
                // The server stopped between the lookup and the send.
                return Err(BusError::NoResponders);
            }
            // A server that drops the request without answering looks like silence on NATS.
            answer.await.map_err(|_| BusError::Timeout)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| BusError::Timeout)?
    }

    async fn serve(&self, subject: &str, handler: RawHandler) -> Result<JoinHandle<()>, BusError> {
        let (tx, mut rx) = mpsc::channel::<MemoryRequest>(256);
        self.shared
            .responders()
            .entry(subject.to_owned())
            .or_default()
            .servers
            .push(tx);
        Ok(tokio::spawn(async move {
            while let Some(MemoryRequest { request, reply }) = rx.recv().await {
                let handler = handler.clone();
                // One task per request, so a slow request does not hold up the others.
                tokio::spawn(async move {
                    let _ = reply.send(handler(request).await);
                });
            }
        }))
    }

    async fn check(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn is_in_process(&self) -> bool {
        true
    }
}

/// Do two filter lists (empty: the whole stream) share any subject?
fn filters_overlap(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return true;
    }
    a.iter().any(|x| b.iter().any(|y| subject::overlap(x, y)))
}
