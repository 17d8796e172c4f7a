//! Integration tests of the community centre against real PostgreSQL and NATS JetStream: the
//! statistics it builds from the declaration events of its grids, who may read them, and that
//! the community, street and district centres each keep a projection of their own.

mod centres;
mod stats;
