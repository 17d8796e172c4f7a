//! End-to-end: the platform as separate processes, driven through the gateway with real tokens.

// Helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod local;
mod monitor;

mod access;
mod bad_input;
mod banner;
mod contract;
mod fault;
mod flow;
mod forgery;
mod grid_tier;
mod log_scan;
mod rate_limit;
mod up;
