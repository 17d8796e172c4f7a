//! The evidence tables, as sea-orm migrations a service adds to its own `Migrator`:
//!
//! ```ignore
//! fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!     let mut list: Vec<Box<dyn MigrationTrait>> = vec![Box::new(m20261201_000001_create_declarations::Migration)];
//!     list.extend(zw_evidence::migrations());
//!     list
//! }
//! ```

use sea_orm_migration::MigrationTrait;

pub mod m20261130_000100_create_evidence;
pub mod m20261130_000101_create_evidence_signing_key;
pub mod m20261203_000102_create_evidence_cosignatures;

/// Every migration of this crate, oldest first.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261130_000100_create_evidence::Migration),
        Box::new(m20261130_000101_create_evidence_signing_key::Migration),
        Box::new(m20261203_000102_create_evidence_cosignatures::Migration),
    ]
}
