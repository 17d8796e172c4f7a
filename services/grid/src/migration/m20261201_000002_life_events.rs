//! The life events of houses, people and legal entities: one row per step, with its source and
//! the evidence record that proves it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("life_events")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("subject_kind").string_len(16).not_null())
                .col(ColumnDef::new("subject_key").string_len(64).not_null())
                .col(ColumnDef::new("change").string_len(32).not_null())
                .col(ColumnDef::new("state").string_len(32).not_null())
                .col(ColumnDef::new("house_code").string_len(20).null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(ColumnDef::new("source_kind").string_len(16).not_null())
                .col(ColumnDef::new("source_actor").string().not_null())
                .col(ColumnDef::new("source_ref").string().null())
                .col(ColumnDef::new("details").json().not_null())
                .col(ColumnDef::new("evidence_seq").big_integer().not_null())
                .col(
                    ColumnDef::new("occurred_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("life_events_subject")
                .table("life_events")
                .col("subject_kind")
                .col("subject_key")
                .col("id")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("life_events").to_owned())
            .await
    }
}
