//! What travels on the bus: outgoing messages, consumer specifications, subscriptions and the
//! deliveries they yield, with their acknowledgement handles.

use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;
use zw_contracts::Envelope;

use crate::error::BusError;
use crate::{memory, nats};

/// The two streams of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Events, subjects `zw.evt.>`: limits retention (kept for 30 days), every durable consumer
    /// sees every matching event.
    Events,
    /// Tasks, subjects `zw.task.>`: work-queue retention, each task goes to one consumer and is
    /// removed once acknowledged.
    Tasks,
}

impl StreamKind {
    /// `event` or `task`: the value stored in the outbox's `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Events => "event",
            StreamKind::Tasks => "task",
        }
    }

    /// The inverse of [`StreamKind::as_str`].
    pub fn parse(s: &str) -> Option<StreamKind> {
        match s {
            "event" => Some(StreamKind::Events),
            "task" => Some(StreamKind::Tasks),
            _ => None,
        }
    }
}

/// A message to publish durably. `id` becomes `Nats-Msg-Id`: publishing the same id twice within
/// the duplicate window stores it once.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// The deduplication id (for events: the envelope id).
    pub id: Uuid,
    /// A contract subject (`zw.evt.…` or `zw.task.…`), never prefixed by the caller.
    pub subject: String,
    /// Which stream it goes to; must agree with the subject's namespace.
    pub kind: StreamKind,
    /// The body (for events: the JSON envelope).
    pub payload: Bytes,
    /// Extra headers, e.g. W3C `traceparent`. Names starting with `Nats-` are reserved.
    pub headers: Vec<(String, String)>,
}

impl OutgoingMessage {
    /// An event: id, subject and body from the envelope.
    pub fn event(env: &Envelope, headers: Vec<(String, String)>) -> Result<Self, BusError> {
        Ok(Self {
            id: env.id,
            subject: env.subject(),
            kind: StreamKind::Events,
            payload: Bytes::from(env.to_bytes().map_err(|e| BusError::Codec(e.to_string()))?),
            headers,
        })
    }

    /// A task on `subject` (`zw.task.…`), its body the envelope.
    pub fn task(
        subject: impl Into<String>,
        env: &Envelope,
        headers: Vec<(String, String)>,
    ) -> Result<Self, BusError> {
        Ok(Self {
            id: env.id,
            subject: subject.into(),
            kind: StreamKind::Tasks,
            payload: Bytes::from(env.to_bytes().map_err(|e| BusError::Codec(e.to_string()))?),
            headers,
        })
    }
}

/// A durable consumer: its name, its stream and the subjects it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// Durable name (A-Z a-z 0-9 - _), unique in the system: start it with the service's name
    /// (e.g. `street-declarations`). Subscriptions with the same name share the consumer's
    /// position and split its messages between them; it is also the consumer's inbox key.
    pub durable: String,
    /// The stream to read.
    pub kind: StreamKind,
    /// Contract subject filters (`*`, `>` allowed); empty means the whole stream.
    pub filter_subjects: Vec<String>,
}

impl ConsumerSpec {
    /// A consumer of events.
    pub fn events(durable: impl Into<String>, filter_subjects: Vec<String>) -> Self {
        Self {
            durable: durable.into(),
            kind: StreamKind::Events,
            filter_subjects,
        }
    }

    /// A consumer of tasks.
    pub fn tasks(durable: impl Into<String>, filter_subjects: Vec<String>) -> Self {
        Self {
            durable: durable.into(),
            kind: StreamKind::Tasks,
            filter_subjects,
        }
    }
}

/// A fan-out subscription to the events stream: unlike a durable consumer, every subscription
/// receives every matching event (each process sees them all, replicas included), nothing is
/// shared between subscriptions and nothing outlives one, and deliveries need no
/// acknowledgement. For state every process keeps in memory (e.g. token revocations), where a
/// queue shared by replicas would leave all but one of them behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSpec {
    /// Contract event filters (`*`, `>` allowed); empty means every event.
    pub filter_subjects: Vec<String>,
    /// Deliver the events stored since this time first (those still in the stream), then the
    /// new ones; `None`: only events stored from now on.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

impl FanoutSpec {
    /// Every event matching `filter_subjects` from now on.
    pub fn new(filter_subjects: Vec<String>) -> Self {
        Self {
            filter_subjects,
            since: None,
        }
    }

    /// The same, starting with the events stored since `since`.
    pub fn since(mut self, since: chrono::DateTime<chrono::Utc>) -> Self {
        self.since = Some(since);
        self
    }
}

/// A live subscription to a durable consumer, or a fan-out subscription ([`FanoutSpec`]).
pub struct Subscription {
    pub(crate) inner: SubscriptionInner,
}

pub(crate) enum SubscriptionInner {
    Nats(Box<nats::NatsSubscription>),
    NatsFanout(Box<nats::NatsFanout>),
    Memory(memory::MemorySubscription),
}

impl Subscription {
    /// The next delivery. `Some(Err(_))` is a receive error the subscription may recover from
    /// (e.g. a lost connection); `None` means it has ended for good.
    pub async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        match &mut self.inner {
            SubscriptionInner::Nats(s) => s.next().await,
            SubscriptionInner::NatsFanout(s) => s.next().await,
            SubscriptionInner::Memory(s) => s.next().await,
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            SubscriptionInner::Nats(_) => f.write_str("Subscription(nats)"),
            SubscriptionInner::NatsFanout(_) => f.write_str("Subscription(nats, fan-out)"),
            SubscriptionInner::Memory(_) => f.write_str("Subscription(in-process)"),
        }
    }
}

/// One delivery of a message to a durable consumer. It must be acknowledged ([`Delivery::ack`]),
/// or it is delivered again after the ack wait; [`Delivery::nak`] asks for a redelivery after a
/// delay, [`Delivery::term`] drops it for good. A fan-out delivery is never redelivered: all
/// three do nothing.
pub struct Delivery {
    /// The message id (`Nats-Msg-Id`; for events the envelope id).
    pub id: String,
    /// The contract subject (without any test prefix).
    pub subject: String,
    /// The headers the publisher set (without the `Nats-*` control headers).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub payload: Bytes,
    pub(crate) deliveries: u64,
    pub(crate) acker: Acker,
}

pub(crate) enum Acker {
    Nats(Box<async_nats::jetstream::message::Acker>),
    Memory(memory::MemoryAcker),
    /// A fan-out delivery: nothing to acknowledge.
    Fanout,
}

impl Delivery {
    /// Acknowledge: the message is done and will not come back to this consumer.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(a) => nats::ack(&a).await,
            Acker::Memory(a) => {
                a.ack();
                Ok(())
            }
            Acker::Fanout => Ok(()),
        }
    }

    /// Negative acknowledgement: deliver it again after `delay`.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(a) => nats::nak(&a, delay).await,
            Acker::Memory(a) => {
                a.nak(delay);
                Ok(())
            }
            Acker::Fanout => Ok(()),
        }
    }

    /// Terminate: never deliver it again (for a message that can never be processed).
    pub async fn term(self) -> Result<(), BusError> {
        match self.acker {
            Acker::Nats(a) => nats::term(&a).await,
            Acker::Memory(a) => {
                a.term();
                Ok(())
            }
            Acker::Fanout => Ok(()),
        }
    }

    /// Whether this message was delivered before (to this consumer).
    pub fn redelivered(&self) -> bool {
        self.deliveries > 1
    }

    /// How many times the message has been delivered to this consumer, this time included.
    pub fn delivery_count(&self) -> u64 {
        self.deliveries
    }

    /// The last value of header `name` (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No payload: it may hold personal data.
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .field("deliveries", &self.deliveries)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The last value of header `name` in `headers`, compared case-insensitively.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Headers a caller may set: valid names, no line breaks in values, no reserved `Nats-` names.
pub(crate) fn validate_headers(headers: &[(String, String)]) -> Result<(), BusError> {
    for (k, v) in headers {
        let bad_name = k.is_empty()
            || k.chars().any(|c| !c.is_ascii_graphic() || c == ':')
            || k.to_ascii_lowercase().starts_with("nats-");
        if bad_name {
            return Err(BusError::InvalidName(format!(
                "header name {k:?} is invalid or reserved (Nats-*)"
            )));
        }
        if v.contains(['\r', '\n']) {
            return Err(BusError::InvalidName(format!(
                "header {k:?} has a line break in its value"
            )));
        }
    }
    Ok(())
}

/// Control headers NATS adds or interprets; deliveries do not show them.
pub(crate) fn is_control_header(name: &str) -> bool {
    name.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("nats-"))
}
