//! The district database: its own tables plus the shared outbox/inbox and projection tables.

use sea_orm_migration::prelude::*;

mod m20261130_000001_create_population_register;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut list: Vec<Box<dyn MigrationTrait>> = vec![Box::new(zw_bus::Migration)];
        list.extend(zw_projections::migration::migrations());
        list.push(Box::new(
            m20261130_000001_create_population_register::Migration,
        ));
        list
    }
}
