//! Offline collection batches (one row per client record id) and media stored by content hash.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Photos and scans by content hash: the same bytes are stored once.
        m.create_table(
            Table::create()
                .table("media")
                .if_not_exists()
                .col(
                    ColumnDef::new("sha256")
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("content_type").string_len(64).not_null())
                .col(ColumnDef::new("size").big_integer().not_null())
                .col(ColumnDef::new("bytes").blob().not_null())
                .col(ColumnDef::new("uploaded_by").string().not_null())
                .col(ColumnDef::new("grid_code").string_len(15).null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // One row per record a mobile client collected, keyed by the client's own id: a
        // re-upload finds it here and gets the same answer without changing anything.
        m.create_table(
            Table::create()
                .table("collected_records")
                .if_not_exists()
                .col(ColumnDef::new("client_id").uuid().not_null().primary_key())
                .col(ColumnDef::new("batch_id").uuid().not_null())
                .col(ColumnDef::new("collector").string().not_null())
                .col(ColumnDef::new("device").string_len(64).null())
                .col(ColumnDef::new("kind").string_len(32).not_null())
                .col(ColumnDef::new("request_hash").string_len(64).not_null())
                // `applied`, `conflict` or `rejected`.
                .col(ColumnDef::new("outcome").string_len(16).not_null())
                .col(ColumnDef::new("result").json().not_null())
                .col(
                    ColumnDef::new("collected_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new("received_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("collected_records_batch")
                .table("collected_records")
                .col("batch_id")
                .col("client_id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // Written by the ledger in the transaction of every change a collected record makes:
        // if the process dies before the record's answer is stored, a re-upload finds the mark
        // and knows the change was made (never applies it twice).
        m.create_table(
            Table::create()
                .table("collection_marks")
                .if_not_exists()
                .col(ColumnDef::new("client_id").uuid().not_null().primary_key())
                .col(
                    ColumnDef::new("marked_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // Bulk imports: one row per accepted chunk (what it loaded, and its evidence).
        m.create_table(
            Table::create()
                .table("imports")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("kind").string_len(16).not_null())
                .col(ColumnDef::new("body_sha256").string_len(64).not_null())
                .col(ColumnDef::new("rows").big_integer().not_null())
                .col(ColumnDef::new("created").big_integer().not_null())
                .col(ColumnDef::new("unchanged").big_integer().not_null())
                .col(ColumnDef::new("imported_by").string().not_null())
                .col(ColumnDef::new("evidence_seq").big_integer().not_null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["imports", "collection_marks", "collected_records", "media"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
