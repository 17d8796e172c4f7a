//! Jurisdictions: importing a district's streets, communities and grids (CSV or JSON, idempotent,
//! with a report), and the one grid worker of each grid (一格一员) with the history of assignments.
//!
//! An import is all or nothing: every line is checked first (code well-formed and under the
//! configured district, parent imported or known, no duplicates, coordinates in range) and any
//! bad line makes it a 422 `bad-lines` that lists them (the first hundred, with the full count),
//! with nothing written. A good file is compared with what is stored, and only the differences
//! are written, with one evidence record for the import (carrying the file's SHA-256) in the
//! same transaction; importing the same file again changes nothing and records nothing. Streets and communities live in `jurisdictions`, grids in
//! `grids`. A line's `worker` assigns that grid's worker (ending the previous assignment);
//! omitted coordinates or worker leave the stored ones alone.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use zw_auth::{Principal, Role};
use zw_domain::{JurisdictionCode, Level};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::access::STAFF;
use crate::body::{self, JsonBody};
use crate::error::{ApiError, BadLine};
use crate::locks::lock;
use crate::model::grid;
use crate::paging::{self, Order};
use crate::state::Grid;
use crate::write::{Applied, Change, Done, Kept, Tx, Write};

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(import, list_grids, get_grid, assign_worker),
    components(schemas(
        ImportRow,
        ImportReport,
        LevelCounts,
        WorkerCounts,
        BadLine,
        GridView,
        GridDetail,
        WorkerView,
        NewAssignment
    ))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/grid/jurisdictions/import").route(web::post().to(import)))
        .service(web::resource("/api/v1/grid/grids").route(web::get().to(list_grids)))
        .service(web::resource("/api/v1/grid/grids/{code}").route(web::get().to(get_grid)))
        .service(
            web::resource("/api/v1/grid/grids/{code}/worker").route(web::put().to(assign_worker)),
        );
}

/// The tables of this module.
pub mod model {
    /// Streets and communities (grids are in `grids`).
    pub mod jurisdiction {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "jurisdictions")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub code: String,
            /// `street` or `community`.
            pub level: String,
            pub name: String,
            pub parent_code: String,
            pub lat: Option<f64>,
            pub lng: Option<f64>,
            pub updated_at: DateTimeUtc,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// Who works each grid, and who did before (`ended_at` set).
    pub mod grid_worker {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "grid_workers")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub grid_code: String,
            /// The worker's token subject.
            pub worker: String,
            pub worker_name: Option<String>,
            pub assigned_at: DateTimeUtc,
            pub ended_at: Option<DateTimeUtc>,
            pub assigned_by: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use model::{grid_worker, jurisdiction};

/// One line of an import. In CSV the header names the columns (`code,name,lat,lng,worker,
/// worker_name`; only `code` and `name` are required).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    /// Street (9 digits), community (12) or grid (15) code under the configured district.
    #[schema(example = "440304001001001")]
    pub code: String,
    pub name: String,
    /// The centre (WGS 84); both or neither.
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    /// Grids only: the token subject of the grid's worker.
    pub worker: Option<String>,
    pub worker_name: Option<String>,
}

/// Created, updated and unchanged of one level.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LevelCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

/// Worker assignments of an import.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerCounts {
    /// Grids that got a new worker.
    pub assigned: u32,
    /// Grids whose line named the worker they already have.
    pub unchanged: u32,
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// SHA-256 of the body as received (hex).
    pub sha256: String,
    pub lines: usize,
    pub streets: LevelCounts,
    pub communities: LevelCounts,
    pub grids: LevelCounts,
    pub workers: WorkerCounts,
    /// Codes created or updated.
    pub changed: Vec<String>,
    /// Grids whose worker changed.
    pub workers_changed: Vec<String>,
    /// The evidence record of the import (none when nothing changed or for a dry run).
    pub evidence_seq: Option<i64>,
}

/// A line that passed the checks.
struct Valid {
    code: JurisdictionCode,
    name: String,
    centre: Option<(f64, f64)>,
    worker: Option<(String, Option<String>)>,
}

/// Query of the import.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check and report without writing anything.
    pub dry_run: Option<bool>,
}

/// Import streets, communities and grids (and grid workers), all or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/grid/jurisdictions/import",
    params(ImportQuery),
    request_body(content = Vec<ImportRow>, description = "`text/csv` with a header line, or a JSON array", content_type = "application/json"),
    responses(
        (status = 200, body = ImportReport),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`bad-lines` (listed in `bad_lines`, the first 100; `bad_line_count`): nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn import(
    w: Write,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    w.principal
        .require_role(&[Role::DistrictOfficer, Role::Admin])?;
    w.principal.authorize(&w.grid().district)?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows = if content_type.starts_with("text/csv") {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::InvalidInput("the CSV file must be UTF-8".into()))?;
        rows_of_csv(text)
    } else if content_type.starts_with("application/json") {
        rows_of_json(&body)?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send the import as text/csv or application/json".into(),
        ));
    };
    let sha256 = hex::encode(Sha256::digest(&body));
    let dry_run = query.dry_run.unwrap_or(false);

    let district = &w.grid().district;
    let report = w
        .run_or_discard(async |tx| {
            // One import at a time: each compares the file with what is stored.
            lock(
                tx.txn,
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                "import",
            )
            .await?;
            let known = jurisdiction::Entity::find()
                .filter(jurisdiction::Column::Code.starts_with(district.as_str()))
                .all(tx.txn)
                .await?;
            let (valid, errors) = check(district, rows, &known);
            ApiError::refuse_bad_lines(errors)?;
            let mut report = ImportReport {
                dry_run,
                sha256,
                lines: valid.len(),
                streets: LevelCounts::default(),
                communities: LevelCounts::default(),
                grids: LevelCounts::default(),
                workers: WorkerCounts::default(),
                changed: Vec::new(),
                workers_changed: Vec::new(),
                evidence_seq: None,
            };
            write(tx.txn, tx.principal, &valid, &known, &mut report).await?;
            let changed = !report.changed.is_empty() || !report.workers_changed.is_empty();
            if dry_run || !changed {
                // Nothing is kept: the answer says what would have changed.
                return Ok(Kept::Discard(report));
            }
            let evidence = zw_evidence::append(
                tx.txn,
                &tx.principal.subject,
                "jurisdictions.import",
                &format!("import/{}", report.sha256),
                &serde_json::json!({
                    "sha256": report.sha256,
                    "streets": report.streets,
                    "communities": report.communities,
                    "grids": report.grids,
                    "workers": report.workers,
                    "changed": report.changed,
                    "workers_changed": report.workers_changed,
                }),
            )
            .await?;
            report.evidence_seq = Some(evidence.seq);
            Ok(Kept::Commit(report))
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The lines of an import: each line number with its row, or why it does not parse.
type Lines = Vec<(usize, Result<ImportRow, String>)>;

/// Parse a JSON import: an array of rows; a malformed element is a bad line, not a bad file.
fn rows_of_json(body: &[u8]) -> Result<Lines, ApiError> {
    let items: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidInput(format!("the body must be a JSON array of rows: {e}"))
    })?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i + 1, serde_json::from_value(v).map_err(|e| e.to_string())))
        .collect())
}

/// Parse a CSV import (RFC 4180: quoted fields, `""` escapes, CRLF or LF), header first.
fn rows_of_csv(text: &str) -> Lines {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = csv_records(text);
    let mut out = Vec::new();
    let mut iter = records.into_iter();
    let Some((header_line, header)) = iter.next() else {
        out.push((
            1,
            Err("the file is empty: it needs a header line".to_owned()),
        ));
        return out;
    };
    let header = match header {
        Ok(h) => h,
        Err(e) => {
            out.push((header_line, Err(e)));
            return out;
        }
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    const COLUMNS: [&str; 6] = ["code", "name", "lat", "lng", "worker", "worker_name"];
    let mut index = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if !COLUMNS.contains(&n.as_str()) {
            out.push((
                header_line,
                Err(format!(
                    "unknown column {n:?} (the columns are {})",
                    COLUMNS.join(", ")
                )),
            ));
        } else if index.insert(n.clone(), i).is_some() {
            out.push((header_line, Err(format!("column {n:?} appears twice"))));
        }
    }
    for required in ["code", "name"] {
        if !index.contains_key(required) {
            out.push((
                header_line,
                Err(format!("the header has no {required:?} column")),
            ));
        }
    }
    if !out.is_empty() {
        return out;
    }
    for (line, record) in iter {
        let fields = match record {
            Ok(f) => f,
            Err(e) => {
                out.push((line, Err(e)));
                continue;
            }
        };
        if fields.len() != names.len() {
            out.push((
                line,
                Err(format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    names.len()
                )),
            ));
            continue;
        }
        let get = |c: &str| {
            index
                .get(c)
                .and_then(|&i| fields.get(i))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let number = |c: &str| -> Result<Option<f64>, String> {
            get(c)
                .map(|s| {
                    s.parse::<f64>()
                        .map_err(|_| format!("{c} {s:?} is not a number"))
                })
                .transpose()
        };
        let row: Result<ImportRow, String> = (|| {
            Ok(ImportRow {
                code: get("code").unwrap_or_default(),
                name: get("name").unwrap_or_default(),
                lat: number("lat")?,
                lng: number("lng")?,
                worker: get("worker"),
                worker_name: get("worker_name"),
            })
        })();
        out.push((line, row));
    }
    out
}

/// Split CSV text into records, each with the line it starts on. Blank lines are skipped.
fn csv_records(text: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut error = None;
        let mut at_field_start = true;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    error = Some("a quoted field is not closed".to_owned());
                }
                break;
            };
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    break;
                }
                _ => {
                    field.push(c);
                    at_field_start = false;
                }
            }
        }
        fields.push(field);
        if error.is_none() && fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        out.push((start, error.map_or(Ok(fields), Err)));
    }
    out
}

/// Check every line; the valid ones, or every error.
fn check(
    district: &JurisdictionCode,
    rows: Lines,
    known: &[jurisdiction::Model],
) -> (Vec<Valid>, Vec<BadLine>) {
    let mut errors = Vec::new();
    let mut valid: Vec<(usize, Valid)> = Vec::new();
    let mut lines_of: HashMap<String, usize> = HashMap::new();
    for (line, row) in rows {
        let row = match row {
            Ok(r) => r,
            Err(error) => {
                errors.push(BadLine::new(line as u64, error));
                continue;
            }
        };
        let mut bad = |error: String| {
            errors.push(BadLine {
                line: line as u64,
                code: Some(row.code.clone()),
                problem: error,
            })
        };
        let code = match JurisdictionCode::parse(row.code.trim()) {
            Ok(c) => c,
            Err(e) => {
                bad(format!("code: {e}"));
                continue;
            }
        };
        if code.level() == Level::District {
            bad("only streets, communities and grids are imported, not districts".into());
            continue;
        }
        if !district.contains(&code) {
            bad(format!("{code} is not under district {district}"));
            continue;
        }
        if let Some(first) = lines_of.get(code.as_str()) {
            bad(format!("{code} already appears on line {first}"));
            continue;
        }
        lines_of.insert(code.to_string(), line);
        let name = row.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            bad("name must be 1 to 100 characters".into());
        }
        let centre = match (row.lat, row.lng) {
            (None, None) => None,
            (Some(lat), Some(lng))
                if lat.is_finite()
                    && lng.is_finite()
                    && (-90.0..=90.0).contains(&lat)
                    && (-180.0..=180.0).contains(&lng) =>
            {
                Some((lat, lng))
            }
            (Some(_), Some(_)) => {
                bad("lat must be within ±90 and lng within ±180".into());
                None
            }
            _ => {
                bad("lat and lng come together (both or neither)".into());
                None
            }
        };
        let worker = match (row.worker.as_deref().map(str::trim), row.worker_name) {
            (None | Some(""), None) => None,
            (None | Some(""), Some(_)) => {
                bad("worker_name without worker".into());
                None
            }
            (Some(_), _) if code.level() != Level::Grid => {
                bad("only a grid has a worker".into());
                None
            }
            (Some(w), name) => match worker_fields(w, name.as_deref()) {
                Ok(v) => Some(v),
                Err(e) => {
                    bad(e);
                    None
                }
            },
        };
        valid.push((
            line,
            Valid {
                code,
                name,
                centre,
                worker,
            },
        ));
    }
    // Every street/community/grid's parent must be imported too or already known.
    let known: HashSet<&str> = known.iter().map(|k| k.code.as_str()).collect();
    for (line, v) in &valid {
        if v.code.level() == Level::Street {
            continue;
        }
        let Some(parent) = v.code.parent() else {
            continue;
        };
        if !lines_of.contains_key(parent.as_str()) && !known.contains(parent.as_str()) {
            errors.push(BadLine {
                line: *line as u64,
                code: Some(v.code.to_string()),
                problem: format!(
                    "its {} {parent} is neither in this file nor known",
                    parent.level()
                ),
            });
        }
    }
    (valid.into_iter().map(|(_, v)| v).collect(), errors)
}

/// A worker and name as given, checked.
fn worker_fields(worker: &str, name: Option<&str>) -> Result<(String, Option<String>), String> {
    let worker = worker.trim();
    if worker.is_empty() || worker.len() > 128 || worker.chars().any(char::is_control) {
        return Err("worker must be a token subject of 1 to 128 characters".into());
    }
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 64 || n.chars().any(char::is_control)) {
        return Err("worker_name must be at most 64 characters".into());
    }
    Ok((worker.to_owned(), name.map(str::to_owned)))
}

/// Compare the valid lines with what is stored and write the differences, counting them.
async fn write(
    txn: &DatabaseTransaction,
    principal: &Principal,
    valid: &[Valid],
    known: &[jurisdiction::Model],
    report: &mut ImportReport,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let known: HashMap<&str, &jurisdiction::Model> =
        known.iter().map(|k| (k.code.as_str(), k)).collect();
    let grid_codes: Vec<String> = valid
        .iter()
        .filter(|v| v.code.level() == Level::Grid)
        .map(|v| v.code.to_string())
        .collect();
    let mut grids: HashMap<String, grid::Model> = HashMap::new();
    for chunk in grid_codes.chunks(500) {
        for g in grid::Entity::find()
            .filter(grid::Column::Code.is_in(chunk.to_vec()))
            .all(txn)
            .await?
        {
            grids.insert(g.code.clone(), g);
        }
    }
    // Streets before communities before grids: the order the file may not have.
    let mut ordered: Vec<&Valid> = valid.iter().collect();
    ordered.sort_by_key(|v| v.code.level());
    for v in ordered {
        let code = v.code.to_string();
        let (counts, outcome) = match v.code.level() {
            Level::Grid => {
                let outcome = match grids.get(&code) {
                    None => {
                        let (lat, lng) = v.centre.unzip();
                        grid::ActiveModel {
                            code: Set(code.clone()),
                            name: Set(v.name.clone()),
                            lat: Set(lat),
                            lng: Set(lng),
                        }
                        .insert(txn)
                        .await?;
                        Outcome::Created
                    }
                    Some(g) => {
                        let (lat, lng) =
                            v.centre.map_or((g.lat, g.lng), |(a, b)| (Some(a), Some(b)));
                        if g.name == v.name && g.lat == lat && g.lng == lng {
                            Outcome::Unchanged
                        } else {
                            let mut am: grid::ActiveModel = g.clone().into();
                            am.name = Set(v.name.clone());
                            am.lat = Set(lat);
                            am.lng = Set(lng);
                            am.update(txn).await?;
                            Outcome::Updated
                        }
                    }
                };
                if let Some((worker, name)) = &v.worker {
                    if assign(txn, &code, worker, name.as_deref(), &principal.subject, now).await? {
                        report.workers.assigned += 1;
                        report.workers_changed.push(code.clone());
                    } else {
                        report.workers.unchanged += 1;
                    }
                }
                (&mut report.grids, outcome)
            }
            level => {
                let outcome = match known.get(code.as_str()) {
                    None => {
                        let (lat, lng) = v.centre.unzip();
                        jurisdiction::ActiveModel {
                            code: Set(code.clone()),
                            level: Set(level.to_string()),
                            name: Set(v.name.clone()),
                            parent_code: Set(v
                                .code
                                .parent()
                                .map(|p| p.to_string())
                                .unwrap_or_default()),
                            lat: Set(lat),
                            lng: Set(lng),
                            updated_at: Set(now),
                        }
                        .insert(txn)
                        .await?;
                        Outcome::Created
                    }
                    Some(j) => {
                        let (lat, lng) =
                            v.centre.map_or((j.lat, j.lng), |(a, b)| (Some(a), Some(b)));
                        if j.name == v.name && j.lat == lat && j.lng == lng {
                            Outcome::Unchanged
                        } else {
                            let mut am: jurisdiction::ActiveModel = (*j).clone().into();
                            am.name = Set(v.name.clone());
                            am.lat = Set(lat);
                            am.lng = Set(lng);
                            am.updated_at = Set(now);
                            am.update(txn).await?;
                            Outcome::Updated
                        }
                    }
                };
                let counts = if level == Level::Street {
                    &mut report.streets
                } else {
                    &mut report.communities
                };
                (counts, outcome)
            }
        };
        match outcome {
            Outcome::Created => counts.created += 1,
            Outcome::Updated => counts.updated += 1,
            Outcome::Unchanged => counts.unchanged += 1,
        }
        if outcome != Outcome::Unchanged {
            report.changed.push(code);
        }
    }
    report.changed.sort();
    report.workers_changed.sort();
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// Make `worker` the worker of `grid_code`, ending the current assignment; `false` when he
/// already is (nothing written).
pub async fn assign(
    txn: &DatabaseTransaction,
    grid_code: &str,
    worker: &str,
    worker_name: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let current = grid_worker::Entity::find()
        .filter(grid_worker::Column::GridCode.eq(grid_code))
        .filter(grid_worker::Column::EndedAt.is_null())
        .all(txn)
        .await?;
    if current.len() == 1 && current.iter().all(|c| c.worker == worker) {
        return Ok(false);
    }
    for c in current {
        let mut am: grid_worker::ActiveModel = c.into();
        am.ended_at = Set(Some(now));
        am.update(txn).await?;
    }
    grid_worker::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        grid_code: Set(grid_code.to_owned()),
        worker: Set(worker.to_owned()),
        worker_name: Set(worker_name.map(str::to_owned)),
        assigned_at: Set(now),
        ended_at: Set(None),
        assigned_by: Set(by.to_owned()),
    }
    .insert(txn)
    .await?;
    Ok(true)
}

/// An assignment of a worker to a grid.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerView {
    /// The worker's token subject.
    pub worker: String,
    pub worker_name: Option<String>,
    pub assigned_at: DateTime<Utc>,
    /// When the assignment ended (absent for the current one).
    pub ended_at: Option<DateTime<Utc>>,
    pub assigned_by: String,
}

impl From<grid_worker::Model> for WorkerView {
    fn from(m: grid_worker::Model) -> Self {
        WorkerView {
            worker: m.worker,
            worker_name: m.worker_name,
            assigned_at: m.assigned_at,
            ended_at: m.ended_at,
            assigned_by: m.assigned_by,
        }
    }
}

/// A grid and its current worker.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GridView {
    pub code: String,
    pub name: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub worker: Option<WorkerView>,
}

/// A grid, its current worker and every assignment it had (newest first).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GridDetail {
    #[serde(flatten)]
    pub grid: GridView,
    pub history: Vec<WorkerView>,
}

/// Filter of the grid list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridFilter {
    /// Grids under this jurisdiction (default: the caller's scope).
    pub under: Option<String>,
}

fn parse_code(field: &str, s: &str) -> Result<JurisdictionCode, ApiError> {
    JurisdictionCode::parse(s.trim()).map_err(|e| ApiError::invalid(field, e))
}

/// Grids under a jurisdiction, by code, each with its current worker.
#[utoipa::path(
    get,
    path = "/api/v1/grid/grids",
    params(GridFilter, PageQuery),
    responses(
        (status = 200, body = Page<GridView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_grids(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<GridFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&STAFF)?;
    let under = match filter.under.as_deref() {
        Some(u) => parse_code("under", u)?,
        None => principal.scope.clone(),
    };
    principal.authorize(&under)?;
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let q = grid::Entity::find().filter(grid::Column::Code.starts_with(under.as_str()));
    let cursor = page.cursor.clone();
    let rows = paging::rows(
        &grid.db,
        q,
        grid::Column::Code,
        Order::Ascending,
        cursor,
        limit,
    )
    .await?;
    let codes: Vec<String> = rows.iter().map(|g| g.code.clone()).collect();
    let mut workers: HashMap<String, grid_worker::Model> = grid_worker::Entity::find()
        .filter(grid_worker::Column::GridCode.is_in(codes))
        .filter(grid_worker::Column::EndedAt.is_null())
        .all(&grid.db)
        .await?
        .into_iter()
        .map(|w| (w.grid_code.clone(), w))
        .collect();
    let views: Vec<GridView> = rows
        .into_iter()
        .map(|g| {
            let worker = workers.remove(&g.code).map(WorkerView::from);
            grid_view(g, worker)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.code.clone())))
}

fn grid_view(g: grid::Model, worker: Option<WorkerView>) -> GridView {
    GridView {
        code: g.code,
        name: g.name,
        lat: g.lat,
        lng: g.lng,
        worker,
    }
}

/// The grid `code` with its worker and history, if `principal` may see it.
pub async fn detail(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    code: &str,
) -> Result<GridDetail, ApiError> {
    principal.require_role(&STAFF)?;
    let code = parse_code("grid code", code)?;
    if code.level() != Level::Grid {
        return Err(ApiError::InvalidInput(format!("{code} is not a grid code")));
    }
    principal.authorize(&code)?;
    let g = grid::Entity::find_by_id(code.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no grid {code}")))?;
    let history: Vec<WorkerView> = grid_worker::Entity::find()
        .filter(grid_worker::Column::GridCode.eq(code.as_str()))
        .order_by_desc(grid_worker::Column::AssignedAt)
        .order_by_desc(grid_worker::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(WorkerView::from)
        .collect();
    let current = history.iter().find(|w| w.ended_at.is_none()).cloned();
    Ok(GridDetail {
        grid: grid_view(g, current),
        history,
    })
}

/// One grid, its current worker and the history of its assignments.
#[utoipa::path(
    get,
    path = "/api/v1/grid/grids/{code}",
    params(("code" = String, Path, description = "Grid code (15 digits)")),
    responses(
        (status = 200, body = GridDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_grid(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(detail(&grid.db, &principal, &code).await?))
}

/// A new worker for a grid.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAssignment {
    /// The worker's token subject.
    pub worker: String,
    pub worker_name: Option<String>,
}

/// Assign the grid's one worker (community officer or above, within scope): the current
/// assignment ends, the history is kept; assigning the current worker again changes nothing.
#[utoipa::path(
    put,
    path = "/api/v1/grid/grids/{code}/worker",
    params(("code" = String, Path, description = "Grid code (15 digits)")),
    request_body = NewAssignment,
    responses(
        (status = 200, body = GridDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn assign_worker(
    w: Write,
    code: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let input: NewAssignment = body::parse(&body, "worker (and worker_name)")?;
    let (worker, worker_name) = worker_fields(&input.worker, input.worker_name.as_deref())
        .map_err(ApiError::InvalidInput)?;
    let code = parse_code("grid code", &code)?;
    if code.level() != Level::Grid {
        return Err(ApiError::InvalidInput(format!("{code} is not a grid code")));
    }
    let assignment = Assignment {
        worker,
        worker_name,
    };
    w.change(&code, None, assignment).await?;
    Ok(HttpResponse::Ok().json(detail(&w.grid().db, &w.principal, code.as_str()).await?))
}

/// A new worker for a grid, checked.
struct Assignment {
    worker: String,
    worker_name: Option<String>,
}

#[async_trait::async_trait]
impl Change<grid::Model> for Assignment {
    type Output = bool;

    /// Whether the grid got a new worker (assigning the current one again changes nothing).
    async fn apply(self, tx: &Tx<'_>, g: grid::Model) -> Done<grid::Model, Self::Output> {
        let assigned = assign(
            tx.txn,
            &g.code,
            &self.worker,
            self.worker_name.as_deref(),
            &tx.principal.subject,
            Utc::now(),
        )
        .await?;
        if assigned {
            zw_evidence::append(
                tx.txn,
                &tx.principal.subject,
                "grid.worker_assigned",
                &format!("grid/{}", g.code),
                // The worker's subject is an opaque id; his name stays out of the evidence.
                &serde_json::json!({ "grid_code": g.code, "worker": self.worker }),
            )
            .await?;
        }
        Ok(Applied {
            record: g,
            output: assigned,
        })
    }
}
