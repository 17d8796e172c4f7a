//! The street service.
