//! The `outbox` and `inbox` tables, as a migration each service adds to its own migrator.
//!
//! ```text
//! outbox (id uuid PK, subject text, kind text ('event'|'task'), payload text (the JSON envelope),
//!         headers json ([["name","value"], …]), created_at timestamptz, published_at timestamptz NULL)
//!   outbox_unpublished  ON outbox (id) WHERE published_at IS NULL   -- the relay's work list
//!   outbox_published_at ON outbox (published_at)                    -- replay window and purge
//! inbox  (consumer text, event_id uuid, processed_at timestamptz, PK (consumer, event_id))
//! ```
//! The same statements work on PostgreSQL and SQLite.

use sea_orm_migration::prelude::*;

/// Table and column names, shared with [`crate::outbox`] and [`crate::inbox`].
pub(crate) mod names {
    pub const OUTBOX: &str = "outbox";
    pub const INBOX: &str = "inbox";
    pub const ID: &str = "id";
    pub const SUBJECT: &str = "subject";
    pub const KIND: &str = "kind";
    pub const PAYLOAD: &str = "payload";
    pub const HEADERS: &str = "headers";
    pub const CREATED_AT: &str = "created_at";
    pub const PUBLISHED_AT: &str = "published_at";
    pub const CONSUMER: &str = "consumer";
    pub const EVENT_ID: &str = "event_id";
    pub const PROCESSED_AT: &str = "processed_at";
}

use names::*;

/// The migration name, also the module path by sea-orm convention.
pub const MIGRATION_NAME: &str = "m20261130_000200_create_outbox_inbox";

/// Creates `outbox` and `inbox`. Add it to a service's migrator:
/// `Box::new(zw_bus::migration::Migration)`.
pub struct Migration;

/// The same type under its sea-orm conventional module name.
pub mod m20261130_000200_create_outbox_inbox {
    pub use super::Migration;
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        MIGRATION_NAME
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OUTBOX)
                    .if_not_exists()
                    .col(ColumnDef::new(ID).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SUBJECT).text().not_null())
                    .col(ColumnDef::new(KIND).string_len(16).not_null())
                    .col(ColumnDef::new(PAYLOAD).text().not_null())
                    .col(ColumnDef::new(HEADERS).json().not_null())
                    .col(
                        ColumnDef::new(CREATED_AT)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PUBLISHED_AT)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // A partial index keeps the relay's scan proportional to the backlog, not the history;
        // sea-query has no portable partial index, but this SQL is the same on both databases.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_published_at")
                    .table(OUTBOX)
                    .col(PUBLISHED_AT)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(INBOX)
                    .if_not_exists()
                    .col(ColumnDef::new(CONSUMER).text().not_null())
                    .col(ColumnDef::new(EVENT_ID).uuid().not_null())
                    .col(
                        ColumnDef::new(PROCESSED_AT)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(CONSUMER).col(EVENT_ID))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(INBOX).if_exists().to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OUTBOX).if_exists().to_owned())
            .await?;
        Ok(())
    }
}

/// A migrator with only this migration, for tests and tools; services list [`Migration`] in
/// their own migrator instead.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Migration)]
    }
}
