use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("population_register")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("id_number")
                            .string_len(18)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("name").string().not_null())
                    .col(
                        ColumnDef::new("registered_house_code")
                            .string_len(20)
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("population_register").to_owned())
            .await
    }
}
