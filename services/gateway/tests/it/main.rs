//! The gateway's integration tests: one binary, one module per concern. Each test starts its own
//! gateway and fake services on port 0 (see `helpers`), and real Redis where it says so.

mod auth;
mod docs;
mod helpers;
mod proxy;
mod ratelimit;
