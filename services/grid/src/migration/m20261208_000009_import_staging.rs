//! The tables an import stages its chunks in on PostgreSQL (`imports::store`): rows arrive there
//! by the COPY protocol on a connection of their own, each chunk under a batch id, and the
//! chunk's transaction writes them into the grid's tables and deletes them. `UNLOGGED`: what is
//! staged is scratch (a crash loses it, and the chunk is simply sent again), so it writes no WAL.
//! SQLite (`zhiwang up`) has no COPY and inserts its chunks directly: nothing to create there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: [&str; 4] = [
    "CREATE UNLOGGED TABLE IF NOT EXISTS import_staging_houses (
        batch uuid NOT NULL, code text NOT NULL, grid_code text NOT NULL, address text NOT NULL,
        status text NOT NULL, registered_size integer NOT NULL, legal boolean NOT NULL,
        category text NOT NULL, class_level text, colour text, classified_by_rules bigint,
        event_id uuid NOT NULL, staged_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS import_staging_houses_batch ON import_staging_houses (batch)",
    "CREATE UNLOGGED TABLE IF NOT EXISTS import_staging_residents (
        batch uuid NOT NULL, person_id uuid NOT NULL, id_number text NOT NULL, name text,
        birth_date date NOT NULL, phone text, house_code text NOT NULL, grid_code text NOT NULL,
        event_id uuid NOT NULL, staged_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS import_staging_residents_batch ON import_staging_residents (batch)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for sql in CREATE {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared(
                "DROP TABLE IF EXISTS import_staging_houses, import_staging_residents",
            )
            .await?;
        Ok(())
    }
}
