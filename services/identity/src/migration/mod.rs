//! The identity database: users, service accounts, signing keys, and the evidence log of their
//! changes. One migration per file.

use sea_orm_migration::prelude::*;

mod m20261201_000001_create_users;
mod m20261201_000002_create_service_accounts;
mod m20261201_000003_create_signing_keys;

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
        list
    }
}
