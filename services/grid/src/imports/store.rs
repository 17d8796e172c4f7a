//! Where an accepted chunk's new records are written: the one step of an import that differs by
//! database. Everything else (reading and checking the rows, the classification and collection
//! rules, the evidence, the events, the report) is the same code for both.
//!
//! - PostgreSQL ([`Store::Staged`]): the chunk's rows are staged by the COPY protocol, on a
//!   connection of a small pool of its own beside the chunk's transaction (sea-orm gives no access
//!   to a transaction's own connection; see `Grid::import_staging` for why not the service's
//!   pool), into an unlogged staging table under a batch id of their own (migration
//!   `m20261208_000009_import_staging`). Then one statement of the chunk's
//!   transaction writes them: the records not there yet (`INSERT … SELECT … ON CONFLICT DO
//!   NOTHING RETURNING`, which finds what exists through the unique index, however big the table)
//!   and, for exactly those, their residence and life events, in data-modifying `WITH` clauses.
//!   Staged rows are scratch, deleted once that statement has read them, whatever becomes of the
//!   transaction: the grid's tables change only in the chunk's transaction, so a chunk stays
//!   whole or nothing. Rows a delete missed (the database went away) are deleted by a later
//!   staging once they are an hour old.
//! - SQLite ([`Store::Batched`], `zhiwang up`): which keys exist is looked up, and the new rows
//!   are inserted in multi-row INSERTs.
//!
//! Either way a record is written with its life event or not at all, and what was written is
//! answered by key, so that the caller runs the rules on exactly the new records.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx::PgPool;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    IntoActiveModel, Set, Statement,
};
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
#[derive(Debug, Clone)]
pub(super) enum Store {
    /// PostgreSQL: staged by COPY through the pool, then written set-based.
    Staged(PgPool),
    Batched,
}

/// Connections the staging pool keeps at most: a COPY holds one for a moment.
const STAGING_CONNECTIONS: u32 = 2;

/// On PostgreSQL, the pool chunks are staged on ([`crate::state::Grid::import_staging`]): the same
/// database as `db`, connected on first use.
pub fn staging_pool(db: &DatabaseConnection) -> Option<PgPool> {
    (db.get_database_backend() == DbBackend::Postgres).then(|| {
        let options = db.get_postgres_connection_pool().connect_options();
        sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(STAGING_CONNECTIONS)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect_lazy_with((*options).clone())
    })
}

impl Store {
    pub fn of(grid: &crate::state::Grid) -> Store {
        match &grid.import_staging {
            Some(pool) => Store::Staged(pool.clone()),
            None => Store::Batched,
        }
    }

    /// Write the houses not there yet, each with its life event; the codes written.
    pub async fn houses(
        &self,
        txn: &DatabaseTransaction,
        houses: &[house::Model],
        imported: &Imported<'_>,
    ) -> Result<HashSet<String>, ApiError> {
        match self {
            Store::Staged(pool) => staged_houses(pool, txn, houses, imported).await,
            Store::Batched => batched_houses(txn, houses, imported).await,
        }
    }

    /// Write the people not recorded yet, each with his residence and life event; the ID
    /// numbers written.
    pub async fn residents(
        &self,
        txn: &DatabaseTransaction,
        people: &[NewPerson],
        imported: &Imported<'_>,
    ) -> Result<HashSet<String>, ApiError> {
        match self {
            Store::Staged(pool) => staged_residents(pool, txn, people, imported).await,
            Store::Batched => batched_residents(txn, people, imported).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: staged, then written set-based

/// The columns a chunk of houses is staged with, in the order of its COPY rows.
const HOUSE_COLUMNS: &str = "batch, code, grid_code, address, status, registered_size, legal, \
     category, class_level, colour, classified_by_rules, event_id";

/// The new houses of the staged batch and their life events; answers the codes written. `$1`
/// the time, `$2` the actor, `$3` the import id, `$4` the evidence record, `$5` the batch.
const WRITE_HOUSES: &str = "\
WITH s AS (
    SELECT * FROM import_staging_houses WHERE batch = $5
), new AS (
    INSERT INTO houses (code, grid_code, address, status, registered_size, legal, category,
                        class_level, colour, classified_by_rules, version, not_seen, updated_at)
    SELECT code, grid_code, address, status, registered_size, legal, category,
           class_level, colour, classified_by_rules, 1, false, $1
    FROM s
    ON CONFLICT (code) DO NOTHING
    RETURNING code
), events AS (
    INSERT INTO life_events (id, subject_kind, subject_key, change, state, house_code, grid_code,
                             version, source_kind, source_actor, source_ref, details,
                             evidence_seq, occurred_at)
    SELECT s.event_id, 'house', s.code, 'imported', s.status, s.code, s.grid_code,
           1, 'import', $2, $3, '{}'::json, $4, $1
    FROM s JOIN new ON new.code = s.code
)
SELECT code FROM new";

/// The columns a chunk of residents is staged with.
const RESIDENT_COLUMNS: &str =
    "batch, person_id, id_number, name, birth_date, phone, house_code, grid_code, event_id";

/// The new people of the staged batch, their residence and their life events; answers the ID
/// numbers written. Parameters as for [`WRITE_HOUSES`].
const WRITE_RESIDENTS: &str = "\
WITH s AS (
    SELECT * FROM import_staging_residents WHERE batch = $5
), new AS (
    INSERT INTO persons (id, id_number, name, birth_date, phone, status, grid_code, version,
                         created_at, updated_at)
    SELECT person_id, id_number, name, birth_date, phone, 'alive', grid_code, 1, $1, $1
    FROM s
    ON CONFLICT (id_number) DO NOTHING
    RETURNING id_number
), lives AS (
    INSERT INTO residents (id_number, name, house_code, grid_code, declaration_id, since)
    SELECT s.id_number, s.name, s.house_code, s.grid_code, NULL, $1
    FROM s JOIN new ON new.id_number = s.id_number
), events AS (
    INSERT INTO life_events (id, subject_kind, subject_key, change, state, house_code, grid_code,
                             version, source_kind, source_actor, source_ref, details,
                             evidence_seq, occurred_at)
    SELECT s.event_id, 'person', s.person_id::text, 'imported', 'alive', s.house_code,
           s.grid_code, 1, 'import', $2, $3, '{}'::json, $4, $1
    FROM s JOIN new ON new.id_number = s.id_number
)
SELECT id_number FROM new";

/// Staged rows older than this belong to no running chunk (one takes seconds): a chunk that
/// failed left them, and the next staging deletes them.
const STALE_STAGING: &str = "1 hour";

/// One staged row in COPY's text format: fields separated by tabs, `\N` for NULL, and the
/// format's escapes for backslash, tab, newline and carriage return.
#[derive(Default)]
struct CopyRows {
    text: String,
    in_row: bool,
}

impl CopyRows {
    fn field(&mut self, value: Option<&str>) -> &mut Self {
        if self.in_row {
            self.text.push('\t');
        }
        self.in_row = true;
        match value {
            None => self.text.push_str("\\N"),
            Some(v) => {
                for c in v.chars() {
                    match c {
                        '\\' => self.text.push_str("\\\\"),
                        '\t' => self.text.push_str("\\t"),
                        '\n' => self.text.push_str("\\n"),
                        '\r' => self.text.push_str("\\r"),
                        c => self.text.push(c),
                    }
                }
            }
        }
        self
    }

    /// A value whose text needs no escape (a number, a date, a UUID), written as it shows.
    fn shown(&mut self, value: impl std::fmt::Display) -> &mut Self {
        if self.in_row {
            self.text.push('\t');
        }
        self.in_row = true;
        let _ = write!(self.text, "{value}");
        self
    }

    fn end_row(&mut self) {
        self.text.push('\n');
        self.in_row = false;
    }
}

/// Where one kind of record is staged and how it is written from there.
struct Staging {
    table: &'static str,
    columns: &'static str,
    write: &'static str,
    /// The column `write` answers the keys written in.
    key: &'static str,
}

const HOUSES: Staging = Staging {
    table: "import_staging_houses",
    columns: HOUSE_COLUMNS,
    write: WRITE_HOUSES,
    key: "code",
};

const RESIDENTS: Staging = Staging {
    table: "import_staging_residents",
    columns: RESIDENT_COLUMNS,
    write: WRITE_RESIDENTS,
    key: "id_number",
};

/// Stage `rows` (of `batch`) and write them in `txn`; the staged rows are deleted once the write
/// has read them, whatever its outcome. The keys written.
async fn stage_and_write(
    pool: &PgPool,
    txn: &DatabaseTransaction,
    staging: &Staging,
    batch: Uuid,
    rows: CopyRows,
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    stage(pool, staging.table, staging.columns, rows).await?;
    let written = write_staged(txn, staging.write, staging.key, imported, batch).await;
    unstage(pool, staging.table, batch).await;
    written
}

/// COPY `rows` into the staging table `table` on a connection of `pool`, after deleting stale
/// rows there; a database error as the import's error.
async fn stage(pool: &PgPool, table: &str, columns: &str, rows: CopyRows) -> Result<(), ApiError> {
    let copy = async {
        let mut conn = pool.acquire().await?;
        sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE staged_at < now() - interval '{STALE_STAGING}'"
        )))
        .execute(&mut *conn)
        .await?;
        let mut copy = conn
            .copy_in_raw(&format!(
                "COPY {table} ({columns}) FROM STDIN (FORMAT text)"
            ))
            .await?;
        if let Err(e) = copy.send(rows.text.into_bytes()).await {
            let _ = copy.abort(e.to_string()).await;
            return Err(e);
        }
        copy.finish().await
    };
    // As the chunk's other statements' errors are: the same mapping (busy, down, unexpected).
    copy.await.map(|_| ()).map_err(|e| {
        ApiError::from(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
            std::sync::Arc::new(e),
        )))
    })
}

/// Delete the staged rows of `batch` (read by then), on a connection of `pool`; a failure is
/// only logged, since the next staging deletes what is left once stale.
async fn unstage(pool: &PgPool, table: &str, batch: Uuid) {
    let delete = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE batch = $1"
    )))
    .bind(batch)
    .execute(pool)
    .await;
    if let Err(e) = delete {
        tracing::warn!(table, error = %e, "could not delete a chunk's staged rows; a later import will");
    }
}

/// Run `sql` (one of the writes above) for `imported` on the staged `batch`; the keys it answers.
async fn write_staged(
    txn: &DatabaseTransaction,
    sql: &str,
    key: &str,
    imported: &Imported<'_>,
    batch: Uuid,
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
                batch.into(),
            ],
        ))
        .await
        .map_err(concurrent_import)?;
    rows.iter()
        .map(|row| row.try_get::<String>("", key).map_err(ApiError::from))
        .collect()
}

async fn staged_houses(
    pool: &PgPool,
    txn: &DatabaseTransaction,
    houses: &[house::Model],
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    let batch = Uuid::now_v7();
    let mut rows = CopyRows::default();
    for h in houses {
        rows.shown(batch)
            .field(Some(&h.code))
            .field(Some(&h.grid_code))
            .field(Some(&h.address))
            .field(Some(&h.status))
            .shown(h.registered_size)
            .field(Some(if h.legal { "t" } else { "f" }))
            .field(Some(&h.category))
            .field(h.class_level.as_deref())
            .field(h.colour.as_deref())
            .field(h.classified_by_rules.map(|v| v.to_string()).as_deref())
            .shown(Uuid::now_v7())
            .end_row();
    }
    stage_and_write(pool, txn, &HOUSES, batch, rows, imported).await
}

async fn staged_residents(
    pool: &PgPool,
    txn: &DatabaseTransaction,
    people: &[NewPerson],
    imported: &Imported<'_>,
) -> Result<HashSet<String>, ApiError> {
    let batch = Uuid::now_v7();
    let mut rows = CopyRows::default();
    for p in people {
        rows.shown(batch)
            .shown(p.person_id)
            .field(Some(p.id_number.as_str()))
            .field(p.name.as_deref())
            .shown(p.id_number.birth_date())
            .field(p.phone.as_ref().map(Phone::as_str))
            .field(Some(p.house.as_str()))
            .field(Some(&p.grid_code))
            .shown(p.event_id)
            .end_row();
    }
    stage_and_write(pool, txn, &RESIDENTS, batch, rows, imported).await
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

#[cfg(test)]
mod tests {
    use super::CopyRows;

    #[test]
    fn copy_rows_escape_what_the_text_format_gives_a_meaning() {
        let mut rows = CopyRows::default();
        rows.field(Some("a\tb"))
            .field(None)
            .field(Some("line\nnext\r"))
            .field(Some(r"back\slash \N"))
            .end_row();
        rows.shown(7).end_row();
        assert_eq!(
            rows.text,
            "a\\tb\t\\N\tline\\nnext\\r\tback\\\\slash \\\\N\n7\n"
        );
    }
}
