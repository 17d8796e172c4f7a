//! The projection tables.

use sea_orm_migration::prelude::*;

/// Creates `declaration_tally`.
pub struct CreateDeclarationTally;

impl MigrationName for CreateDeclarationTally {
    fn name(&self) -> &str {
        "m20261130_000300_create_declaration_tally"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDeclarationTally {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("declaration_tally")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("declaration_id")
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("grid_code").string().not_null())
                    .col(ColumnDef::new("status").string().not_null())
                    .col(ColumnDef::new("version").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("declaration_tally_grid_status")
                    .table("declaration_tally")
                    .col("grid_code")
                    .col("status")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("declaration_tally").to_owned())
            .await
    }
}
