//! End-to-end tests live in `tests/it`: they start every service as its own `zhiwang serve`
//! process (the binary at `$ZW_BIN`, built by `scripts/test`), each with its own PostgreSQL
//! database, on one NATS server, and drive the platform through the gateway only.
