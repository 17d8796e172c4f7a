//! Jurisdiction imports, grid workers (with history), house life cycle, census rounds, classification rules.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The house's whole life. One column per ALTER: SQLite takes one change at a time.
        let columns = [
            // Illegal buildings get a code too (一户一码 covers them all).
            ColumnDef::new("legal")
                .boolean()
                .not_null()
                .default(true)
                .to_owned(),
            // `residential`, `commercial`, `mixed`, `industrial`, `public`, …
            ColumnDef::new("category")
                .string_len(32)
                .not_null()
                .default("residential")
                .to_owned(),
            // The classification (分类分级分色) the current rules gave it.
            ColumnDef::new("class_level")
                .string_len(16)
                .null()
                .to_owned(),
            ColumnDef::new("colour").string_len(16).null().to_owned(),
            ColumnDef::new("classified_by_rules")
                .big_integer()
                .null()
                .to_owned(),
            // The landlord, reminded to declare tenants when the house is rented (personal data:
            // shown per the masking policy).
            ColumnDef::new("landlord_name").string().null().to_owned(),
            ColumnDef::new("landlord_phone")
                .string_len(11)
                .null()
                .to_owned(),
            ColumnDef::new("version")
                .big_integer()
                .not_null()
                .default(1)
                .to_owned(),
            ColumnDef::new("last_seen_at")
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new("not_seen")
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new("updated_at")
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ];
        // A grid's centre, for placing a report made by coordinates (Open311 lat/long).
        for mut col in [
            ColumnDef::new("lat").double().null().to_owned(),
            ColumnDef::new("lng").double().null().to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table("grids")
                    .add_column_if_not_exists(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        for mut col in columns {
            m.alter_table(
                Table::alter()
                    .table("houses")
                    .add_column_if_not_exists(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("houses_grid")
                .table("houses")
                .col("grid_code")
                .col("code")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // Streets and communities (grids stay in `grids`): what an import created or updated.
        m.create_table(
            Table::create()
                .table("jurisdictions")
                .if_not_exists()
                .col(
                    ColumnDef::new("code")
                        .string_len(15)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("level").string_len(16).not_null())
                .col(ColumnDef::new("name").string().not_null())
                .col(ColumnDef::new("parent_code").string_len(15).not_null())
                .col(ColumnDef::new("lat").double().null())
                .col(ColumnDef::new("lng").double().null())
                .col(
                    ColumnDef::new("updated_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // One worker per grid (一格一员); ended assignments stay as the history.
        m.create_table(
            Table::create()
                .table("grid_workers")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("worker").string().not_null())
                .col(ColumnDef::new("worker_name").string().null())
                .col(
                    ColumnDef::new("assigned_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new("ended_at").timestamp_with_time_zone().null())
                .col(ColumnDef::new("assigned_by").string().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("grid_workers_grid")
                .table("grid_workers")
                .col("grid_code")
                .col("assigned_at")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // Census rounds: a grid worker walks his grid; what he did not see is marked not seen.
        m.create_table(
            Table::create()
                .table("census_rounds")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(
                    ColumnDef::new("opened_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new("opened_by").string().not_null())
                .col(
                    ColumnDef::new("closed_at")
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new("closed_by").string().null())
                .col(ColumnDef::new("not_seen").json().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("census_rounds_grid")
                .table("census_rounds")
                .col("grid_code")
                .col("opened_at")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
