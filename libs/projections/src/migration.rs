//! The projection tables. A centre's migrator adds [`migrations`].

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

/// Creates `declaration_counts`: declarations per grid and status, kept by the same consumer as
/// the tally, so statistics read one row per grid and status instead of one per declaration.
pub struct CreateDeclarationCounts;

impl MigrationName for CreateDeclarationCounts {
    fn name(&self) -> &str {
        "m20261130_000301_create_declaration_counts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDeclarationCounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("declaration_counts")
                    .if_not_exists()
                    .col(ColumnDef::new("grid_code").string().not_null())
                    .col(ColumnDef::new("status").string().not_null())
                    .col(ColumnDef::new("n").big_integer().not_null())
                    .primary_key(Index::create().col("grid_code").col("status"))
                    .to_owned(),
            )
            .await?;
        // Counts for declarations tallied before this table existed.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO declaration_counts (grid_code, status, n) \
                 SELECT grid_code, status, COUNT(*) FROM declaration_tally GROUP BY grid_code, status",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("declaration_counts").to_owned())
            .await
    }
}

/// Every projection migration, oldest first.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(CreateDeclarationTally),
        Box::new(CreateDeclarationCounts),
    ]
}
