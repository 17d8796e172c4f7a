//! The approval service.
