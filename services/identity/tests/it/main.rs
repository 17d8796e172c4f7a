//! Integration tests of the identity service: the real service on port 0, a fresh PostgreSQL
//! database per test, the in-process bus, called over HTTP with reqwest; and (`everywhere`)
//! identity with a gateway and a service, on NATS JetStream and on the in-process bus, to show
//! that its revocations take effect in every verifier at once.

mod helpers;

mod everywhere;
mod evidence;
mod keys;
mod revocation;
mod service_accounts;
mod token;
mod users;
