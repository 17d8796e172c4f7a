//! Incidents (实有事件): reported → accepted → assigned → resolved → verified → closed, escalating
//! grid → community → street → district when beyond the grid or overdue (问题处理在网格,
//! 矛盾化解在社区). [`open311`] serves the same incidents to Open311 GeoReport v2 clients.
//!
//! Decisions:
//! - Every incident starts at the grid level; the handler of a level is the grid worker of its
//!   grid, the community / street / district officer whose scope holds that grid. Only he moves
//!   it on, except that the assignee (any principal named in `assignee`) may resolve it. Whoever
//!   may not see an incident is told there is none (404, see [`crate::access`]).
//! - The one who resolved an incident may not verify it (four eyes): 403 `forbidden`.
//! - An escalation (by hand or by the sweep) puts the incident back to `reported` at the next
//!   level, with no assignee and a new deadline: the new level must accept it itself. Only
//!   incidents not yet resolved escalate; at the district an overdue incident stays and is
//!   marked `overdue` once.
//! - Each level has `deadline_hours` (the `[grid] incident_deadline_hours` setting when it was
//!   reported) to resolve it.
//! - A report whose `media_url` names a photo uploaded here (`/api/v1/grid/media/<sha256>`)
//!   attaches it, so the incident's handlers may fetch it; the reporter must be able to fetch it
//!   himself (422 `unknown-media` otherwise).
//! - Every change goes through the one write operation ([`crate::write`]); the escalation sweep
//!   through its transaction ([`crate::write::transaction`]), one incident at a time.

pub mod open311;

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_contracts::Event;
use zw_contracts::events::IncidentChanged;
use zw_domain::{HouseCode, JurisdictionCode};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::access::{self, INCIDENTS_DATASET, STAFF, handles, stored_grid};
use crate::body::{self, JsonBody};
use crate::classification::reclassify_house;
use crate::error::{ApiError, parse_cursor};
use crate::idempotency::IdempotencyKey;
use crate::ledger::Source;
use crate::model::{grid as grid_row, house, incident_step};
use crate::paging::{self, Order};
use crate::state::Grid;
use crate::write::{self, Answer, Applied, Change, Creation, Done, Tx, Write};

pub use crate::model::incident::{self, Level, OPEN, Status};

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(report, list, get_one, transition, escalate),
    components(schemas(
        NewIncident,
        IncidentView,
        StepView,
        Contact,
        TransitionRequest,
        EscalationRequest,
        CategoryView
    ))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/incidents")
            .route(web::post().to(report))
            .route(web::get().to(list)),
    )
    .service(web::resource("/api/v1/grid/incidents/{id}").route(web::get().to(get_one)))
    .service(
        web::resource("/api/v1/grid/incidents/{id}/transitions").route(web::post().to(transition)),
    )
    .service(web::resource("/api/v1/grid/incidents/{id}/escalate").route(web::post().to(escalate)));
    open311::configure(cfg);
}

// ---------------------------------------------------------------------------------------------
// Categories

/// A kind of incident. The same list is the Open311 service list.
#[derive(Debug, Clone, Copy)]
pub struct Category {
    pub code: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// The Open311 `group`.
    pub group: &'static str,
    pub keywords: &'static str,
}

/// Every category of incident, fixed in code (a new one is a release, since handling rules and
/// statistics depend on it).
pub const CATEGORIES: [Category; 8] = [
    Category {
        code: "dispute",
        name: "Dispute (矛盾纠纷)",
        description: "A dispute between neighbours, family members, landlord and tenant, or \
                      with a business, to be mediated.",
        group: "social",
        keywords: "dispute,mediation,neighbours,矛盾纠纷",
    },
    Category {
        code: "hazard",
        name: "Safety hazard (安全隐患)",
        description: "A fire, gas, electrical, structural or traffic hazard that may hurt \
                      someone.",
        group: "safety",
        keywords: "hazard,fire,gas,safety,安全隐患",
    },
    Category {
        code: "complaint",
        name: "Complaint (投诉)",
        description: "A complaint about a public service, a business or a neighbour's conduct.",
        group: "social",
        keywords: "complaint,service,投诉",
    },
    Category {
        code: "environment",
        name: "Environment and sanitation (环境卫生)",
        description: "Rubbish, pollution, noise, blocked drains or unkept public space.",
        group: "environment",
        keywords: "rubbish,noise,pollution,sanitation,环境卫生",
    },
    Category {
        code: "public_order",
        name: "Public order (治安)",
        description: "Disturbances, suspicious activity or other threats to public order.",
        group: "safety",
        keywords: "public order,disturbance,治安",
    },
    Category {
        code: "facility",
        name: "Public facility damage (设施损坏)",
        description: "A broken street light, road, manhole cover, bench or other public \
                      facility.",
        group: "infrastructure",
        keywords: "street light,road,manhole,facility,设施",
    },
    Category {
        code: "illegal_construction",
        name: "Illegal construction (违章建筑)",
        description: "Building, extending or occupying without a permit.",
        group: "infrastructure",
        keywords: "illegal construction,permit,违建",
    },
    Category {
        code: "vulnerable_person",
        name: "Person in need (困难群众)",
        description: "An elderly, sick, disabled or otherwise vulnerable person who needs help.",
        group: "social",
        keywords: "elderly,help,welfare,困难群众",
    },
];

/// The category with `code`.
pub fn category(code: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.code == code)
}

/// A category as the REST API lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryView {
    pub code: String,
    pub name: String,
    pub description: String,
}

// ---------------------------------------------------------------------------------------------
// Views and inputs

/// The reporter's contact details (from Open311 clients). Personal data: shown only to the
/// handlers of the incident and never in lists, events or logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

impl Contact {
    fn is_empty(&self) -> bool {
        self == &Contact::default()
    }
}

/// A new incident. Its place: `house_code` (its grid), else `grid_code`, else `lat`/`lng` (the
/// grid with the nearest centre).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    /// One of the categories (`dispute`, `hazard`, `complaint`, …).
    #[schema(example = "hazard")]
    pub category: String,
    pub description: String,
    pub house_code: Option<String>,
    pub grid_code: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub address: Option<String>,
    pub media_url: Option<String>,
    pub contact: Option<Contact>,
}

/// An incident as its callers see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: Uuid,
    pub category: String,
    pub description: String,
    pub grid_code: String,
    pub house_code: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub address: Option<String>,
    pub media_url: Option<String>,
    /// `grid_worker`, `citizen`, `department` or `officer`.
    pub reporter_kind: String,
    pub reporter: String,
    /// `grid`, `community`, `street` or `district`: who handles it now.
    pub level: String,
    /// `reported`, `accepted`, `assigned`, `resolved`, `verified` or `closed`.
    pub status: String,
    pub assignee: Option<String>,
    pub deadline: DateTime<Utc>,
    /// Set once the district's deadline passed too.
    pub overdue: bool,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Only in the single-incident view, only for its handlers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// Only in the single-incident view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
}

/// One step in an incident's life.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepView {
    /// `reported`, `accepted`, `assigned`, `resolved`, `verified`, `closed`, `escalated` or
    /// `overdue`.
    pub step: String,
    pub from: Option<String>,
    pub to: String,
    /// The level after the step.
    pub level: String,
    pub actor: String,
    pub note: Option<String>,
    pub version: i64,
    /// The sequence number of its evidence record in the grid's evidence log.
    pub evidence_seq: i64,
    pub at: DateTime<Utc>,
}

pub fn view(m: &incident::Model) -> IncidentView {
    IncidentView {
        id: m.id,
        category: m.category.clone(),
        description: m.description.clone(),
        grid_code: m.grid_code.clone(),
        house_code: m.house_code.clone(),
        lat: m.lat,
        lng: m.lng,
        address: m.address.clone(),
        media_url: m.media_url.clone(),
        reporter_kind: m.reporter_kind.clone(),
        reporter: m.reporter.clone(),
        level: m.level.clone(),
        status: m.status.clone(),
        assignee: m.assignee.clone(),
        deadline: m.deadline,
        overdue: m.overdue,
        resolution: m.resolution.clone(),
        resolved_by: m.resolved_by.clone(),
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        contact: None,
        steps: None,
    }
}

/// A move of an incident to its next status.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// `accepted`, `assigned`, `resolved`, `verified` or `closed`.
    pub to: String,
    /// Required for `resolved` (the resolution).
    pub note: Option<String>,
    /// Required for `assigned`: the subject (user or team account) who works on it.
    pub assignee: Option<String>,
    /// The version the caller saw; another one is 409 `version-conflict`.
    pub expected_version: Option<i64>,
}

/// Hand an incident to the next level up.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRequest {
    /// Why it is beyond this level.
    pub reason: String,
    pub expected_version: Option<i64>,
}

fn stored_level(m: &incident::Model) -> Result<Level, ApiError> {
    Level::parse(&m.level)
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("stored level {}", m.level)))
}

fn stored_status(m: &incident::Model) -> Result<Status, ApiError> {
    Status::parse(&m.status)
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("stored status {}", m.status)))
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// Where a new incident is, resolved to its grid: its grid, house code and address.
async fn locate(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    input: &NewIncident,
) -> Result<(String, Option<String>, Option<String>), ApiError> {
    if let Some(code) = input.house_code.as_deref().map(str::trim) {
        let code = HouseCode::parse(code).map_err(|e| ApiError::invalid("house_code", e))?;
        let h = house::Entity::find_by_id(code.as_str())
            .one(conn)
            .await?
            .ok_or_else(|| ApiError::UnknownHouse(code.to_string()))?;
        return Ok((h.grid_code, Some(h.code), Some(h.address)));
    }
    if let Some(code) = input.grid_code.as_deref().map(str::trim) {
        let code = JurisdictionCode::parse(code).map_err(|e| ApiError::invalid("grid_code", e))?;
        if code.level() != zw_domain::Level::Grid {
            return Err(ApiError::InvalidInput(
                "grid_code: a grid code has 15 digits".into(),
            ));
        }
        let g = grid_row::Entity::find_by_id(code.as_str())
            .one(conn)
            .await?
            .ok_or_else(|| {
                ApiError::unprocessable("location-unknown", format!("no grid {code} is known"))
            })?;
        return Ok((g.code, None, None));
    }
    match (input.lat, input.lng) {
        (Some(lat), Some(lng)) => {
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
                return Err(ApiError::InvalidInput("lat/lng out of range".into()));
            }
            let district = principal.scope.district().to_owned();
            let grids = grid_row::Entity::find()
                .filter(grid_row::Column::Code.starts_with(district.as_str()))
                .filter(grid_row::Column::Lat.is_not_null())
                .filter(grid_row::Column::Lng.is_not_null())
                .all(conn)
                .await?;
            // Equirectangular distance: grids are small, the error is negligible.
            let k = lat.to_radians().cos();
            let nearest = grids
                .into_iter()
                .filter_map(|g| {
                    let (glat, glng) = (g.lat?, g.lng?);
                    let d = (glat - lat).powi(2) + ((glng - lng) * k).powi(2);
                    Some((d, g.code))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            match nearest {
                Some((_, code)) => Ok((code, None, None)),
                None => Err(ApiError::unprocessable(
                    "location-unknown",
                    "no grid of the district has a known centre to place these coordinates in",
                )),
            }
        }
        (None, None) => Err(ApiError::InvalidInput(
            "a location is required: house_code, grid_code or lat and lng".into(),
        )),
        _ => Err(ApiError::InvalidInput("lat and lng go together".into())),
    }
}

/// The photo a `media_url` names, when it is one uploaded here.
fn photo_of(media_url: &str) -> Option<&str> {
    let (_, hash) = media_url.trim().rsplit_once("/api/v1/grid/media/")?;
    let is_hash = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    is_hash.then_some(hash)
}

/// A checked report, placed in its grid.
struct Report {
    incident: incident::Model,
    grid: JurisdictionCode,
}

#[async_trait::async_trait]
impl Creation for Report {
    type Record = incident::Model;
    type Output = IncidentView;

    /// A grid worker in his grid, a citizen, a department with the `incidents` data set, or an
    /// officer, each in his scope.
    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        principal.require_role(&[
            Role::GridWorker,
            Role::Citizen,
            Role::Department,
            Role::CommunityOfficer,
            Role::StreetOfficer,
            Role::DistrictOfficer,
        ])?;
        if principal.has_role(Role::Department) && !principal.has_any_role(&STAFF) {
            principal.require_dataset(INCIDENTS_DATASET)?;
        }
        principal.authorize(&self.grid)?;
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>) -> Done<incident::Model, Self::Output> {
        let m = self.incident;
        let am: incident::ActiveModel = m.clone().into_active_model().reset_all();
        am.insert(tx.txn).await?;
        record(tx.txn, tx.source, &m, "reported", None, None).await?;
        if let Some(house) = &m.house_code {
            reclassify_house(tx.txn, tx.source, house).await?;
        }
        if let Some(photo) = m.media_url.as_deref().and_then(photo_of) {
            access::attach_media(tx, "incident", &m.id.to_string(), &[photo.to_owned()]).await?;
        }
        Ok(Applied {
            output: view(&m),
            record: m,
        })
    }
}

/// `input` checked and placed: the incident to write, `reported` at the grid level of its place.
async fn prepare(w: &Write, input: &NewIncident) -> Result<Report, ApiError> {
    let grid = w.grid();
    let cat = category(input.category.trim()).ok_or_else(|| {
        ApiError::InvalidInput(format!(
            "category must be one of {}",
            CATEGORIES.map(|c| c.code).join(", ")
        ))
    })?;
    let description = input.description.trim();
    if description.is_empty() || description.chars().count() > 4000 {
        return Err(ApiError::InvalidInput(
            "description: 1 to 4000 characters".into(),
        ));
    }
    let (grid_code, house_code, house_address) = locate(&grid.db, &w.principal, input).await?;
    let now = Utc::now();
    let hours = grid.settings.incident_deadline_hours;
    let contact = input.contact.clone().filter(|c| !c.is_empty());
    Ok(Report {
        grid: stored_grid(&grid_code)?,
        incident: incident::Model {
            id: Uuid::now_v7(),
            category: cat.code.to_owned(),
            description: description.to_owned(),
            grid_code,
            house_code,
            lat: input.lat,
            lng: input.lng,
            address: input
                .address
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .or(house_address),
            media_url: input.media_url.clone(),
            contact: contact
                .as_ref()
                .map(|c| serde_json::to_value(c).unwrap_or_default()),
            // Who reported it, whatever the channel (a collected report is still the worker's).
            reporter_kind: Source::of(&w.principal).kind,
            reporter: w.principal.subject.clone(),
            level: Level::Grid.as_str().to_owned(),
            status: Status::Reported.as_str().to_owned(),
            assignee: None,
            deadline: now + chrono::Duration::hours(i64::from(hours)),
            deadline_hours: i32::try_from(hours).unwrap_or(i32::MAX),
            overdue: false,
            resolution: None,
            resolved_by: None,
            version: 1,
            created_at: now,
            updated_at: now,
        },
    })
}

/// Report an incident as `w`: it starts `reported` at the grid level of its place.
pub async fn create(w: &Write, input: &NewIncident) -> Result<IncidentView, ApiError> {
    let report = prepare(w, input).await?;
    w.create(report).await
}

/// `POST /incidents` as `w` without an idempotency key (a collected record is made exactly-once
/// by its client id instead).
pub async fn report_collected(w: Write, body: JsonBody) -> Result<Answer, ApiError> {
    let input: NewIncident = body::parse(&body, "an incident")?;
    Answer::created(create(&w, &input).await?)
}

/// Its steps, oldest first.
pub async fn steps(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<StepView>, ApiError> {
    Ok(incident_step::Entity::find()
        .filter(incident_step::Column::IncidentId.eq(id))
        .order_by_asc(incident_step::Column::Version)
        .order_by_asc(incident_step::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|s| StepView {
            step: s.step,
            from: s.from_status,
            to: s.to_status,
            level: s.level,
            actor: s.actor,
            note: s.note,
            version: s.version,
            evidence_seq: s.evidence_seq,
            at: s.at,
        })
        .collect())
}

/// A page of visible incidents, newest first.
pub async fn list_page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    status: Option<&str>,
    level: Option<&str>,
    limit: u64,
    cursor: Option<Uuid>,
) -> Result<Vec<incident::Model>, ApiError> {
    let mut q = incident::Entity::find().filter(access::incidents_visible(principal)?);
    if let Some(s) = status {
        q = q.filter(incident::Column::Status.eq(s));
    }
    if let Some(l) = level {
        q = q.filter(incident::Column::Level.eq(l));
    }
    paging::rows(
        conn,
        q,
        incident::Column::Id,
        Order::Descending,
        cursor,
        limit,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Moving on and escalating

/// Write `after` over the row that is still at `before_version`.
async fn save(
    txn: &sea_orm::DatabaseTransaction,
    after: &incident::Model,
    before_version: i64,
) -> Result<(), ApiError> {
    let am = after.clone().into_active_model().reset_all();
    let done = incident::Entity::update_many()
        .set(am)
        .filter(incident::Column::Id.eq(after.id))
        .filter(incident::Column::Version.eq(before_version))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::conflict(
            "version-conflict",
            "the incident changed meanwhile; read it again",
        ));
    }
    Ok(())
}

fn closed(m: &incident::Model) -> Result<(), ApiError> {
    if stored_status(m)? == Status::Closed {
        return Err(ApiError::conflict(
            "incident-closed",
            format!("incident {} is closed", m.id),
        ));
    }
    Ok(())
}

/// A transition request parsed: where to, with what.
struct Move {
    to: Status,
    note: Option<String>,
    assignee: Option<String>,
}

impl Move {
    fn parse(req: TransitionRequest) -> Result<Move, ApiError> {
        let to = Status::parse(req.to.trim()).ok_or_else(|| {
            ApiError::InvalidInput(format!(
                "to must be one of {}",
                Status::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?;
        let given = |v: Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        };
        let step = Move {
            to,
            note: given(req.note),
            assignee: given(req.assignee),
        };
        if to == Status::Assigned && step.assignee.is_none() {
            return Err(ApiError::InvalidInput(
                "assignee is required to assign an incident".into(),
            ));
        }
        if to == Status::Resolved && step.note.is_none() {
            return Err(ApiError::InvalidInput(
                "note (the resolution) is required to resolve".into(),
            ));
        }
        Ok(step)
    }
}

#[async_trait::async_trait]
impl Change<incident::Model> for Move {
    type Output = IncidentView;

    /// The handler of its level; its assignee to resolve it; never the resolver to verify it.
    fn authorize(&self, principal: &Principal, m: &incident::Model) -> Result<(), ApiError> {
        let level = stored_level(m)?;
        let handler = handles(principal, level, &m.grid_code);
        let resolving_assignee = self.to == Status::Resolved
            && m.assignee.as_deref() == Some(principal.subject.as_str());
        if !handler && !resolving_assignee {
            return Err(ApiError::Forbidden(format!(
                "only the {} handler of grid {} (or its assignee, to resolve it) may move this incident",
                level.as_str(),
                m.grid_code
            )));
        }
        if self.to == Status::Verified
            && m.resolved_by.as_deref() == Some(principal.subject.as_str())
        {
            return Err(ApiError::Forbidden(
                "the one who resolved an incident may not verify it".into(),
            ));
        }
        Ok(())
    }

    fn check(&self, m: &incident::Model) -> Result<(), ApiError> {
        closed(m)?;
        let from = stored_status(m)?;
        if !from.next().contains(&self.to) {
            return Err(ApiError::unprocessable(
                "illegal-transition",
                format!(
                    "an incident {} cannot become {}; allowed: [{}]",
                    from.as_str(),
                    self.to.as_str(),
                    allowed(from)
                ),
            ));
        }
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>, m: incident::Model) -> Done<incident::Model, Self::Output> {
        let from = stored_status(&m)?;
        let mut after = m.clone();
        match self.to {
            Status::Assigned => after.assignee = self.assignee,
            Status::Resolved => {
                after.resolution = self.note.clone();
                after.resolved_by = Some(tx.principal.subject.clone());
            }
            _ => {}
        }
        after.status = self.to.as_str().to_owned();
        after.version = m.version + 1;
        after.updated_at = Utc::now();
        save(tx.txn, &after, m.version).await?;
        record(
            tx.txn,
            tx.source,
            &after,
            self.to.as_str(),
            Some(from),
            self.note.as_deref(),
        )
        .await?;
        // Resolved, it no longer counts among the house's open incidents.
        if let (Some(house), true) = (&after.house_code, from.is_open() && !self.to.is_open()) {
            reclassify_house(tx.txn, tx.source, house).await?;
        }
        Ok(Applied {
            output: view(&after),
            record: after,
        })
    }
}

fn allowed(from: Status) -> String {
    let next: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
    next.join(", ")
}

/// The incident one level up: `reported` there, no assignee, a new deadline from `now`.
fn escalated(m: &incident::Model, up: Level, now: DateTime<Utc>) -> incident::Model {
    let mut after = m.clone();
    after.level = up.as_str().to_owned();
    after.status = Status::Reported.as_str().to_owned();
    after.assignee = None;
    after.deadline = now + chrono::Duration::hours(i64::from(m.deadline_hours));
    after.version = m.version + 1;
    after.updated_at = now;
    after
}

/// An escalation by hand.
struct Escalation {
    reason: String,
}

#[async_trait::async_trait]
impl Change<incident::Model> for Escalation {
    type Output = IncidentView;

    fn authorize(&self, principal: &Principal, m: &incident::Model) -> Result<(), ApiError> {
        let level = stored_level(m)?;
        if !handles(principal, level, &m.grid_code) {
            return Err(ApiError::Forbidden(format!(
                "only the {} handler of grid {} may escalate this incident",
                level.as_str(),
                m.grid_code
            )));
        }
        Ok(())
    }

    fn check(&self, m: &incident::Model) -> Result<(), ApiError> {
        closed(m)?;
        let from = stored_status(m)?;
        if !from.is_open() {
            return Err(ApiError::unprocessable(
                "cannot-escalate",
                format!("an incident {} is no longer escalated", from.as_str()),
            ));
        }
        if stored_level(m)?.up().is_none() {
            return Err(ApiError::unprocessable(
                "cannot-escalate",
                "the district is the highest level",
            ));
        }
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>, m: incident::Model) -> Done<incident::Model, Self::Output> {
        let from = stored_status(&m)?;
        let up = stored_level(&m)?.up().ok_or_else(|| {
            ApiError::unprocessable("cannot-escalate", "the district is the highest level")
        })?;
        let after = escalated(&m, up, Utc::now());
        save(tx.txn, &after, m.version).await?;
        record(
            tx.txn,
            tx.source,
            &after,
            "escalated",
            Some(from),
            Some(&self.reason),
        )
        .await?;
        Ok(Applied {
            output: view(&after),
            record: after,
        })
    }
}

/// Escalate every incident not yet resolved whose deadline is before `now` one level up (at the
/// district: mark it overdue, once). Each in its own transaction with its step, evidence and
/// event; rows another replica is working on are skipped (`FOR UPDATE SKIP LOCKED`), and the
/// write is conditional on the version, so two sweeps never escalate one incident twice.
/// Returns the incidents it changed. The caller notifies the relay (it also polls).
pub async fn escalate_overdue(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, ApiError> {
    let due: Vec<(Uuid, String)> = incident::Entity::find()
        .select_only()
        .column(incident::Column::Id)
        .column(incident::Column::GridCode)
        .filter(incident::Column::Status.is_in(OPEN))
        .filter(incident::Column::Deadline.lt(now))
        .filter(
            Condition::any()
                .add(incident::Column::Level.ne(Level::District.as_str()))
                .add(incident::Column::Overdue.eq(false)),
        )
        .order_by_asc(incident::Column::Deadline)
        .limit(1000)
        .into_tuple()
        .all(db)
        .await?;
    let source = Source::system("escalation");
    let mut changed = Vec::new();
    for (id, grid_code) in due {
        let sweeper = access::system("escalation", &stored_grid(&grid_code)?);
        let escalated = write::transaction(db, &sweeper, &source, async |tx| {
            // Nothing to do after all (another replica did it), or the row changed meanwhile:
            // an `Ok(false)` rolls nothing back that was written.
            escalate_one(tx, id, now).await
        })
        .await;
        match escalated {
            Ok(true) => changed.push(id),
            Ok(false) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}

/// Escalate incident `id` in `tx` if it is still overdue at `now`; whether it did.
async fn escalate_one(tx: &Tx<'_>, id: Uuid, now: DateTime<Utc>) -> Result<bool, ApiError> {
    if tx.get_database_backend() == sea_orm::DbBackend::Postgres {
        let got = tx
            .txn
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT id FROM incidents WHERE id = $1 FOR UPDATE SKIP LOCKED",
                [sea_orm::Value::from(id)],
            ))
            .await?;
        if got.is_none() {
            return Ok(false);
        }
    }
    let Some(m) = incident::Entity::find_by_id(id).one(tx.txn).await? else {
        return Ok(false);
    };
    let from = stored_status(&m)?;
    let level = stored_level(&m)?;
    if !from.is_open() || m.deadline >= now || (level == Level::District && m.overdue) {
        return Ok(false);
    }
    let (after, step, note) = match level.up() {
        Some(up) => (
            escalated(&m, up, now),
            "escalated",
            format!("overdue at the {} level", level.as_str()),
        ),
        None => {
            let mut after = m.clone();
            after.overdue = true;
            after.version = m.version + 1;
            after.updated_at = now;
            (after, "overdue", "overdue at the district".to_owned())
        }
    };
    save(tx.txn, &after, m.version).await?;
    record(tx.txn, tx.source, &after, step, Some(from), Some(&note)).await?;
    Ok(true)
}

/// Run [`escalate_overdue`] every `every` until `stop`.
pub fn spawn_escalation(
    db: DatabaseConnection,
    relay: zw_bus::RelayHandle,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            match escalate_overdue(&db, Utc::now()).await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::info!(count = ids.len(), "overdue incidents escalated");
                    relay.notify();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "incident escalation sweep failed"),
            }
        }
    })
}

/// Record a step of `after` in `txn`: its evidence, its `incident_steps` row and its event
/// (the write operation appends the evidence and inserts the step that names it just before it
/// commits: `zw_evidence::at_commit`).
async fn record(
    txn: &sea_orm::DatabaseTransaction,
    source: &Source,
    after: &incident::Model,
    step: &str,
    from: Option<Status>,
    note: Option<&str>,
) -> Result<(), ApiError> {
    let grid = stored_grid(&after.grid_code)?;
    let row = incident_step::ActiveModel {
        id: Set(Uuid::now_v7()),
        incident_id: Set(after.id),
        step: Set(step.to_owned()),
        from_status: Set(from.map(|s| s.as_str().to_owned())),
        to_status: Set(after.status.clone()),
        level: Set(after.level.clone()),
        actor: Set(source.actor.clone()),
        note: Set(note.map(str::to_owned)),
        version: Set(after.version),
        evidence_seq: sea_orm::NotSet,
        at: Set(after.updated_at),
    };
    let backend = sea_orm::ConnectionTrait::get_database_backend(txn);
    zw_evidence::at_commit::append_at_commit(
        txn,
        zw_evidence::NewEvidence {
            actor: &source.actor,
            action: &format!("incident.{step}"),
            object: &format!("incident/{}", after.id),
            payload: &serde_json::json!({
                "step": step,
                "from": from.map(Status::as_str),
                "to": after.status,
                "level": after.level,
                "category": after.category,
                "grid_code": after.grid_code,
                "assignee": after.assignee,
                "deadline": after.deadline,
                "version": after.version,
                "note": note,
                "source": source,
            }),
        },
        Some(Box::new(move |seq| {
            let mut row = row;
            row.evidence_seq = Set(seq);
            sea_orm::QueryTrait::build(&incident_step::Entity::insert(row), backend)
        })),
    )
    .await?;
    let event = Event::IncidentChanged(IncidentChanged {
        incident_id: after.id,
        change: step.to_owned(),
        status: after.status.clone(),
        level: after.level.clone(),
        category: after.category.clone(),
        version: after.version,
    });
    crate::ledger::enqueue(txn, &event, &grid, source).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Report an incident (by a grid worker in his grid, a citizen, a department with the
/// `incidents` data set, or an officer in his scope). It starts `reported` at the grid level.
#[utoipa::path(
    post,
    path = "/api/v1/grid/incidents",
    request_body = NewIncident,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key: the same key and body return the first response")),
    responses(
        (status = 201, body = IncidentView),
        (status = 400, description = "Malformed input, unknown category, no location", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reporter role, outside the caller's scope, or a department without the `incidents` data set", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `location-unknown` (no grid with a known centre for lat/lng), `unknown-media`, or `idempotency-key-reused`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn report(w: Write, req: HttpRequest, body: JsonBody) -> Result<Answer, ApiError> {
    let input: NewIncident = body::parse(&body, "an incident")?;
    let w = w.idempotent(IdempotencyKey::from_request(&req, &body)?);
    w.create_once(async || prepare(&w, &input).await).await
}

/// Filter of the incident list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentFilter {
    /// Only incidents in this status.
    pub status: Option<String>,
    /// Only incidents handled at this level.
    pub level: Option<String>,
}

/// Incidents the caller may see, newest first: a citizen those he reported, staff and
/// departments (with the `incidents` data set) those in their scope.
#[utoipa::path(
    get,
    path = "/api/v1/grid/incidents",
    params(IncidentFilter, PageQuery),
    responses(
        (status = 200, body = Page<IncidentView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<IncidentFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let cursor = parse_cursor(page.cursor.as_deref())?;
    if let Some(s) = filter.status.as_deref()
        && Status::parse(s).is_none()
    {
        return Err(ApiError::invalid("status", "unknown status"));
    }
    if let Some(l) = filter.level.as_deref()
        && Level::parse(l).is_none()
    {
        return Err(ApiError::invalid("level", "unknown level"));
    }
    let rows = list_page(
        &grid.db,
        &principal,
        filter.status.as_deref(),
        filter.level.as_deref(),
        limit,
        cursor,
    )
    .await?;
    let views: Vec<IncidentView> = rows.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.to_string())))
}

/// One incident with its steps (each with its evidence record's sequence number). The
/// reporter's contact details only for the handler of its current level.
#[utoipa::path(
    get,
    path = "/api/v1/grid/incidents/{id}",
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, body = IncidentView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that sees no incidents", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_one(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let m = access::incident(&grid.db, &principal, id.into_inner()).await?;
    let mut v = view(&m);
    v.steps = Some(steps(&grid.db, m.id).await?);
    if Level::parse(&m.level).is_some_and(|l| handles(&principal, l, &m.grid_code)) {
        v.contact = m
            .contact
            .as_ref()
            .and_then(|c| serde_json::from_value(c.clone()).ok());
    }
    Ok(HttpResponse::Ok().json(v))
}

/// Move an incident on: reported → accepted → assigned (`assignee`) → resolved (`note`, the
/// resolution; also by the assignee) → verified (not by whoever resolved it) → closed. Only the
/// handler of its current level acts.
#[utoipa::path(
    post,
    path = "/api/v1/grid/incidents/{id}/transitions",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = TransitionRequest,
    responses(
        (status = 200, body = IncidentView),
        (status = 400, description = "Malformed body, unknown status, missing assignee or resolution", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the handler of the current level (or the assignee resolving), or verifying what you resolved yourself", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`incident-closed` or `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`illegal-transition`: the detail lists the allowed targets", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn transition(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<Answer, ApiError> {
    let req: TransitionRequest = body::parse(&body, "`to`")?;
    let seen = req.expected_version;
    Answer::ok(w.change(&id.into_inner(), seen, Move::parse(req)?).await?)
}

/// Hand an incident to the next level up (grid → community → street → district), by the
/// handler of its current level, when it is beyond him. It is `reported` again at the new
/// level, unassigned, with a new deadline.
#[utoipa::path(
    post,
    path = "/api/v1/grid/incidents/{id}/escalate",
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = EscalationRequest,
    responses(
        (status = 200, body = IncidentView),
        (status = 400, description = "Malformed body or no reason", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the handler of the current level", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such incident that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`incident-closed` or `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cannot-escalate`: already at the district, or already resolved", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn escalate(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<Answer, ApiError> {
    let req: EscalationRequest = body::parse(&body, "`reason`")?;
    let reason = req.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::InvalidInput("reason is required".into()));
    }
    let escalation = Escalation { reason };
    Answer::ok(
        w.change(&id.into_inner(), req.expected_version, escalation)
            .await?,
    )
}
