//! A citizen's account is bound to his real-name resident ID number: one account per number.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Personal data: never logged; shown masked (`UserView`).
        m.alter_table(
            Table::alter()
                .table("users")
                .add_column(ColumnDef::new("id_number").string_len(18).null())
                .to_owned(),
        )
        .await?;
        // Named, so a second account for the same number maps to 409 by constraint. NULLs
        // (staff, department accounts) do not collide.
        m.create_index(
            Index::create()
                .name("users_id_number_key")
                .table("users")
                .col("id_number")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("users_id_number_key")
                .table("users")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("users")
                .drop_column("id_number")
                .to_owned(),
        )
        .await
    }
}
