//! The integration tests of the bus: one binary.
//!
//! - `conformance`: each behaviour once, run against NATS JetStream and the in-process bus;
//! - `outbox_inbox`: the outbox, relay and inbox on PostgreSQL (NATS) and SQLite (in process);
//! - `connect`: which servers the bus accepts;
//! - `proxy`: a TCP proxy that breaks the connection to NATS on purpose (and a fan-out
//!   subscription living through such a break).
//!
//! Needs `ZW_TEST_NATS_URL` (a NATS 2.10+ server with JetStream) and PostgreSQL.

mod conformance;
mod connect;
mod helpers;
mod outbox_inbox;
mod proxy;
