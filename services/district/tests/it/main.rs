//! Integration tests of the district centre against real PostgreSQL and NATS JetStream: the
//! population register served over request/reply, and the statistics it builds from the
//! declaration events of its grids.

mod helpers;

mod register;
mod stats;
