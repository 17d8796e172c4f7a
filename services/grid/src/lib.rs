//! The grid service.
