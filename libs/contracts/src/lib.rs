//! The messaging contract between Zhiwang services. Changing a type here changes the wire format
//! every service relies on: add fields as `Option` or with defaults, and bump
//! [`Event::schema_version`] for anything else.
//!
//! - [`envelope`]: the [`Envelope`] every event travels in, and subject construction (also the
//!   filters of the token revocation events every verifier follows).
//! - [`events`]: the typed events ([`Event`]), one tagged enum for all services: the grid's
//!   declarations and records, identity's signing-key retirements and token revocations.
//! - [`rpc`]: request/reply operations between services (`zw.rpc.<service>.<operation>`).

pub mod envelope;
pub mod events;
pub mod rpc;

pub use envelope::{Actor, Envelope, EnvelopeError};
pub use events::{DeclarationStatus, Event};
