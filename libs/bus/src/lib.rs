//! The bus: one interface for events, tasks and request/reply, over NATS JetStream or in process,
//! with the transactional outbox, its relay and the idempotent inbox.
//!
//! How a service uses it:
//! 1. It writes its change and the event in one transaction: [`outbox::enqueue`].
//! 2. A [`outbox::Relay`] (one per service process) publishes unpublished outbox rows with
//!    `Nats-Msg-Id` = event id, and marks them published after the JetStream ack.
//! 3. Consumers run [`inbox::run_consumer`]: each event is applied in one transaction together
//!    with an `inbox` row (consumer, event id), then acknowledged. A redelivered event finds its
//!    inbox row and is only acknowledged. Nothing is lost when a process dies, nothing is applied
//!    twice.
//! 4. State every process keeps for itself (token revocations) follows events with
//!    [`Bus::subscribe_fanout`]: each subscription receives every event, no acks, no inbox.
//! 5. Synchronous queries: [`Bus::request`] / [`Bus::serve`] with the operations of
//!    [`zw_contracts::rpc`].
//!
//! What lives where:
//! - [`bus`] — [`Bus`], [`BusConfig`]; the transport trait both implementations fill in.
//! - `nats` (private) — JetStream streams, durable pull consumers, ordered consumers for
//!   fan-out, core request/reply;
//!   refuses servers older than 2.10.
//! - `memory` (private) — the in-process transport for `zhiwang up`, with the same
//!   semantics (durable cursors, fan-out cursors, ack wait, nak, dedup window, work queue,
//!   round-robin servers).
//! - [`message`] — [`OutgoingMessage`], [`ConsumerSpec`], [`FanoutSpec`], [`Subscription`],
//!   [`Delivery`], [`StreamKind`].
//! - [`subject`] — NATS wildcard matching and subject rules, implemented once.
//! - [`outbox`], [`inbox`], [`migration`] — the tables and the code around them.
//! - [`trace`] — the W3C `traceparent` carried in headers.
//! - [`error`] — [`BusError`].
//!
//! Callers always use contract subjects (`zw.evt.…`); a test prefix (`BusConfig::prefix`) is added
//! and removed underneath. There is no global state: everything hangs off a [`Bus`] value.

pub mod bus;
pub mod error;
pub mod inbox;
pub mod limits;
mod memory;
pub mod message;
pub mod migration;
mod nats;
pub mod outbox;
pub mod subject;
pub mod trace;

pub use bus::{Bus, BusConfig};
pub use error::BusError;
pub use inbox::{EventHandler, HandlerError};
pub use memory::MAX_IN_MEMORY_EVENTS;
pub use message::{ConsumerSpec, Delivery, FanoutSpec, OutgoingMessage, StreamKind, Subscription};
pub use migration::Migration;
pub use outbox::{PublishedRows, Relay, RelayHandle};
