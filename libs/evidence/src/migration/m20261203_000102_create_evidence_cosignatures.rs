//! Creates `evidence_cosignatures`: the witnesses' cosignatures of the service's checkpoints
//! (c2sp.org/tlog-cosignature), one per witness key and tree size, shown with the checkpoint.

use sea_orm_migration::prelude::*;

/// Creates `evidence_cosignatures`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000102_create_evidence_cosignatures"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("evidence_cosignatures")
                    .if_not_exists()
                    .col(ColumnDef::new("tree_size").big_integer().not_null())
                    .col(ColumnDef::new("witness").string().not_null())
                    .col(ColumnDef::new("key_id").string().not_null())
                    // Seconds since the Unix epoch, as the witness signed it.
                    .col(ColumnDef::new("signed_at").big_integer().not_null())
                    // The whole signature line (`— <name> <base64>`), as it is shown.
                    .col(ColumnDef::new("line").string().not_null())
                    .primary_key(
                        Index::create()
                            .col("tree_size")
                            .col("witness")
                            .col("key_id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("evidence_cosignatures").to_owned())
            .await
    }
}
