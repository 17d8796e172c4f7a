//! The integration tests of zw-auth: one binary.
//!
//! - `follow`: a verifier following identity's revocation events on the bus (NATS JetStream and
//!   in process) refuses what they revoke as soon as they arrive, and a verifier that starts
//!   later refuses it too.
//!
//! Needs `ZW_TEST_NATS_URL` (a NATS 2.10+ server with JetStream).

mod follow;
