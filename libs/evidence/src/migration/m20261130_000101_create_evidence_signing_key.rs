//! Creates `evidence_signing_key`, where earlier versions kept the tree-head signing key. Keys now
//! live in key files ([`crate::keys`]); a key still found here is adopted as retired and deleted
//! ([`crate::log::load_key_file`]).

use sea_orm_migration::prelude::*;

/// Creates `evidence_signing_key` (legacy; see [`crate::log::load_key_file`]).
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000101_create_evidence_signing_key"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("evidence_signing_key")
                    .if_not_exists()
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("secret").string().not_null())
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("evidence_signing_key").to_owned())
            .await
    }
}
