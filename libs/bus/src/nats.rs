//! The NATS JetStream transport.
//!
//! - Two streams: `{PREFIX_}ZW_EVENTS` (`{prefix.}zw.evt.>`, limits retention, 30 days) and
//!   `{PREFIX_}ZW_TASKS` (`{prefix.}zw.task.>`, work-queue retention); both on file storage, with
//!   a 10-minute duplicate window and the configured replicas.
//! - Publishing sets `Nats-Msg-Id` to the message id and waits for the JetStream ack.
//! - Consumers are durable pull consumers with `filter_subjects` (the reason for NATS 2.10+),
//!   explicit ack, unlimited redeliveries, deliver-all.
//! - Fan-out subscriptions are ordered consumers (ephemeral, no acks, recreated by the client
//!   after a gap or a lost connection) on the events stream, from a start time or from now.
//! - Request/reply is core NATS; servers join a queue group named after the subject.

use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::header::{HeaderMap, HeaderName, NATS_MESSAGE_ID};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::{Acker, PublishMessage};
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::{Client, ConnectOptions, RequestErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::task::JoinHandle;

use crate::bus::{BusConfig, RawHandler, RawRequest, Transport};
use crate::error::BusError;
use crate::message::{
    self, ConsumerSpec, Delivery, FanoutSpec, OutgoingMessage, StreamKind, Subscription,
    SubscriptionInner,
};
use crate::{limits, subject};

/// The oldest server accepted: 2.10 is the first to honour `filter_subjects`.
const MIN_SERVER: (u64, u64) = (2, 10);

/// Is `version` (e.g. `2.9.10`, `2.15.0-beta.1`) at least [`MIN_SERVER`]?
pub(crate) fn version_ok(version: &str) -> bool {
    let mut parts = version.split(['.', '-']).map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= MIN_SERVER,
        _ => false,
    }
}

pub(crate) struct NatsTransport {
    client: Client,
    js: jetstream::Context,
    prefix: String,
    url: String,
}

impl NatsTransport {
    pub(crate) async fn connect(cfg: &BusConfig, url: &str) -> Result<Self, BusError> {
        // A cluster is given as a comma-separated list; the client picks and fails over.
        let servers: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let client = ConnectOptions::new()
            .name("zhiwang")
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(cfg.request_timeout))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("NATS connection: {event}"),
                    _ => tracing::warn!("NATS connection: {event}"),
                }
            })
            .connect(servers)
            .await
            .map_err(|e| BusError::Unreachable(format!("{url}: {e}")))?;
        let version = client.server_info().version;
        if !version_ok(&version) {
            // Not worth waiting for a clean close: the caller stops here.
            drop(client);
            return Err(BusError::ServerTooOld { version });
        }
        let js = jetstream::new(client.clone());
        let transport = NatsTransport {
            client,
            js,
            prefix: cfg.prefix.clone(),
            url: url.to_owned(),
        };
        transport.ensure_streams(cfg.stream_replicas).await?;
        tracing::info!(
            url,
            version,
            prefix = cfg.prefix,
            "connected to NATS JetStream"
        );
        Ok(transport)
    }

    /// Create or update both streams (an update of an unchanged stream is a no-op).
    async fn ensure_streams(&self, replicas: usize) -> Result<(), BusError> {
        for kind in [StreamKind::Events, StreamKind::Tasks] {
            let name = subject::stream_name(&self.prefix, kind);
            let all = format!("{}>", subject::namespace(kind));
            let (retention, max_age, description) = match kind {
                StreamKind::Events => (
                    RetentionPolicy::Limits,
                    limits::EVENTS_MAX_AGE,
                    "Zhiwang domain events (outbox relay → durable consumers)",
                ),
                StreamKind::Tasks => (
                    RetentionPolicy::WorkQueue,
                    Duration::ZERO,
                    "Zhiwang tasks (work queue)",
                ),
            };
            let config = stream::Config {
                name: name.clone(),
                description: Some(description.to_owned()),
                subjects: vec![subject::with_prefix(&self.prefix, &all)],
                retention,
                max_age,
                storage: StorageType::File,
                num_replicas: replicas.max(1),
                duplicate_window: limits::DUPLICATE_WINDOW,
                ..Default::default()
            };
            self.js.create_or_update_stream(config).await.map_err(|e| {
                BusError::Setup(format!(
                    "stream {name} on {}: {e} (is JetStream enabled, and are there enough servers \
                     for {replicas} replica(s)?)",
                    self.url
                ))
            })?;
        }
        Ok(())
    }

    fn unreachable_or(&self, other: BusError) -> BusError {
        if self.client.connection_state() == State::Connected {
            other
        } else {
            BusError::Unreachable(format!("{}: not connected", self.url))
        }
    }
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, BusError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_str(k)
            .map_err(|e| BusError::InvalidName(format!("header name {k:?}: {e}")))?;
        map.append(name, v.as_str());
    }
    Ok(map)
}

/// The user headers of a received message (without the `Nats-*` control headers).
fn user_headers(map: Option<&HeaderMap>) -> Vec<(String, String)> {
    let Some(map) = map else { return Vec::new() };
    let mut out = Vec::new();
    for (name, values) in map.iter() {
        let name: &str = name.as_ref();
        if message::is_control_header(name) {
            continue;
        }
        for v in values {
            out.push((name.to_owned(), v.as_str().to_owned()));
        }
    }
    out
}

#[async_trait]
impl Transport for NatsTransport {
    async fn publish(&self, msgs: &[OutgoingMessage]) -> Result<(), BusError> {
        // Send them all, then wait for the acks: one round trip for the batch.
        let mut acks = Vec::with_capacity(msgs.len());
        for m in msgs {
            let mut headers = header_map(&m.headers)?;
            headers.insert(NATS_MESSAGE_ID, m.id.to_string().as_str());
            let wire = subject::with_prefix(&self.prefix, &m.subject);
            let publish = PublishMessage::build()
                .payload(m.payload.clone())
                .headers(headers);
            let ack = self.js.send_publish(wire, publish).await.map_err(|e| {
                self.unreachable_or(BusError::Publish(format!("{}: {e}", m.subject)))
            })?;
            acks.push((ack, &m.subject));
        }
        for (ack, subject) in acks {
            ack.await.map_err(|e| {
                self.unreachable_or(BusError::Publish(format!("{subject}: not stored: {e}")))
            })?;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        spec: &ConsumerSpec,
        ack_wait: Duration,
    ) -> Result<Subscription, BusError> {
        let stream = subject::stream_name(&self.prefix, spec.kind);
        let config = pull::Config {
            durable_name: Some(spec.durable.clone()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait,
            max_deliver: -1,
            filter_subjects: spec
                .filter_subjects
                .iter()
                .map(|f| subject::with_prefix(&self.prefix, f))
                .collect(),
            ..Default::default()
        };
        let consumer: PullConsumer = self
            .js
            .create_consumer_on_stream(config, &stream)
            .await
            .map_err(|e| {
                self.unreachable_or(BusError::Setup(format!(
                    "consumer {:?} on stream {stream}: {e}",
                    spec.durable
                )))
            })?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(limits::PULL_BATCH)
            .expires(limits::PULL_EXPIRES)
            .heartbeat(limits::PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|e| {
                self.unreachable_or(BusError::Setup(format!(
                    "consumer {:?} on stream {stream}: {e}",
                    spec.durable
                )))
            })?;
        Ok(Subscription {
            inner: SubscriptionInner::Nats(Box::new(NatsSubscription {
                messages,
                prefix: self.prefix.clone(),
            })),
        })
    }

    async fn subscribe_fanout(&self, spec: &FanoutSpec) -> Result<Subscription, BusError> {
        let stream = subject::stream_name(&self.prefix, StreamKind::Events);
        let deliver_policy = match spec.since {
            None => DeliverPolicy::New,
            Some(since) => {
                let nanos = since.timestamp_nanos_opt().unwrap_or(0);
                let start_time = async_nats::datetime::from_nanos(i128::from(nanos))
                    .map_err(|e| BusError::Setup(format!("fan-out start time: {e}")))?;
                DeliverPolicy::ByStartTime { start_time }
            }
        };
        let config = pull::OrderedConfig {
            filter_subjects: spec
                .filter_subjects
                .iter()
                .map(|f| subject::with_prefix(&self.prefix, f))
                .collect(),
            deliver_policy,
            // The ordered consumer's pulls wait at most this long, with a heartbeat of half.
            max_expires: limits::PULL_EXPIRES,
            ..Default::default()
        };
        let connects = self.client.statistics().connects.load(Ordering::Relaxed);
        let messages = ordered_messages(&self.js, config.clone(), &stream)
            .await
            .map_err(|e| self.unreachable_or(e))?;
        Ok(Subscription {
            inner: SubscriptionInner::NatsFanout(Box::new(NatsFanout {
                messages,
                prefix: self.prefix.clone(),
                client: self.client.clone(),
                js: self.js.clone(),
                stream,
                config,
                last_sequence: None,
                connects,
            })),
        })
    }

    async fn request(
        &self,
        subject: &str,
        headers: &[(String, String)],
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        let request = async_nats::Request::new()
            .payload(payload)
            .headers(header_map(headers)?)
            .timeout(Some(timeout));
        let wire = subject::with_prefix(&self.prefix, subject);
        match self.client.send_request(wire, request).await {
            Ok(m) => Ok(m.payload),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::TimedOut => BusError::Timeout,
                RequestErrorKind::NoResponders => BusError::NoResponders,
                _ => self.unreachable_or(BusError::Transport(format!("request {subject}: {e}"))),
            }),
        }
    }

    async fn serve(&self, subject: &str, handler: RawHandler) -> Result<JoinHandle<()>, BusError> {
        let wire = subject::with_prefix(&self.prefix, subject);
        let mut sub = self
            .client
            .queue_subscribe(wire.clone(), wire.clone())
            .await
            .map_err(|e| self.unreachable_or(BusError::Setup(format!("serve {subject}: {e}"))))?;
        // Make sure the server has the subscription before callers are told it is served.
        self.client
            .flush()
            .await
            .map_err(|e| self.unreachable_or(BusError::Setup(format!("serve {subject}: {e}"))))?;
        let client = self.client.clone();
        let subject = subject.to_owned();
        Ok(tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Some(reply_to) = msg.reply.clone() else {
                    tracing::warn!(subject, "a request without a reply subject was ignored");
                    continue;
                };
                let handler = handler.clone();
                let client = client.clone();
                let subject = subject.clone();
                // One task per request, so a slow request does not hold up the others.
                tokio::spawn(async move {
                    let request = RawRequest {
                        headers: user_headers(msg.headers.as_ref()),
                        payload: msg.payload,
                    };
                    let reply = handler(request).await;
                    if let Err(e) = client.publish(reply_to, reply).await {
                        tracing::warn!(subject, error = %e, "cannot send a reply");
                    }
                });
            }
        }))
    }

    async fn check(&self) -> Result<(), BusError> {
        if self.client.connection_state() != State::Connected {
            return Err(BusError::Unreachable(format!(
                "{}: not connected",
                self.url
            )));
        }
        match tokio::time::timeout(Duration::from_secs(2), self.js.query_account()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(BusError::Unreachable(format!(
                "{}: JetStream: {e}",
                self.url
            ))),
            Err(_) => Err(BusError::Unreachable(format!(
                "{}: JetStream does not answer",
                self.url
            ))),
        }
    }

    fn is_in_process(&self) -> bool {
        false
    }
}

/// A subscription to a JetStream pull consumer.
pub(crate) struct NatsSubscription {
    messages: pull::Stream,
    prefix: String,
}

impl NatsSubscription {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        let item = self.messages.next().await?;
        Some(match item {
            Err(e) => Err(BusError::Consume(e.to_string())),
            Ok(msg) => {
                let deliveries = msg
                    .info()
                    .map(|i| u64::try_from(i.delivered).unwrap_or(1))
                    .unwrap_or(1);
                let (m, acker) = msg.split();
                Ok(delivery(
                    m,
                    &self.prefix,
                    deliveries,
                    message::Acker::Nats(Box::new(acker)),
                ))
            }
        })
    }
}

/// A received message as a [`Delivery`]: its id (`Nats-Msg-Id`), contract subject and user
/// headers.
fn delivery(
    m: async_nats::Message,
    prefix: &str,
    deliveries: u64,
    acker: message::Acker,
) -> Delivery {
    let id = m
        .headers
        .as_ref()
        .and_then(|h| h.get(NATS_MESSAGE_ID))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    Delivery {
        id,
        subject: subject::without_prefix(prefix, m.subject.as_str()).to_owned(),
        headers: user_headers(m.headers.as_ref()),
        payload: m.payload,
        deliveries,
        acker,
    }
}

/// The messages of a new ordered consumer of `stream`.
async fn ordered_messages(
    js: &jetstream::Context,
    config: pull::OrderedConfig,
    stream: &str,
) -> Result<pull::Ordered, BusError> {
    let setup = |e: &dyn std::fmt::Display| {
        BusError::Setup(format!("fan-out subscription on stream {stream}: {e}"))
    };
    let consumer = js
        .create_consumer_on_stream(config, stream)
        .await
        .map_err(|e| setup(&e))?;
    consumer.messages().await.map_err(|e| setup(&e))
}

/// A fan-out subscription: an ordered consumer of the events stream, started again after the
/// last message it delivered whenever the connection was re-established.
///
/// Why: a message the server pushed into a connection as it broke is lost to an ordered
/// consumer (it has no acks), and the client only notices at the next message, which may not
/// come for a long time; a revocation carried by that message would wait with it.
pub(crate) struct NatsFanout {
    messages: pull::Ordered,
    prefix: String,
    client: Client,
    js: jetstream::Context,
    stream: String,
    config: pull::OrderedConfig,
    /// Stream sequence of the last message delivered.
    last_sequence: Option<u64>,
    /// The client's connection count when `messages` was started.
    connects: u64,
}

impl NatsFanout {
    pub(crate) async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        loop {
            let item = tokio::select! {
                item = self.messages.next() => item?,
                () = tokio::time::sleep(limits::RECONNECT_CHECK) => {
                    self.resume_after_reconnect().await;
                    continue;
                }
            };
            return Some(match item {
                Err(e) => Err(BusError::Consume(e.to_string())),
                Ok(msg) => {
                    if let Ok(info) = msg.info() {
                        self.last_sequence = Some(info.stream_sequence);
                    }
                    let (m, _no_acks) = msg.split();
                    Ok(delivery(m, &self.prefix, 1, message::Acker::Fanout))
                }
            });
        }
    }

    /// After a reconnection, replaces the consumer by one that starts right after the last
    /// message delivered (or as the first one did, when none was). On failure, tries again at
    /// the next check.
    async fn resume_after_reconnect(&mut self) {
        let connects = self.client.statistics().connects.load(Ordering::Relaxed);
        if connects == self.connects || self.client.connection_state() != State::Connected {
            return;
        }
        let mut config = self.config.clone();
        if let Some(last) = self.last_sequence {
            config.deliver_policy = DeliverPolicy::ByStartSequence {
                start_sequence: last + 1,
            };
        }
        match ordered_messages(&self.js, config, &self.stream).await {
            Ok(messages) => {
                self.messages = messages;
                self.connects = connects;
                tracing::info!(stream = %self.stream, after = ?self.last_sequence, "fan-out subscription resumed after a reconnection");
            }
            Err(e) => tracing::warn!(error = %e, "fan-out subscription not resumed yet"),
        }
    }
}

/// Ack and wait for the server to confirm it, so that a returned `Ok` means it will not come
/// back (a lost fire-and-forget ack would only cause a redelivery, which the inbox absorbs).
pub(crate) async fn ack(acker: &Acker) -> Result<(), BusError> {
    acker
        .double_ack()
        .await
        .map_err(|e| BusError::Ack(e.to_string()))
}

pub(crate) async fn nak(acker: &Acker, delay: Duration) -> Result<(), BusError> {
    let kind = if delay.is_zero() {
        AckKind::Nak(None)
    } else {
        AckKind::Nak(Some(delay))
    };
    acker
        .ack_with(kind)
        .await
        .map_err(|e| BusError::Ack(e.to_string()))
}

pub(crate) async fn term(acker: &Acker) -> Result<(), BusError> {
    acker
        .ack_with(AckKind::Term)
        .await
        .map_err(|e| BusError::Ack(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::version_ok;

    #[test]
    fn versions_from_2_10_on_are_accepted() {
        assert!(!version_ok("2.9.10"));
        assert!(!version_ok("1.4.1"));
        assert!(!version_ok(""));
        assert!(!version_ok("garbage"));
        assert!(version_ok("2.10.0"));
        assert!(version_ok("2.15.0-beta.1"));
        assert!(version_ok("3.0.0"));
    }
}
