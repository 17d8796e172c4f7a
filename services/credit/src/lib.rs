//! The credit service.
