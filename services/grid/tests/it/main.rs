//! Integration tests of the grid service against real PostgreSQL and NATS JetStream: the
//! self-declaration flow with the real district service answering register lookups.

// Helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod helpers;

mod declarations;
mod incidents;
mod input;
mod open311;
mod scopes;
