//! Where an accepted chunk's new records are written: the one step of an import that differs by
//! database. Everything else (reading and checking the rows, the classification and collection
//! rules, the evidence, the events, the report) is the same code for both.
//!
//! - PostgreSQL ([`Store::Staged`]): the chunk's rows go into a temporary table of the chunk's
//!   transaction in one statement (the rows as one JSON parameter, read by `json_to_recordset`),
//!   and one statement writes them: the records not there yet (`INSERT … SELECT … ON CONFLICT DO
//!   NOTHING RETURNING`, which finds what exists through the unique index, however big the table)
//!   and, for exactly those, their residence and life events, in data-modifying `WITH` clauses.
//!   A few statements per chunk in all, whatever its size.
//! - SQLite ([`Store::Batched`], `zhiwang up`): which keys exist is looked up, and the new rows
//!   are inserted in multi-row INSERTs.
//!
//! Either way a record is written with its life event or not at all, and what was written is
//! answered by key, so that the caller runs the rules on exactly the new records.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel, Set, Statement,
};
use serde::Serialize;
use uuid::Uuid;
use zw_domain::{HouseCode, IdNumber, Phone};

use super::{ROWS_PER_STATEMENT, concurrent_import, existing_keys};
use crate::error::ApiError;
use crate::ledger::{SubjectKind, life_event};
use crate::model::{house, person, resident};

/// A resident of an accepted chunk, with the ids his person record and its life event get if he
/// is new.
pub(super) struct NewPerson {
    pub id_number: IdNumber,
    pub house: HouseCode,
    pub grid_code: String,
    pub phone: Option<Phone>,
    pub name: Option<String>,
    pub person_id: Uuid,
    pub event_id: Uuid,
}

/// The import the new records' life events name: who imported, the import's id, its evidence
/// record and its time.
pub(super) struct Imported<'a> {
    pub actor: &'a str,
    pub import_id: Uuid,
    pub evidence_seq: i64,
    pub at: DateTime<Utc>,
}

/// How a database takes a chunk (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Store {
    Staged,
    Batched,
}

impl Store {
    pub fn of(conn: &impl ConnectionTrait) -> Store {
        match conn.get_database_backend() {
            DbBackend::Postgres => Store::Staged,
            _ => Store::Batched,
        }
    }

    /// Write the houses not there yet, each with its life event; the codes written.
    pub async fn houses(
        self,
        txn: &DatabaseTransaction,
        houses: &[house::Model],
        imported: &Imported<'_>,
    ) -> Result<HashSet<String>, ApiError> {
        match self {
            Store::Staged => staged_houses(txn, houses, imported).await,
            Store::Batched => batched_houses(txn, houses, imported).await,
        }
    }

    /// Write the people not recorded yet, each with his residence and life event; the ID
    /// numbers written.
    pub async fn residents(
        self,
        txn: &DatabaseTransaction,
        people: &[NewPerson],
        imported: &Imported<'_>,
    ) -> Result<HashSet<String>, ApiError> {
        match self {
            Store::Staged => staged_residents(txn, people, imported).await,
            Store::Batched => batched_residents(txn, people, imported).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: staged, then written set-based

/// The columns of the houses staging table, as the table and as `json_to_recordset` reads them.
const HOUSE_COLUMNS: &str = "code text, grid_code text, address text, status text, \
     registered_size integer, legal boolean, category text, class_level text, colour text, \
     classified_by_rules bigint, event_id uuid";

/// The new houses of the staged chunk and their life events; answers the codes written.
/// `$1` the time, `$2` the actor, `$3` the import id, `$4` the evidence record.
const WRITE_HOUSES: &str = "\
WITH new AS (
    INSERT INTO houses (code, grid_code, address, status, registered_size, legal, category,
                        class_level, colour, classified_by_rules, version, not_seen, updated_at)
    SELECT code, grid_code, address, status, registered_size, legal, category,
           class_level, colour, classified_by_rules, 1, false, $1
    FROM import_houses
    ON CONFLICT (code) DO NOTHING
    RETURNING code
), events AS (
    INSERT INTO life_events (id, subject_kind, subject_key, change, state, house_code, grid_code,
                             version, source_kind, source_actor, source_ref, details,
                             evidence_seq, occurred_at)
    SELECT s.event_id, 'house', s.code, 'imported', s.status, s.code, s.grid_code,
           1, 'import', $2, $3, '{}'::json, $4, $1
    FROM import_houses s JOIN new ON new.code = s.code
)
SELECT code FROM new";

/// The columns of the residents staging table.
const RESIDENT_COLUMNS: &str = "person_id uuid, id_number text, name text, birth_date date, \
     phone text, house_code text, grid_code text, event_id uuid";

/// The new people of the staged chunk, their residence and their life events; answers the ID
/// numbers written. Parameters as for [`WRITE_HOUSES`].
const WRITE_RESIDENTS: &str = "\
WITH new AS (
    INSERT INTO persons (id, id_number, name, birth_date, phone, status, grid_code, version,
                         created_at, updated_at)
    SELECT person_id, id_number, name, birth_date, phone, 'alive', grid_code, 1, $1, $1
    FROM import_residents
    ON CONFLICT (id_number) DO NOTHING
    RETURNING id_number
), lives AS (
    INSERT INTO residents (id_number, name, house_code, grid_code, declaration_id, since)
    SELECT s.id_number, s.name, s.house_code, s.grid_code, NULL, $1
    FROM import_residents s JOIN new ON new.id_number = s.id_number
), events AS (
    INSERT INTO life_events (id, subject_kind, subject_key, change, state, house_code, grid_code,
                             version, source_kind, source_actor, source_ref, details,
                             evidence_seq, occurred_at)
    SELECT s.event_id, 'person', s.person_id::text, 'imported', 'alive', s.house_code,
           s.grid_code, 1, 'import', $2, $3, '{}'::json, $4, $1
    FROM import_residents s JOIN new ON new.id_number = s.id_number
)
SELECT id_number FROM new";

/// Stage `rows` in the temporary table `table` (dropped when the transaction ends, committed or
/// not): one statement carrying them all.
async fn stage<T: Serialize>(
    txn: &DatabaseTransaction,
    table: &str,
    columns: &str,
    rows: &[T],
) -> Result<(), ApiError> {
    txn.execute_unprepared(&format!(
        "CREATE TEMPORARY TABLE {table} ({columns}) ON COMMIT DROP"
    ))
    .await?;
    let json = serde_json::to_string(rows).map_err(anyhow::Error::from)?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("INSERT INTO {table} SELECT * FROM json_to_recordset($1::json) AS r({columns})"),
        [json.into()],
    ))
    .await?;
    Ok(())
}

/// Run `sql` (one of the writes above) for `imported`; the keys it answers.
async fn write_staged(
    txn: &DatabaseTransaction,
    sql: &str,
    key: &str,
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                imported.at.into(),
                imported.actor.into(),
                imported.import_id.to_string().into(),
                imported.evidence_seq.into(),
            ],
        ))
        .await
        .map_err(concurrent_import)?;
    rows.iter()
        .map(|row| row.try_get::<String>("", key).map_err(ApiError::from))
        .collect()
}

async fn staged_houses(
    txn: &DatabaseTransaction,
    houses: &[house::Model],
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    #[derive(Serialize)]
    struct Row<'a> {
        code: &'a str,
        grid_code: &'a str,
        address: &'a str,
        status: &'a str,
        registered_size: i32,
        legal: bool,
        category: &'a str,
        class_level: Option<&'a str>,
        colour: Option<&'a str>,
        classified_by_rules: Option<i64>,
        event_id: Uuid,
    }
    let rows: Vec<Row> = houses
        .iter()
        .map(|h| Row {
            code: &h.code,
            grid_code: &h.grid_code,
            address: &h.address,
            status: &h.status,
            registered_size: h.registered_size,
            legal: h.legal,
            category: &h.category,
            class_level: h.class_level.as_deref(),
            colour: h.colour.as_deref(),
            classified_by_rules: h.classified_by_rules,
            event_id: Uuid::now_v7(),
        })
        .collect();
    stage(txn, "import_houses", HOUSE_COLUMNS, &rows).await?;
    write_staged(txn, WRITE_HOUSES, "code", imported).await
}

async fn staged_residents(
    txn: &DatabaseTransaction,
    people: &[NewPerson],
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    #[derive(Serialize)]
    struct Row<'a> {
        person_id: Uuid,
        id_number: &'a str,
        name: Option<&'a str>,
        birth_date: chrono::NaiveDate,
        phone: Option<&'a str>,
        house_code: &'a str,
        grid_code: &'a str,
        event_id: Uuid,
    }
    let rows: Vec<Row> = people
        .iter()
        .map(|p| Row {
            person_id: p.person_id,
            id_number: p.id_number.as_str(),
            name: p.name.as_deref(),
            birth_date: p.id_number.birth_date(),
            phone: p.phone.as_ref().map(Phone::as_str),
            house_code: p.house.as_str(),
            grid_code: &p.grid_code,
            event_id: p.event_id,
        })
        .collect();
    stage(txn, "import_residents", RESIDENT_COLUMNS, &rows).await?;
    write_staged(txn, WRITE_RESIDENTS, "id_number", imported).await
}

// ---------------------------------------------------------------------------------------------
// SQLite: looked up, then inserted in batches

async fn batched_houses(
    txn: &DatabaseTransaction,
    houses: &[house::Model],
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    let existing = existing_keys::<house::Entity>(
        txn,
        house::Column::Code,
        houses.iter().map(|h| h.code.clone()).collect(),
    )
    .await?;
    let new: Vec<&house::Model> = houses
        .iter()
        .filter(|h| !existing.contains(&h.code))
        .collect();
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        house::Entity::insert_many(chunk.iter().map(|h| (*h).clone().into_active_model()))
            .on_conflict(
                OnConflict::column(house::Column::Code)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    let events: Vec<life_event::ActiveModel> = new
        .iter()
        .map(|h| {
            event(
                SubjectKind::House,
                &h.code,
                &h.status,
                &h.code,
                &h.grid_code,
                Uuid::now_v7(),
                imported,
            )
        })
        .collect();
    insert_events(txn, events).await?;
    Ok(new.into_iter().map(|h| h.code.clone()).collect())
}

async fn batched_residents(
    txn: &DatabaseTransaction,
    people: &[NewPerson],
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    let existing = existing_keys::<person::Entity>(
        txn,
        person::Column::IdNumber,
        people.iter().map(|p| p.id_number.to_string()).collect(),
    )
    .await?;
    let new: Vec<&NewPerson> = people
        .iter()
        .filter(|p| !existing.contains(p.id_number.as_str()))
        .collect();
    let at = imported.at;
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        person::Entity::insert_many(chunk.iter().map(|p| person::ActiveModel {
            id: Set(p.person_id),
            id_number: Set(p.id_number.to_string()),
            name: Set(p.name.clone()),
            birth_date: Set(p.id_number.birth_date()),
            phone: Set(p.phone.as_ref().map(|p| p.to_string())),
            status: Set("alive".into()),
            grid_code: Set(p.grid_code.clone()),
            version: Set(1),
            created_at: Set(at),
            updated_at: Set(at),
        }))
        .exec_without_returning(txn)
        .await
        .map_err(concurrent_import)?;
        resident::Entity::insert_many(chunk.iter().map(|p| resident::ActiveModel {
            id_number: Set(p.id_number.to_string()),
            name: Set(p.name.clone()),
            house_code: Set(p.house.to_string()),
            grid_code: Set(p.grid_code.clone()),
            declaration_id: Set(None),
            since: Set(at),
        }))
        .exec_without_returning(txn)
        .await
        .map_err(concurrent_import)?;
    }
    let events: Vec<life_event::ActiveModel> = new
        .iter()
        .map(|p| {
            event(
                SubjectKind::Person,
                &p.person_id.to_string(),
                "alive",
                p.house.as_str(),
                &p.grid_code,
                p.event_id,
                imported,
            )
        })
        .collect();
    insert_events(txn, events).await?;
    Ok(new.into_iter().map(|p| p.id_number.to_string()).collect())
}

/// The life event of an imported record (change `imported`, version 1, source `import` with the
/// import's id).
fn event(
    kind: SubjectKind,
    key: &str,
    state: &str,
    house_code: &str,
    grid_code: &str,
    id: Uuid,
    imported: &Imported<'_>,
) -> life_event::ActiveModel {
    life_event::ActiveModel {
        id: Set(id),
        subject_kind: Set(kind.as_str().into()),
        subject_key: Set(key.into()),
        change: Set("imported".into()),
        state: Set(state.into()),
        house_code: Set(Some(house_code.into())),
        grid_code: Set(grid_code.into()),
        version: Set(1),
        source_kind: Set("import".into()),
        source_actor: Set(imported.actor.into()),
        source_ref: Set(Some(imported.import_id.to_string())),
        details: Set(serde_json::json!({})),
        evidence_seq: Set(imported.evidence_seq),
        occurred_at: Set(imported.at),
    }
}

async fn insert_events(
    txn: &DatabaseTransaction,
    events: Vec<life_event::ActiveModel>,
) -> Result<(), ApiError> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        life_event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
