//! Integration tests of the street centre against real PostgreSQL and NATS JetStream: the
//! statistics it builds from the declaration events of its communities and grids, who may read
//! them, and that its projection outlives a restart and catches up on what it missed.

mod restart;
mod stats;
