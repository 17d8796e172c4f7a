//! The community service.
