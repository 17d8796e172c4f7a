//! The identity service.
