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
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
