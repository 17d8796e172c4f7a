//! Service accounts: departments integrating over REST with the client-credentials grant.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("service_accounts")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("client_id").string_len(64).not_null())
                // argon2id PHC string of the client secret.
                .col(ColumnDef::new("secret_hash").string().not_null())
                .col(ColumnDef::new("roles").json().not_null())
                .col(ColumnDef::new("scope").string_len(15).not_null())
                // JSON array of data-set names the department is entitled to.
                .col(ColumnDef::new("datasets").json().not_null())
                .col(ColumnDef::new("name").string_len(256).null())
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
        m.create_index(
            Index::create()
                .name("service_accounts_client_id_key")
                .table("service_accounts")
                .col("client_id")
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("service_accounts").to_owned())
            .await
    }
}
