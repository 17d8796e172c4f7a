//! Users: people who log in with a username and password.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("users")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("username").string_len(64).not_null())
                // argon2id PHC string; never logged, never returned.
                .col(ColumnDef::new("password_hash").string().not_null())
                // JSON array of role names.
                .col(ColumnDef::new("roles").json().not_null())
                .col(ColumnDef::new("scope").string_len(15).not_null())
                .col(ColumnDef::new("name").string_len(256).null())
                .col(ColumnDef::new("phone").string_len(11).null())
                .col(
                    ColumnDef::new("disabled")
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // Named, so a duplicate maps to 409 by constraint (PostgreSQL reports this name).
        m.create_index(
            Index::create()
                .name("users_username_key")
                .table("users")
                .col("username")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("users").to_owned()).await
    }
}
