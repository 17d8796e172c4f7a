//! Integration tests of the identity service: the real service on port 0, a fresh PostgreSQL
//! database per test, the in-process bus, called over HTTP with reqwest.

mod helpers;

mod evidence;
mod keys;
mod service_accounts;
mod token;
mod users;
