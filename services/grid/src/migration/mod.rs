//! The grid database: its own tables plus the shared outbox/inbox and evidence tables.
//! One migration file per area, in the order the areas depend on each other.

use sea_orm_migration::prelude::*;

mod m20261130_000001_create_grid_tables;
mod m20261201_000002_life_events;
mod m20261201_000003_jurisdictions_houses;
mod m20261201_000004_people_entities;
mod m20261201_000005_incidents;
mod m20261201_000006_rules;
mod m20261201_000007_collection;
mod m20261203_000008_access;
mod m20261208_000009_import_staging;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut list: Vec<Box<dyn MigrationTrait>> = vec![Box::new(zw_bus::Migration)];
        list.extend(zw_evidence::migrations());
        list.push(Box::new(m20261130_000001_create_grid_tables::Migration));
        list.push(Box::new(m20261201_000002_life_events::Migration));
        list.push(Box::new(m20261201_000003_jurisdictions_houses::Migration));
        list.push(Box::new(m20261201_000004_people_entities::Migration));
        list.push(Box::new(m20261201_000005_incidents::Migration));
        list.push(Box::new(m20261201_000006_rules::Migration));
        list.push(Box::new(m20261201_000007_collection::Migration));
        list.push(Box::new(m20261203_000008_access::Migration));
        list.push(Box::new(m20261208_000009_import_staging::Migration));
        list
    }
}
