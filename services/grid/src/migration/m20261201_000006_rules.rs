//! Embedded rules: versioned rule sets and the cases they raise.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One row per version of each kind; the highest version is the active one.
        m.create_table(
            Table::create()
                .table("rule_sets")
                .if_not_exists()
                .col(ColumnDef::new("kind").string_len(16).not_null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(ColumnDef::new("document").json().not_null())
                // SHA-256 (hex) of the document: what the in-memory cache is keyed by.
                .col(ColumnDef::new("digest").string_len(64).not_null())
                .col(ColumnDef::new("created_by").string().not_null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(Index::create().col("kind").col("version"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("cases")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("rule_id").string_len(64).not_null())
                .col(ColumnDef::new("rule_version").big_integer().not_null())
                .col(ColumnDef::new("case_type").string_len(64).not_null())
                .col(ColumnDef::new("action").string_len(24).not_null())
                .col(ColumnDef::new("recipient").string_len(64).not_null())
                .col(ColumnDef::new("subject_kind").string_len(16).not_null())
                .col(ColumnDef::new("subject_key").string_len(64).not_null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("status").string_len(8).not_null())
                // rule|type|subject kind|subject key while open, NULL once closed: unique, so a
                // rule raises one open case per subject (NULLs never collide, on both backends).
                .col(ColumnDef::new("open_key").string().null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new("closed_at")
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new("closed_by").string().null())
                .col(ColumnDef::new("note").string_len(500).null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("cases_open_key")
                .table("cases")
                .col("open_key")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("cases_recipient")
                .table("cases")
                .col("recipient")
                .col("status")
                .col("id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("cases_grid")
                .table("cases")
                .col("grid_code")
                .col("id")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("cases").to_owned())
            .await?;
        m.drop_table(Table::drop().table("rule_sets").to_owned())
            .await
    }
}
