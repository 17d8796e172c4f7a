use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("grids")
                .if_not_exists()
                .col(ColumnDef::new("code").string_len(15).not_null().primary_key())
                .col(ColumnDef::new("name").string().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("houses")
                .if_not_exists()
                .col(ColumnDef::new("code").string_len(20).not_null().primary_key())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("address").string().not_null())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("registered_size").integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("residents")
                .if_not_exists()
                .col(ColumnDef::new("id_number").string_len(18).not_null().primary_key())
                .col(ColumnDef::new("name").string().null())
                .col(ColumnDef::new("house_code").string_len(20).not_null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("declaration_id").uuid().null())
                .col(ColumnDef::new("since").timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("residents_house").table("residents").col("house_code").if_not_exists().to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("declarations")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("id_number").string_len(18).not_null())
                .col(ColumnDef::new("name").string().null())
                .col(ColumnDef::new("house_code").string_len(20).not_null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("reasons").json().not_null())
                .col(ColumnDef::new("submitted_by").string().not_null())
                .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("decided_at").timestamp_with_time_zone().null())
                .col(ColumnDef::new("decided_by").string().null())
                .col(ColumnDef::new("decision_reason").string().null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("declarations_grid", "grid_code"),
            ("declarations_submitter", "submitted_by"),
            ("declarations_id_number", "id_number"),
        ] {
            m.create_index(Index::create().name(name).table("declarations").col(col).col("id").if_not_exists().to_owned())
                .await?;
        }
        m.create_table(
            Table::create()
                .table("verification_tasks")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("declaration_id").uuid().not_null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("status").string().not_null())
                .col(ColumnDef::new("reasons").json().not_null())
                .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("closed_at").timestamp_with_time_zone().null())
                .col(ColumnDef::new("closed_by").string().null())
                .col(ColumnDef::new("outcome").string().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("verification_tasks_grid_status")
                .table("verification_tasks")
                .col("grid_code")
                .col("status")
                .col("id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("evidence_signing_keys")
                .if_not_exists()
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .col(ColumnDef::new("secret").string().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .if_not_exists()
                .col(ColumnDef::new("principal").string().not_null())
                .col(ColumnDef::new("key").string().not_null())
                .col(ColumnDef::new("request_hash").string().not_null())
                .col(ColumnDef::new("status").small_integer().not_null())
                .col(ColumnDef::new("body").text().not_null())
                .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                .primary_key(Index::create().col("principal").col("key"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["idempotency_keys", "evidence_signing_keys", "verification_tasks", "declarations", "residents", "houses", "grids"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
