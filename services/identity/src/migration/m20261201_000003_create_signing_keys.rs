//! Signing keys: the newest key not retired signs; every key not retired is published.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("signing_keys")
                .if_not_exists()
                .col(
                    ColumnDef::new("kid")
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("alg").string_len(16).not_null())
                // PKCS#8 DER of the private key.
                .col(ColumnDef::new("private_key").blob().not_null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new("retired_at")
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("signing_keys").to_owned())
            .await
    }
}
