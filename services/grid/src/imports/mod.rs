//! Bulk imports of houses and residents: the path a district's existing data takes in (the
//! initial load from the old systems, and a department's periodic file).
//!
//! The client sends CSV in chunks of up to [`MAX_ROWS`] rows (`POST /api/v1/grid/imports/houses`,
//! `…/imports/residents`). Each chunk is checked whole before anything is written: one bad row
//! and the chunk is refused (422 `bad-lines`), so a chunk is either all in or not at all. An
//! accepted chunk is one transaction: the rows, a life event for each new house or person
//! (source `import`, reference the import id), one evidence record for the chunk (the SHA-256 of
//! its bytes, which the life events point to) and an `imports` row. Rows already there are
//! counted as unchanged, so sending a chunk again changes nothing. How the new records are
//! written is the one step that differs by database ([`store`]: staged and set-based on
//! PostgreSQL, batched on SQLite).
//!
//! The rules apply to imported records as to collected ones, with one version of each rule set
//! per chunk: a new house is classified (level and colour) as it is written, and the collection
//! rules see each new resident with the change `imported` (the default rules raise an elderly
//! allowance case for a resident of 80 or more), the case, its evidence and its event in the
//! chunk's transaction.
//!
//! Otherwise imports write no per-row events to the bus: a district's initial load is millions
//! of rows, and the upper tiers count what happens from then on.

pub mod client;
mod store;

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_domain::{HouseCode, IdNumber, JurisdictionCode, Phone};
use zw_platform::Problem;

use crate::classification;
use crate::error::{ApiError, BadLine};
use crate::ledger::{Source, SubjectKind};
use crate::model::{grid, house, resident};
use crate::residence::{self, HouseFacts};
use crate::rules;
use crate::write::{Kept, Write};
pub(crate) use store::staging_pool;
use store::{Imported, NewPerson, Store};

/// Rows per request at most: big enough to load a district in minutes, small enough that one
/// chunk's transaction stays short.
pub const MAX_ROWS: usize = 20_000;
/// Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters per statement).
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;
/// Keys per `IN (…)` lookup (SQLite's variable limit is lower than PostgreSQL's).
const KEYS_PER_LOOKUP: usize = 500;

#[derive(OpenApi)]
#[openapi(
    paths(import_houses, import_residents),
    components(schemas(ImportReport, BadLine, Problem))
)]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let limit = zw_platform::problem::extractors::payload_config(64 << 20);
    cfg.service(
        web::resource("/api/v1/grid/imports/houses")
            .app_data(limit.clone())
            .route(web::post().to(import_houses)),
    )
    .service(
        web::resource("/api/v1/grid/imports/residents")
            .app_data(limit)
            .route(web::post().to(import_residents)),
    );
}

/// What an accepted chunk did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// The import's id (the reference in each new record's life event); absent when the chunk
    /// changed nothing.
    pub import_id: Option<Uuid>,
    /// `houses` or `residents`.
    pub kind: String,
    pub rows: u64,
    pub created: u64,
    /// Rows already there (same key): left as they are.
    pub unchanged: u64,
    /// The evidence record of the chunk.
    pub evidence_seq: Option<i64>,
    /// Cases the collection rules raised for the new records (e.g. an elderly allowance case
    /// for each resident of 80 or more).
    #[serde(default)]
    pub cases_raised: u64,
}

impl ImportReport {
    /// Every row of the chunk was already there.
    fn nothing_new(kind: &str, rows: u64) -> ImportReport {
        ImportReport {
            import_id: None,
            kind: kind.into(),
            rows,
            created: 0,
            unchanged: rows,
            evidence_seq: None,
            cases_raised: 0,
        }
    }

    /// 201 when the chunk imported something, 200 when every row was already there.
    fn answer(self) -> HttpResponse {
        match self.import_id {
            Some(_) => HttpResponse::Created().json(self),
            None => HttpResponse::Ok().json(self),
        }
    }
}

/// One row of `imports/houses`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HouseRow {
    code: String,
    address: String,
    status: String,
    registered_size: i32,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    legal: Option<bool>,
}

/// One row of `imports/residents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResidentRow {
    id_number: String,
    #[serde(default)]
    name: Option<String>,
    house_code: String,
    #[serde(default)]
    phone: Option<String>,
}

const HOUSE_STATUSES: [&str; 5] = ["planned", "built", "in_use", "rented", "demolished"];

/// Import houses. CSV with the header `code,address,status,registered_size[,category,legal]`;
/// a house's grid is in its code.
#[utoipa::path(
    post,
    path = "/api/v1/grid/imports/houses",
    request_body(content = String, content_type = "text/csv", description = "code,address,status,registered_size,category,legal"),
    responses(
        (status = 201, description = "Imported", body = ImportReport),
        (status = 200, description = "Every row was already there: nothing changed", body = ImportReport),
        (status = 400, description = "Not UTF-8 CSV, or a header without rows", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`bad-lines` (listed in `bad_lines`, the first 100; `bad_line_count`): nothing imported", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn import_houses(
    w: Write,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (grid, principal) = (w.grid(), &w.principal);
    authorize(principal)?;
    require_csv(&req)?;
    let rows: Vec<(u64, HouseRow)> = parse_csv(&body)?;
    let mut bad = Vec::new();
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(rows.len());
    for (line, r) in rows {
        let problem = match HouseCode::parse(r.code.trim()) {
            Err(e) => Some(format!("code: {e}")),
            Ok(code) if !principal.can_access(&code.origin_grid()) => {
                Some(format!("house {code} is outside your jurisdiction"))
            }
            Ok(code) if !seen.insert(code.to_string()) => {
                Some(format!("house {code} appears twice in this chunk"))
            }
            Ok(_) if !HOUSE_STATUSES.contains(&r.status.as_str()) => Some(format!(
                "status must be one of {}",
                HOUSE_STATUSES.join(", ")
            )),
            Ok(_) if !(0..=10_000).contains(&r.registered_size) => {
                Some("registered_size must be 0 to 10000".into())
            }
            Ok(_) if r.address.trim().is_empty() || r.address.chars().count() > 200 => {
                Some("address must be 1 to 200 characters".into())
            }
            Ok(code) => {
                parsed.push((code, r, line));
                None
            }
        };
        if let Some(problem) = problem {
            bad.push(BadLine::new(line, problem));
        }
    }
    // Every house's grid must exist.
    let grids: HashSet<String> = parsed
        .iter()
        .map(|(c, _, _)| c.origin_grid().to_string())
        .collect();
    let known =
        existing_keys::<grid::Entity>(&grid.db, grid::Column::Code, grids.into_iter().collect())
            .await?;
    let mut houses = Vec::with_capacity(parsed.len());
    for (code, r, line) in parsed {
        if known.contains(code.origin_grid().as_str()) {
            houses.push((code, r, line));
        } else {
            bad.push(BadLine::new(
                line,
                format!("grid {} of house {code} is not known", code.origin_grid()),
            ));
        }
    }
    ApiError::refuse_bad_lines(bad)?;

    let body_sha256 = hex::encode(Sha256::digest(&body));
    let total = houses.len() as u64;
    let report = w
        .run_or_discard(async |tx| {
            let (txn, principal) = (tx.txn, tx.principal);
            plan_lookups(txn).await?;
            let now = Utc::now();
            // Classified as they arrive, by the same rules as a house registered by hand (a new
            // house has no residents, declarations or incidents yet).
            let classes = rules::active(txn, zw_rules::Kind::Classification).await?;
            let models: Vec<house::Model> = houses
                .iter()
                .map(|(code, r, _)| {
                    let mut h = house::Model {
                        code: code.to_string(),
                        grid_code: code.origin_grid().to_string(),
                        address: r.address.trim().to_owned(),
                        status: r.status.clone(),
                        registered_size: r.registered_size,
                        legal: r.legal.unwrap_or(true),
                        category: r.category.clone().unwrap_or_else(|| "residential".into()),
                        class_level: None,
                        colour: None,
                        classified_by_rules: None,
                        landlord_name: None,
                        landlord_phone: None,
                        version: 1,
                        last_seen_at: None,
                        not_seen: false,
                        updated_at: Some(now),
                    };
                    if let Some(c) =
                        classes.classification(&classification::facts_with(&h, None, 0, 0, 0))
                    {
                        h.class_level = Some(c.level);
                        h.colour = Some(c.colour);
                        h.classified_by_rules = Some(c.rules_version);
                    }
                    h
                })
                .collect();
            let (import_id, seq) =
                begin_import(txn, principal, "houses", &body_sha256, total).await?;
            let imported = Imported {
                actor: &principal.subject,
                import_id,
                evidence_seq: seq,
                at: now,
            };
            let written = Store::of(grid).houses(txn, &models, &imported).await?;
            if written.is_empty() {
                return Ok(Kept::Discard(ImportReport::nothing_new("houses", total)));
            }
            let created = written.len() as u64;
            finish_import(txn, import_id, created, total - created).await?;
            Ok(Kept::Commit(ImportReport {
                import_id: Some(import_id),
                kind: "houses".into(),
                rows: total,
                created,
                unchanged: total - created,
                evidence_seq: Some(seq),
                cases_raised: 0,
            }))
        })
        .await?;
    Ok(report.answer())
}

/// Import residents: each row records a person (alive) living in a house that is in use.
/// CSV with the header `id_number,name,house_code[,phone]`.
#[utoipa::path(
    post,
    path = "/api/v1/grid/imports/residents",
    request_body(content = String, content_type = "text/csv", description = "id_number,name,house_code,phone"),
    responses(
        (status = 201, description = "Imported", body = ImportReport),
        (status = 200, description = "Every person was already recorded: nothing changed", body = ImportReport),
        (status = 400, description = "Not UTF-8 CSV, or a header without rows", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not text/csv", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`bad-lines` (listed in `bad_lines`, the first 100; `bad_line_count`): nothing imported", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn import_residents(
    w: Write,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let principal = &w.principal;
    authorize(principal)?;
    require_csv(&req)?;
    let store = Store::of(w.grid());
    let rows: Vec<(u64, ResidentRow)> = parse_csv(&body)?;
    let mut bad = Vec::new();
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(rows.len());
    for (line, r) in rows {
        let id = IdNumber::parse(r.id_number.trim());
        let code = HouseCode::parse(r.house_code.trim());
        let phone = r
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Phone::parse);
        let problem = match (id, code, phone) {
            (Err(e), _, _) => Some(format!("id_number: {e}")),
            (_, Err(e), _) => Some(format!("house_code: {e}")),
            (_, _, Some(Err(e))) => Some(format!("phone: {e}")),
            (Ok(id), Ok(_), _) if !seen.insert(id.to_string()) => {
                Some("this ID number appears twice in this chunk".into())
            }
            (Ok(_), Ok(_), _) if r.name.as_deref().is_some_and(|n| n.chars().count() > 100) => {
                Some("name must be at most 100 characters".into())
            }
            (Ok(id), Ok(code), phone) => {
                parsed.push((line, id, code, phone.and_then(Result::ok), r.name));
                None
            }
        };
        if let Some(problem) = problem {
            bad.push(BadLine::new(line, problem));
        }
    }
    // Every house must exist, be inside the caller's jurisdiction and be lived in.
    let codes: HashSet<String> = parsed.iter().map(|p| p.2.to_string()).collect();
    let body_sha256 = hex::encode(Sha256::digest(&body));
    let report = w
        .run_or_discard(async |tx| {
            let (txn, principal) = (tx.txn, tx.principal);
            plan_lookups(txn).await?;
            let houses = house_states(txn, codes.into_iter().collect()).await?;
            let mut people = Vec::with_capacity(parsed.len());
            for (line, id, code, phone, name) in parsed {
                let problem = match houses.get(code.as_str()) {
                    None => Some(format!("house {code} is not registered")),
                    Some(h) if !can_access(principal, &h.grid_code) => {
                        Some(format!("house {code} is outside your jurisdiction"))
                    }
                    Some(h) if !matches!(h.status.as_str(), "in_use" | "rented") => Some(format!(
                        "house {code} is {}: nobody can live there",
                        h.status
                    )),
                    Some(h) => {
                        people.push(NewPerson {
                            id_number: id,
                            house: code.clone(),
                            grid_code: h.grid_code.clone(),
                            phone,
                            name,
                            person_id: Uuid::now_v7(),
                            event_id: Uuid::now_v7(),
                        });
                        None
                    }
                };
                if let Some(problem) = problem {
                    bad.push(BadLine::new(line, problem));
                }
            }
            ApiError::refuse_bad_lines(bad)?;

            let total = people.len() as u64;
            let (import_id, seq) =
                begin_import(txn, principal, "residents", &body_sha256, total).await?;
            let imported = Imported {
                actor: &principal.subject,
                import_id,
                evidence_seq: seq,
                at: Utc::now(),
            };
            let written = store.residents(txn, &people, &imported).await?;
            if written.is_empty() {
                return Ok(Kept::Discard(ImportReport::nothing_new("residents", total)));
            }
            let new: Vec<NewPerson> = people
                .into_iter()
                .filter(|p| written.contains(p.id_number.as_str()))
                .collect();
            let cases_raised = run_rules(txn, principal, import_id, &new, &houses).await?;
            let created = new.len() as u64;
            finish_import(txn, import_id, created, total - created).await?;

            Ok(Kept::Commit(ImportReport {
                import_id: Some(import_id),
                kind: "residents".into(),
                rows: total,
                created,
                unchanged: total - created,
                evidence_seq: Some(seq),
                cases_raised,
            }))
        })
        .await?;
    Ok(report.answer())
}

/// District officers and administrators load data; street and community officers within
/// their jurisdiction (each row is checked against the caller's scope).
fn authorize(principal: &Principal) -> Result<(), ApiError> {
    principal.require_role(&[
        Role::DistrictOfficer,
        Role::StreetOfficer,
        Role::CommunityOfficer,
        Role::Admin,
    ])?;
    Ok(())
}

fn can_access(principal: &Principal, grid_code: &str) -> bool {
    JurisdictionCode::parse(grid_code).is_ok_and(|g| principal.can_access(&g))
}

fn require_csv(req: &HttpRequest) -> Result<(), ApiError> {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct.split(';').next().unwrap_or_default().trim() != "text/csv" {
        return Err(ApiError::UnsupportedMediaType(
            "send the rows as CSV with Content-Type: text/csv".into(),
        ));
    }
    Ok(())
}

/// The rows of a CSV body with the line each starts on (the header is line 1; blank lines and
/// the line breaks inside quoted values count, as in the file); a file with malformed rows is one
/// 422 naming them.
fn parse_csv<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<(u64, T)>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    // What `Reader::deserialize` does, record by record, to keep each record's own position; but
    // a header that does not read is refused, where `deserialize` would fall back to reading
    // the columns by position.
    let headers = reader.headers().cloned().map_err(|e| ApiError::BadLines {
        count: 1,
        listed: vec![BadLine::new(1, format!("the header: {}", csv_problem(&e)))],
    })?;
    let headers = Some(headers);
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut lines = Lines::new(body);
    for record in reader.records() {
        match record.and_then(|r| {
            let line = lines.start_of(r.position());
            r.deserialize::<T>(headers.as_ref()).map(|row| (line, row))
        }) {
            Ok(row) => rows.push(row),
            Err(e) => bad.push(BadLine::new(lines.start_of(e.position()), csv_problem(&e))),
        }
        if rows.len() + bad.len() > MAX_ROWS {
            return Err(ApiError::unprocessable(
                "too-many-rows",
                format!("send at most {MAX_ROWS} rows per request"),
            ));
        }
    }
    ApiError::refuse_bad_lines(bad)?;
    if rows.is_empty() {
        return Err(ApiError::InvalidInput(
            "the CSV has a header but no rows".into(),
        ));
    }
    Ok(rows)
}

/// The lines of a body, counted as the CSV reader breaks them (`\n`, `\r\n` or a lone `\r`),
/// from the start on: records come in order.
struct Lines<'a> {
    body: &'a [u8],
    /// Bytes before `at` are counted: `line` is the line of byte `at`.
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(body: &'a [u8]) -> Lines<'a> {
        Lines {
            body,
            at: 0,
            line: 1,
        }
    }

    /// The line a record starts on. The reader places a record where it began to read it: just
    /// after the line break that ended the record before, so before any blank lines (and, in a
    /// file with `\r\n`, between the two bytes of that break).
    fn start_of(&mut self, pos: Option<&csv::Position>) -> u64 {
        let Some(pos) = pos else {
            return 0;
        };
        let from = usize::try_from(pos.byte())
            .unwrap_or(usize::MAX)
            .min(self.body.len());
        let start = from
            + self.body[from..]
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
        if start < self.at {
            // Not in order (never, from one reader): count from the start.
            (self.at, self.line) = (0, 1);
        }
        for i in self.at..start {
            let lone_cr = self.body[i] == b'\r' && self.body.get(i + 1) != Some(&b'\n');
            if self.body[i] == b'\n' || lone_cr {
                self.line += 1;
            }
        }
        self.at = start;
        self.line
    }
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(f) => format!("column {}: {}", f + 1, err.kind()),
            None => err.kind().to_string(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "{len} fields where the header has {expected_len} (quote a value that holds a comma)"
        ),
        other => format!("{other:?}"),
    }
}

/// A concurrent import of the same people got there first: the client sends the chunk again.
fn concurrent_import(e: sea_orm::DbErr) -> ApiError {
    if zw_platform::db::is_unique_violation(&e, "") {
        ApiError::conflict(
            "concurrent-import",
            "another import recorded some of these people at the same moment; send the chunk again",
        )
    } else {
        e.into()
    }
}

/// Which of `keys` exist in `column` of `E`, looked up in slices that every database takes.
async fn existing_keys<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    column: E::Column,
    keys: Vec<String>,
) -> Result<HashSet<String>, ApiError> {
    let mut found = HashSet::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_LOOKUP) {
        let rows: Vec<String> = E::find()
            .filter(column.is_in(chunk.to_vec()))
            .select_only()
            .column(column)
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Plan the lookups of one chunk's transaction. On PostgreSQL they are planned for the values they
/// carry: a connection's cached generic plan for `code IN (…)`, made when the table was still
/// small or never analysed (a district's first load, or autovacuum off), is a sequential scan
/// that makes every chunk slower than the one before.
async fn plan_lookups(txn: &DatabaseTransaction) -> Result<(), ApiError> {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
            .await?;
    }
    Ok(())
}

/// What a residents import needs to know of a house.
struct HouseState {
    grid_code: String,
    status: String,
    registered_size: i32,
}

async fn house_states(
    conn: &impl ConnectionTrait,
    codes: Vec<String>,
) -> Result<HashMap<String, HouseState>, ApiError> {
    let mut found = HashMap::with_capacity(codes.len());
    for chunk in codes.chunks(KEYS_PER_LOOKUP) {
        let rows: Vec<(String, String, String, i32)> = house::Entity::find()
            .filter(house::Column::Code.is_in(chunk.to_vec()))
            .select_only()
            .column(house::Column::Code)
            .column(house::Column::GridCode)
            .column(house::Column::Status)
            .column(house::Column::RegisteredSize)
            .into_tuple()
            .all(conn)
            .await?;
        found.extend(
            rows.into_iter()
                .map(|(code, grid_code, status, registered_size)| {
                    (
                        code,
                        HouseState {
                            grid_code,
                            status,
                            registered_size,
                        },
                    )
                }),
        );
    }
    Ok(found)
}

/// Residents per house of `codes`, as `txn` sees them.
async fn residents_per_house(
    txn: &DatabaseTransaction,
    codes: Vec<String>,
) -> Result<HashMap<String, i64>, ApiError> {
    let mut counts = HashMap::with_capacity(codes.len());
    for chunk in codes.chunks(KEYS_PER_LOOKUP) {
        let rows: Vec<(String, i64)> = resident::Entity::find()
            .filter(resident::Column::HouseCode.is_in(chunk.to_vec()))
            .select_only()
            .column(resident::Column::HouseCode)
            .column_as(resident::Column::IdNumber.count(), "residents")
            .group_by(resident::Column::HouseCode)
            .into_tuple()
            .all(txn)
            .await?;
        counts.extend(rows);
    }
    Ok(counts)
}

/// The collection rules on each new resident (change `imported`, the facts a person's own
/// change gives them), with one version of the rules for the whole chunk. The cases raised.
async fn run_rules(
    txn: &DatabaseTransaction,
    principal: &Principal,
    import_id: Uuid,
    new: &[NewPerson],
    houses: &HashMap<String, HouseState>,
) -> Result<u64, ApiError> {
    let active = rules::active(txn, zw_rules::Kind::Collection).await?;
    let codes: HashSet<String> = new.iter().map(|p| p.house.to_string()).collect();
    let residents = residents_per_house(txn, codes.into_iter().collect()).await?;
    let source = Source {
        kind: "import".into(),
        actor: principal.subject.clone(),
        reference: Some(import_id.to_string()),
    };
    let today = Utc::now().date_naive();
    let mut subjects = Vec::with_capacity(new.len());
    let mut facts_of = Vec::with_capacity(new.len());
    for p in new {
        let (code, grid_code) = (&p.house, &p.grid_code);
        let Some(house) = houses.get(code.as_str()) else {
            continue;
        };
        let facts = residence::facts_with(
            residence::age_on(p.id_number.birth_date(), today),
            "alive",
            Some(HouseFacts {
                code: code.as_str(),
                residents: residents
                    .get(code.as_str())
                    .map_or(0, |&n| u64::try_from(n).unwrap_or(0)),
                registered_size: house.registered_size,
                status: &house.status,
            }),
        );
        let grid = JurisdictionCode::parse(grid_code)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code: {e}")))?;
        subjects.push((p.person_id.to_string(), grid));
        facts_of.push(facts);
    }
    let triggers: Vec<rules::Trigger> = subjects
        .iter()
        .zip(facts_of)
        .map(|((key, grid), facts)| rules::Trigger {
            kind: SubjectKind::Person,
            key,
            grid,
            change: "imported",
            facts,
        })
        .collect();
    let outcomes = rules::carry_out_all(txn, &source, &active, &triggers).await?;
    Ok(outcomes.len() as u64)
}

/// The evidence record and `imports` row of an accepted chunk.
async fn begin_import(
    txn: &DatabaseTransaction,
    principal: &Principal,
    kind: &str,
    body_sha256: &str,
    rows: u64,
) -> Result<(Uuid, i64), ApiError> {
    let id = Uuid::now_v7();
    let evidence = zw_evidence::append(
        txn,
        &principal.subject,
        &format!("import.{kind}"),
        &format!("import/{id}"),
        &serde_json::json!({"kind": kind, "body_sha256": body_sha256, "rows": rows}),
    )
    .await?;
    model::ActiveModel {
        id: Set(id),
        kind: Set(kind.into()),
        body_sha256: Set(body_sha256.into()),
        rows: Set(i64::try_from(rows).unwrap_or(i64::MAX)),
        created: Set(0),
        unchanged: Set(0),
        imported_by: Set(principal.subject.clone()),
        evidence_seq: Set(evidence.seq),
        created_at: Set(Utc::now()),
    }
    .insert(txn)
    .await?;
    Ok((id, evidence.seq))
}

async fn finish_import(
    txn: &DatabaseTransaction,
    id: Uuid,
    created: u64,
    unchanged: u64,
) -> Result<(), ApiError> {
    model::ActiveModel {
        id: Set(id),
        created: Set(i64::try_from(created).unwrap_or(i64::MAX)),
        unchanged: Set(i64::try_from(unchanged).unwrap_or(i64::MAX)),
        ..Default::default()
    }
    .update(txn)
    .await?;
    Ok(())
}

pub mod model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "imports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub kind: String,
        pub body_sha256: String,
        pub rows: i64,
        pub created: i64,
        pub unchanged: i64,
        pub imported_by: String,
        pub evidence_seq: i64,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUSES_HEADER: &str = "code,address,status,registered_size,category,legal";

    fn lines_of(e: ApiError) -> Vec<u64> {
        match e {
            ApiError::BadLines { listed, .. } => listed.iter().map(|b| b.line).collect(),
            other => panic!("not bad lines: {other:?}"),
        }
    }

    #[test]
    fn rows_are_numbered_by_the_line_they_start_on() {
        // Blank lines and line breaks inside quoted values shifted every later row's number, and
        // in a file with `\r\n` a refused row was named by the line before it (found by the fuzz
        // test below): a refused row was named by another row's line.
        let csv = format!(
            "{HOUSES_HEADER}\n\n1,\"2 Long\nRoad\",in_use,3,,\n\n4,Short Road,in_use,many,,\n"
        );
        let rows = parse_csv::<HouseRow>(csv.as_bytes());
        assert_eq!(lines_of(rows.expect_err("a bad row")), [6]);
        let csv = format!("{HOUSES_HEADER}\r\n\r\n1,\"A\r\nB\",in_use,3,,\r\n2,C,in_use,4,,\r\n");
        let rows = parse_csv::<HouseRow>(csv.as_bytes()).expect("valid");
        let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 5]);
        // A lone `\r` ends a line too, for the reader as for the count.
        let csv = format!("{HOUSES_HEADER}\r1,A,in_use,3,,\r\r2,B,in_use,x,,\r");
        assert_eq!(
            lines_of(parse_csv::<HouseRow>(csv.as_bytes()).expect_err("bad")),
            [4]
        );
    }

    #[test]
    fn a_header_that_does_not_read_is_refused() {
        // A header that is not UTF-8 was dropped, and the rows read by column position instead
        // of by name.
        let csv = b"code,addr\xffess,status,registered_size\n1,A,in_use,3\n";
        assert_eq!(
            lines_of(parse_csv::<HouseRow>(csv).expect_err("bad header")),
            [1]
        );
    }

    /// Fuzz tests of the CSV reader of both imports: arbitrary bytes and changed files never
    /// panic, and every row, good or bad, is named by the line of the file it starts on.
    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// A value as a CSV writer would write it: quoted when it holds a separator, a quote or
        /// a line break.
        fn field(v: &str) -> String {
            if v.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        }

        /// One row of a houses file: the values, and whether it is well-formed.
        #[derive(Debug, Clone)]
        struct Row {
            values: Vec<String>,
            good: bool,
        }

        fn good_row() -> impl Strategy<Value = Row> {
            (
                "[0-9]{20}",
                "[A-Za-z0-9中]([A-Za-z0-9 ,\"\n中]{0,10}[A-Za-z0-9中])?",
                prop::sample::select(HOUSE_STATUSES.to_vec()),
                0i32..=10_000,
                prop_oneof![Just(String::new()), "[a-z]{1,8}"],
                prop::sample::select(vec!["", "true", "false"]),
            )
                .prop_map(|(code, address, status, size, category, legal)| Row {
                    values: vec![
                        code,
                        address,
                        status.into(),
                        size.to_string(),
                        category,
                        legal.into(),
                    ],
                    good: true,
                })
        }

        /// A row the reader refuses: a field too many or too few, or a size that is no number.
        fn bad_row() -> impl Strategy<Value = Row> {
            (good_row(), 0..3u8).prop_map(|(mut row, how)| {
                match how {
                    0 => row.values.push("extra".into()),
                    1 => {
                        row.values.pop();
                        row.values.pop();
                        row.values.pop();
                    }
                    _ => row.values[3] = "many".into(),
                }
                row.good = false;
                row
            })
        }

        /// A file: the header, the rows, blank lines before some of them, `\n` or `\r\n`. With
        /// the line each row starts on.
        fn file(rows: &[(Row, bool)], crlf: bool) -> (String, Vec<u64>) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("{HOUSES_HEADER}{nl}");
            let mut starts = Vec::new();
            for (row, blank_before) in rows {
                if *blank_before {
                    text.push_str(nl);
                }
                starts.push(1 + text.matches('\n').count() as u64);
                let values: Vec<String> = row.values.iter().map(|v| field(v)).collect();
                text.push_str(&values.join(","));
                text.push_str(nl);
            }
            (text, starts)
        }

        fn any_row() -> impl Strategy<Value = (Row, bool)> {
            (prop_oneof![4 => good_row(), 1 => bad_row()], any::<bool>())
        }

        /// What any body gives: rows numbered upwards from line 2, or a 4xx naming lines of
        /// the file.
        fn judged_soundly<T: serde::de::DeserializeOwned>(
            body: &[u8],
        ) -> Result<(), TestCaseError> {
            // `\n`, `\r\n` and a lone `\r` each end a line for the reader.
            let breaks = body
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && body.get(i + 1) != Some(&b'\n')))
                .count();
            let lines = 1 + breaks as u64;
            match parse_csv::<T>(body) {
                Ok(rows) => {
                    prop_assert!(!rows.is_empty());
                    prop_assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
                    prop_assert!(rows.iter().all(|(l, _)| (2..=lines).contains(l)));
                }
                Err(e) => {
                    let status = e.problem().status_code().as_u16();
                    prop_assert!(status == 400 || status == 422, "{}", status);
                    if let ApiError::BadLines { count, listed } = e {
                        prop_assert!(count >= listed.len() && !listed.is_empty());
                        prop_assert!(
                            listed.iter().all(|b| (1..=lines).contains(&b.line)),
                            "{:?}",
                            listed
                        );
                    }
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(zw_testkit::fuzz::config(256))]

            #[test]
            fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                judged_soundly::<HouseRow>(&bytes)?;
                judged_soundly::<ResidentRow>(&bytes)?;
            }

            #[test]
            fn fuzz_csv_shaped_text_never_panics(
                header in prop::sample::select(vec![HOUSES_HEADER, "id_number,name,house_code,phone", "code", ""]),
                cells in prop::collection::vec(prop::collection::vec("[0-9a-z\",\n\r é]{0,6}", 0..8), 0..6),
            ) {
                let mut text = format!("{header}\n");
                for row in cells {
                    text.push_str(&row.join(","));
                    text.push('\n');
                }
                judged_soundly::<HouseRow>(text.as_bytes())?;
                judged_soundly::<ResidentRow>(text.as_bytes())?;
            }

            #[test]
            fn fuzz_every_row_is_named_by_its_own_line(
                rows in prop::collection::vec(any_row(), 1..8),
                crlf in any::<bool>(),
            ) {
                let (text, starts) = file(&rows, crlf);
                let bad: Vec<u64> = rows.iter().zip(&starts).filter(|((r, _), _)| !r.good).map(|(_, l)| *l).collect();
                match parse_csv::<HouseRow>(text.as_bytes()) {
                    Ok(parsed) => {
                        prop_assert!(bad.is_empty(), "bad lines {:?} accepted in {:?}", bad, text);
                        let lines: Vec<u64> = parsed.iter().map(|(l, _)| *l).collect();
                        prop_assert_eq!(lines, starts);
                        for ((_, got), (row, _)) in parsed.iter().zip(&rows) {
                            prop_assert_eq!(&got.code, &row.values[0]);
                            prop_assert_eq!(&got.address, &row.values[1]);
                        }
                    }
                    Err(e) => prop_assert_eq!(lines_of(e), bad, "{}", text),
                }
            }

            #[test]
            fn fuzz_a_valid_file_with_one_byte_changed_is_judged_soundly(
                rows in prop::collection::vec((good_row(), any::<bool>()), 1..6),
                crlf in any::<bool>(),
                at in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let (text, _) = file(&rows, crlf);
                let mut bytes = text.into_bytes();
                let i = at.index(bytes.len());
                bytes[i] = byte;
                judged_soundly::<HouseRow>(&bytes)?;
            }
        }
    }
}
