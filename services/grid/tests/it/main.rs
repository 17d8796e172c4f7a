//! Integration tests of the grid service against real PostgreSQL and NATS JetStream: the
//! self-declaration flow with the real district service answering register lookups.

mod helpers;

mod declarations;
mod input;
mod scopes;
