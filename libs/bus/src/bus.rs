//! [`Bus`]: the one interface services use, over either transport.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::Instrument;
use zw_contracts::rpc::{Operation, RpcError};

use crate::error::BusError;
use crate::memory::MemoryTransport;
use crate::message::{self, ConsumerSpec, FanoutSpec, OutgoingMessage, StreamKind, Subscription};
use crate::nats::NatsTransport;
use crate::{limits, subject, trace};

/// Where the bus runs and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// NATS server URL(s), comma-separated; `None` runs the bus in process.
    pub url: Option<String>,
    /// Prepended to every subject (`{prefix}.zw.evt.…`) and stream name (`{PREFIX}_ZW_EVENTS`),
    /// invisibly to callers. Empty in production; tests use a unique one each.
    pub prefix: String,
    /// Replicas of each JetStream stream (3 in a production cluster).
    pub stream_replicas: usize,
    /// How long [`Bus::request`] waits for a reply.
    pub request_timeout: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: String::new(),
            stream_replicas: 1,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl BusConfig {
    /// The in-process bus, no prefix.
    pub fn in_process() -> Self {
        Self::default()
    }

    /// A NATS bus at `url`, no prefix.
    pub fn nats(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// The same, with `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// A request as a server receives it, before decoding.
pub(crate) struct RawRequest {
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A server of one subject: raw request in, encoded reply out (it never fails: failures are
/// encoded in the reply).
pub(crate) type RawHandler = Arc<dyn Fn(RawRequest) -> BoxFuture<Bytes> + Send + Sync>;

/// What a transport does; [`Bus`] validates, prefixes nothing (the transports do) and encodes.
#[async_trait]
pub(crate) trait Transport: Send + Sync {
    /// Store every message durably, in order; returns once all are stored.
    async fn publish(&self, msgs: &[OutgoingMessage]) -> Result<(), BusError>;
    async fn subscribe(
        &self,
        spec: &ConsumerSpec,
        ack_wait: Duration,
    ) -> Result<Subscription, BusError>;
    async fn subscribe_fanout(&self, spec: &FanoutSpec) -> Result<Subscription, BusError>;
    async fn request(
        &self,
        subject: &str,
        headers: &[(String, String)],
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError>;
    async fn serve(&self, subject: &str, handler: RawHandler) -> Result<JoinHandle<()>, BusError>;
    async fn check(&self) -> Result<(), BusError>;
    fn is_in_process(&self) -> bool;
}

/// The reply on the wire: `{"ok": <reply>}` or `{"error": {"code": …, "message": …}}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire<T> {
    Ok(T),
    Error(RpcError),
}

fn encode_reply<T: Serialize>(reply: &Wire<T>) -> Bytes {
    match serde_json::to_vec(reply) {
        Ok(v) => Bytes::from(v),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a reply");
            let fallback: Wire<()> = Wire::Error(RpcError {
                code: "internal".to_owned(),
                message: "the reply could not be encoded".to_owned(),
            });
            // A unit error reply always encodes.
            Bytes::from(serde_json::to_vec(&fallback).unwrap_or_default())
        }
    }
}

/// The bus: durable publish, durable consumers, request/reply. Cheap to clone; clones share the
/// connection (or the in-process streams). Nothing is global: two buses never share state.
#[derive(Clone)]
pub struct Bus {
    transport: Arc<dyn Transport>,
    config: Arc<BusConfig>,
    ack_wait: Duration,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("in_process", &self.transport.is_in_process())
            .field("prefix", &self.config.prefix)
            .finish()
    }
}

impl Bus {
    /// Connect to NATS when `cfg.url` is set, else start an in-process bus.
    ///
    /// On NATS: refuses a server older than 2.10 ([`BusError::ServerTooOld`]), and creates or
    /// updates the events and tasks streams.
    pub async fn connect(cfg: &BusConfig) -> Result<Bus, BusError> {
        if !cfg.prefix.is_empty() && !subject::is_name(&cfg.prefix) {
            return Err(BusError::InvalidName(format!(
                "bus prefix {:?} must use only A-Z a-z 0-9 - _",
                cfg.prefix
            )));
        }
        match &cfg.url {
            None => Ok(Self::in_process(cfg)),
            Some(url) => {
                let transport = NatsTransport::connect(cfg, url).await?;
                Ok(Self::with_transport(Arc::new(transport), cfg))
            }
        }
    }

    /// An in-process bus (the prefix is irrelevant: nothing is shared outside this value).
    pub fn in_process(cfg: &BusConfig) -> Bus {
        Self::with_transport(Arc::new(MemoryTransport::default()), cfg)
    }

    fn with_transport(transport: Arc<dyn Transport>, cfg: &BusConfig) -> Bus {
        Bus {
            transport,
            config: Arc::new(cfg.clone()),
            ack_wait: limits::DEFAULT_ACK_WAIT,
        }
    }

    /// This bus with another ack wait for the consumers it subscribes from now on (default
    /// 30 s): how long a delivery may stay unacknowledged before it is delivered again.
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Bus {
        self.ack_wait = ack_wait;
        self
    }

    /// The ack wait of the consumers it subscribes.
    pub fn ack_wait(&self) -> Duration {
        self.ack_wait
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Whether this is the in-process implementation.
    pub fn is_in_process(&self) -> bool {
        self.transport.is_in_process()
    }

    /// Publish durably; returns once stored (the JetStream ack). Publishing the same `msg.id`
    /// again within the duplicate window (10 minutes) stores it once.
    pub async fn publish(&self, msg: OutgoingMessage) -> Result<(), BusError> {
        self.publish_batch(std::slice::from_ref(&msg)).await
    }

    /// Publish several messages, in order, waiting for all the acks together (one round trip
    /// instead of one per message). On error some may have been stored: publishing them again
    /// is safe (same ids). Messages without a `traceparent` header get the current [`trace`]
    /// context, if any.
    pub async fn publish_batch(&self, msgs: &[OutgoingMessage]) -> Result<(), BusError> {
        for m in msgs {
            subject::validate_publish(m.kind, &m.subject)?;
            message::validate_headers(&m.headers)?;
        }
        if msgs.is_empty() {
            return Ok(());
        }
        // Inside a trace scope (e.g. a consumer's handler), messages without a trace context
        // continue the current one.
        let lacks_trace =
            |m: &OutgoingMessage| message::header(&m.headers, trace::TRACEPARENT).is_none();
        if trace::traceparent().is_some() && msgs.iter().any(lacks_trace) {
            let traced: Vec<OutgoingMessage> = msgs
                .iter()
                .map(|m| OutgoingMessage {
                    headers: trace::with_current(&m.headers),
                    ..m.clone()
                })
                .collect();
            return self.transport.publish(&traced).await;
        }
        self.transport.publish(msgs).await
    }

    /// Subscribe to a durable pull consumer (created or updated to `spec`): explicit ack, ack
    /// wait 30 s (see [`Bus::with_ack_wait`]), unlimited redeliveries, starting from the first
    /// message in the stream.
    pub async fn subscribe(&self, spec: ConsumerSpec) -> Result<Subscription, BusError> {
        subject::validate_durable(&spec.durable)?;
        for f in &spec.filter_subjects {
            subject::validate_filter(spec.kind, f)?;
        }
        self.transport.subscribe(&spec, self.ack_wait).await
    }

    /// Subscribe to events as a fan-out ([`FanoutSpec`]): this subscription gets every matching
    /// event, whatever other subscriptions (of this process or any other) get; it starts at
    /// `spec.since` (or now) and ends when dropped. A NATS subscription survives a lost
    /// connection (it resumes after the last event it delivered).
    pub async fn subscribe_fanout(&self, spec: FanoutSpec) -> Result<Subscription, BusError> {
        for f in &spec.filter_subjects {
            subject::validate_filter(StreamKind::Events, f)?;
        }
        self.transport.subscribe_fanout(&spec).await
    }

    /// Send a request to whoever serves `O::SUBJECT` and wait for the reply (at most the
    /// configured request timeout). The current [`trace`] context travels along.
    pub async fn request<O: Operation>(&self, req: &O::Request) -> Result<O::Reply, BusError> {
        self.request_with_headers::<O>(req, &[]).await
    }

    /// [`Bus::request`] with extra headers.
    pub async fn request_with_headers<O: Operation>(
        &self,
        req: &O::Request,
        headers: &[(String, String)],
    ) -> Result<O::Reply, BusError> {
        subject::validate_rpc(O::SUBJECT)?;
        message::validate_headers(headers)?;
        let payload = serde_json::to_vec(req).map_err(|e| BusError::Codec(e.to_string()))?;
        let headers = trace::with_current(headers);
        let reply = self
            .transport
            .request(
                O::SUBJECT,
                &headers,
                Bytes::from(payload),
                self.config.request_timeout,
            )
            .await?;
        match serde_json::from_slice::<Wire<O::Reply>>(&reply) {
            Ok(Wire::Ok(r)) => Ok(r),
            Ok(Wire::Error(e)) => Err(BusError::Remote(e)),
            Err(e) => Err(BusError::Codec(format!("reply from {}: {e}", O::SUBJECT))),
        }
    }

    /// Serve `O::SUBJECT` with `handler`, in a queue group named after the subject so that the
    /// replicas of a service share the load. Returns once the subscription is in place; abort
    /// the returned handle to stop serving. Each request runs in its own task, inside a span
    /// carrying the caller's `traceparent`. A request that does not decode gets a `bad_request`
    /// error reply.
    pub async fn serve<O, F, Fut>(&self, handler: F) -> Result<JoinHandle<()>, BusError>
    where
        O: Operation,
        O::Request: 'static,
        O::Reply: 'static,
        F: Fn(O::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O::Reply, RpcError>> + Send + 'static,
    {
        subject::validate_rpc(O::SUBJECT)?;
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |req: RawRequest| {
            let handler = handler.clone();
            Box::pin(async move {
                let tp = message::header(&req.headers, trace::TRACEPARENT).map(str::to_owned);
                let span = tracing::info_span!(
                    "rpc.serve",
                    subject = O::SUBJECT,
                    traceparent = tp.as_deref().unwrap_or("")
                );
                let reply = match serde_json::from_slice::<O::Request>(&req.payload) {
                    Ok(r) => match trace::scope(tp, handler(r)).instrument(span).await {
                        Ok(reply) => Wire::Ok(reply),
                        Err(e) => Wire::Error(e),
                    },
                    Err(e) => Wire::Error(RpcError {
                        code: "bad_request".to_owned(),
                        message: format!("cannot decode the request: {e}"),
                    }),
                };
                encode_reply(&reply)
            }) as BoxFuture<Bytes>
        });
        self.transport.serve(O::SUBJECT, raw).await
    }

    /// Readiness: the server is reachable and JetStream answers (always ready in process).
    pub async fn check(&self) -> Result<(), BusError> {
        self.transport.check().await
    }
}
