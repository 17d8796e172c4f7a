//! Revocations: single access tokens (RFC 7009) and subjects whose tokens issued before a time
//! are refused (a disabled account, "sign out everywhere"). Rows are kept only as long as a
//! token they concern can be valid; the evidence log keeps the history.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("revoked_tokens")
                .if_not_exists()
                .col(
                    ColumnDef::new("jti")
                        .string_len(128)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("subject").string_len(128).not_null())
                // Seconds since the Unix epoch, as the token's `exp` plus the leeway.
                .col(ColumnDef::new("until").big_integer().not_null())
                .col(ColumnDef::new("revoked_by").string_len(128).not_null())
                .col(
                    ColumnDef::new("revoked_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("revoked_tokens_until")
                .table("revoked_tokens")
                .col("until")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("subject_revocations")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("subject").string_len(128).not_null())
                // Tokens with an `iat` before this (seconds since the Unix epoch) are refused.
                .col(ColumnDef::new("issued_before").big_integer().not_null())
                .col(ColumnDef::new("until").big_integer().not_null())
                // `sign_out` or `disabled`.
                .col(ColumnDef::new("reason").string_len(16).not_null())
                .col(ColumnDef::new("revoked_by").string_len(128).not_null())
                .col(
                    ColumnDef::new("revoked_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("subject_revocations_subject")
                .table("subject_revocations")
                .col("subject")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("subject_revocations_until")
                .table("subject_revocations")
                .col("until")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("subject_revocations").to_owned())
            .await?;
        m.drop_table(Table::drop().table("revoked_tokens").to_owned())
            .await
    }
}
