//! Who may see what: who uploaded which photo and which record it is attached to (a photo belongs
//! to the jurisdiction of its record), and whom a citizen declared.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("media_uploads")
                .if_not_exists()
                .col(ColumnDef::new("sha256").string_len(64).not_null())
                .col(ColumnDef::new("uploaded_by").string().not_null())
                .col(
                    ColumnDef::new("uploaded_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(Index::create().col("sha256").col("uploaded_by"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("media_attachments")
                .if_not_exists()
                .col(ColumnDef::new("sha256").string_len(64).not_null())
                .col(ColumnDef::new("subject_kind").string_len(16).not_null())
                .col(ColumnDef::new("subject_key").string_len(64).not_null())
                .col(ColumnDef::new("attached_by").string().not_null())
                .col(
                    ColumnDef::new("attached_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col("sha256")
                        .col("subject_kind")
                        .col("subject_key"),
                )
                .to_owned(),
        )
        .await?;
        // Rows from before: nobody knows whom they declared, so a citizen is shown the least.
        m.alter_table(
            Table::alter()
                .table("declarations")
                .add_column(
                    ColumnDef::new("declared_as")
                        .string_len(16)
                        .not_null()
                        .default("other"),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("declarations")
                .drop_column("declared_as")
                .to_owned(),
        )
        .await?;
        for t in ["media_attachments", "media_uploads"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
