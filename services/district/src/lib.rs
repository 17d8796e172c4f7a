//! The district service.
