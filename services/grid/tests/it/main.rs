//! Integration tests of the grid service against real PostgreSQL and NATS JetStream: the
//! self-declaration flow with the real district service answering register lookups.

// Helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod helpers;

mod collection;
mod concurrency;
mod declarations;
mod entities;
mod houses;
mod imports;
mod incidents;
mod input;
mod jurisdictions;
mod media;
mod open311;
mod openapi;
mod people;
mod privacy;
mod rules;
mod scopes;
mod takeovers;
mod timeline;
