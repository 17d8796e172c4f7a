//! End-to-end harness and tests. The tests live in `tests/it` and the platform bench in
//! `benches/platform.rs`: both start every service as its own `zhiwang serve` process (the binary
//! at `$ZW_BIN`, built by `scripts/test`), each with its own PostgreSQL database, on one NATS
//! server, and drive the platform through the gateway ([`cluster::Cluster`]).

pub mod cluster;
pub mod deps;
