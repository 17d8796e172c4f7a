//! Integration tests of the approval hall as it runs today — its own database, the bus and the
//! operational endpoints every service has — against real PostgreSQL and NATS JetStream,
//! including readiness when its database goes away.

mod operations;
