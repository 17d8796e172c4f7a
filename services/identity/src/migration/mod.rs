//! The identity database: users, service accounts, signing keys, revocations, the evidence log
//! of their changes, and the outbox of the revocation events. One migration per file.

use sea_orm_migration::prelude::*;

mod m20261201_000001_create_users;
mod m20261201_000002_create_service_accounts;
mod m20261201_000003_create_signing_keys;
mod m20261210_000004_create_revocations;
mod m20261210_000005_bind_citizens_to_id_numbers;

/// Brings the identity database up to date.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut list = zw_evidence::migrations();
        list.push(Box::new(m20261201_000001_create_users::Migration));
        list.push(Box::new(
            m20261201_000002_create_service_accounts::Migration,
        ));
        list.push(Box::new(m20261201_000003_create_signing_keys::Migration));
        // Added after the tables above: databases migrated before keep their history in order.
        list.push(Box::new(zw_bus::Migration));
        list.push(Box::new(m20261210_000004_create_revocations::Migration));
        list.push(Box::new(
            m20261210_000005_bind_citizens_to_id_numbers::Migration,
        ));
        list
    }
}
