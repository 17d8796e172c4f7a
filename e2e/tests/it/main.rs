//! End-to-end: the platform as separate processes, driven through the gateway with real tokens.

mod cluster;

mod bad_input;
mod fault;
mod flow;
