//! Persons, legal entities and the masking policy / unmasking log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A person, from birth (or first record) to death. Where he lives now is `residents`
        // (one row while he lives somewhere); his life is in `life_events`.
        m.create_table(
            Table::create()
                .table("persons")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(
                    ColumnDef::new("id_number")
                        .string_len(18)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new("name").string().null())
                .col(ColumnDef::new("birth_date").date().not_null())
                .col(ColumnDef::new("phone").string_len(11).null())
                // `alive` or `dead`.
                .col(ColumnDef::new("status").string_len(8).not_null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new("updated_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("persons_grid")
                .table("persons")
                .col("grid_code")
                .col("id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // A legal entity, from registration to deregistration.
        m.create_table(
            Table::create()
                .table("legal_entities")
                .if_not_exists()
                .col(
                    ColumnDef::new("credit_code")
                        .string_len(18)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("name").string().not_null())
                .col(ColumnDef::new("representative").string().null())
                .col(ColumnDef::new("phone").string_len(11).null())
                .col(ColumnDef::new("house_code").string_len(20).null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                // `registered` or `deregistered`.
                .col(ColumnDef::new("status").string_len(16).not_null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new("updated_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("legal_entities_grid")
                .table("legal_entities")
                .col("grid_code")
                .col("credit_code")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // The masking policy, one row per version (the newest applies); seeded on first use.
        m.create_table(
            Table::create()
                .table("masking_policies")
                .if_not_exists()
                .col(
                    ColumnDef::new("version")
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new("document").json().not_null())
                .col(ColumnDef::new("created_by").string().not_null())
                .col(
                    ColumnDef::new("created_at")
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // Every unmasking of a person's fields: who, in which role, which fields, why; the
        // citizen reads these about himself.
        m.create_table(
            Table::create()
                .table("disclosures")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("person_id").uuid().not_null())
                .col(ColumnDef::new("actor").string().not_null())
                .col(ColumnDef::new("role").string_len(32).not_null())
                .col(ColumnDef::new("fields").json().not_null())
                .col(ColumnDef::new("purpose").string_len(500).not_null())
                .col(ColumnDef::new("evidence_seq").big_integer().not_null())
                .col(ColumnDef::new("at").timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("disclosures_person")
                .table("disclosures")
                .col("person_id")
                .col("id")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // A house's timeline includes the people and entities moving in and out of it.
        m.create_index(
            Index::create()
                .name("life_events_house")
                .table("life_events")
                .col("house_code")
                .col("evidence_seq")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "disclosures",
            "masking_policies",
            "legal_entities",
            "persons",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
