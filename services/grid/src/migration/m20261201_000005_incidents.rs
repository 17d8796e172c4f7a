//! Incidents and their escalations: `incidents` (the current state) and `incident_steps` (every
//! step of its life, each tied to its evidence record).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn ts(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("incidents")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("category").string_len(32).not_null())
                .col(ColumnDef::new("description").text().not_null())
                .col(ColumnDef::new("grid_code").string_len(15).not_null())
                .col(ColumnDef::new("house_code").string_len(20).null())
                .col(ColumnDef::new("lat").double().null())
                .col(ColumnDef::new("lng").double().null())
                .col(ColumnDef::new("address").string().null())
                .col(ColumnDef::new("media_url").string().null())
                // Personal data (Open311 email, names, phone): shown only to the handlers of
                // the incident, never in lists, events or logs.
                .col(ColumnDef::new("contact").json().null())
                .col(ColumnDef::new("reporter_kind").string_len(16).not_null())
                .col(ColumnDef::new("reporter").string().not_null())
                .col(ColumnDef::new("level").string_len(16).not_null())
                .col(ColumnDef::new("status").string_len(16).not_null())
                .col(ColumnDef::new("assignee").string().null())
                .col(ts("deadline"))
                // Hours each level has, fixed when the incident was reported.
                .col(ColumnDef::new("deadline_hours").integer().not_null())
                .col(
                    ColumnDef::new("overdue")
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(ColumnDef::new("resolution").text().null())
                .col(ColumnDef::new("resolved_by").string().null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("incidents_grid", &["grid_code", "id"][..]),
            ("incidents_reporter", &["reporter", "id"][..]),
            ("incidents_status_deadline", &["status", "deadline"][..]),
        ] {
            let mut idx = Index::create();
            idx.name(name).table("incidents").if_not_exists();
            for c in cols {
                idx.col(*c);
            }
            m.create_index(idx.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table("incident_steps")
                .if_not_exists()
                .col(ColumnDef::new("id").uuid().not_null().primary_key())
                .col(ColumnDef::new("incident_id").uuid().not_null())
                .col(ColumnDef::new("step").string_len(16).not_null())
                .col(ColumnDef::new("from_status").string_len(16).null())
                .col(ColumnDef::new("to_status").string_len(16).not_null())
                .col(ColumnDef::new("level").string_len(16).not_null())
                .col(ColumnDef::new("actor").string().not_null())
                .col(ColumnDef::new("note").text().null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(ColumnDef::new("evidence_seq").big_integer().not_null())
                .col(ts("at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("incident_steps_incident")
                .table("incident_steps")
                .col("incident_id")
                .col("version")
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["incident_steps", "incidents"] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
