//! Houses (一户一码): one code per house, legal or not, from planned to demolished; census
//! rounds; classification by category, level and colour (分类分级分色) from operator rules.
//!
//! # Codes
//! A new house gets the next serial of its grid: the highest serial ever issued there plus one,
//! so the code of a demolished house (which stays in the table, retired) is never issued again.
//! Concurrent registrations in one grid serialise on the grid's row (PostgreSQL) and, should two
//! still pick the same serial, the loser retries on the primary key violation.
//!
//! # Life cycle
//! ```text
//! planned ──► built ──► in_use ◄──► rented
//!                 └──────────────────► rented      (a new building let straight away)
//! any state except demolished ──► demolished       (terminal)
//! ```
//! A demolished house refuses every change with 409 `house-demolished` (it cannot be rented,
//! edited or seen again); demolishing a house where people are still registered as living is
//! 409 `house-occupied` (they move out first); any other move is 422 `illegal-transition`, naming
//! the moves allowed from the current state.
//!
//! # Every change
//! In one transaction: the row (version + 1), [`crate::ledger::record`] (life event, evidence,
//! outbox event), then the rules: [`crate::rules::classify`] on the house's [`facts`] (the level
//! and colour are stored when a rule set decides) and [`crate::rules::on_change`]. A request may
//! carry `expected_version`: a mismatch is 409 `version-conflict` and nothing changes. An
//! incident reported at a house or resolved there classifies the house again in the incident's
//! transaction (a `reclassified` life event when its class changed).
//!
//! # Census
//! A round opened on a grid (one open round per grid) is closed by the grid worker after walking
//! it; every house not demolished and not sighted since the round opened is then marked
//! `not_seen` (a life event each).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{MaybePrincipal, Principal, Role};
use zw_contracts::DeclarationStatus;
use zw_domain::{HouseCode, JurisdictionCode, Level, Phone};
use zw_platform::Problem;
use zw_platform::db::BeginWrite;
use zw_platform::page::{Page, PageQuery};

use crate::declarations::{Grid, STAFF};
use crate::error::{ApiError, check_version, parse_json};
use crate::ledger::{self, Source, Step, SubjectKind};
use crate::locks::lock;
use crate::model::{declaration, grid, house, resident};
use crate::privacy::{self, Field, Masker};
use crate::rules;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_house,
        list_houses,
        get_house,
        patch_house,
        transition,
        reclassify,
        open_census,
        close_census,
        sighting
    ),
    components(schemas(
        NewHouse,
        HouseView,
        HouseDetail,
        HousePatch,
        Transition,
        Reclassified,
        CensusRound,
        VersionOnly
    ))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/houses")
            .route(web::post().to(create_house))
            .route(web::get().to(list_houses)),
    )
    .service(web::resource("/api/v1/grid/houses/reclassify").route(web::post().to(reclassify)))
    .service(
        web::resource("/api/v1/grid/houses/{code}")
            .route(web::get().to(get_house))
            .route(web::patch().to(patch_house)),
    )
    .service(
        web::resource("/api/v1/grid/houses/{code}/transitions").route(web::post().to(transition)),
    )
    .service(web::resource("/api/v1/grid/houses/{code}/sightings").route(web::post().to(sighting)))
    .service(web::resource("/api/v1/grid/grids/{code}/census").route(web::post().to(open_census)))
    .service(
        web::resource("/api/v1/grid/grids/{code}/census/{id}/close")
            .route(web::post().to(close_census)),
    );
}

/// The tables of this module.
pub mod model {
    /// Census rounds of a grid.
    pub mod census_round {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "census_rounds")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub grid_code: String,
            pub opened_at: DateTimeUtc,
            pub opened_by: String,
            pub closed_at: Option<DateTimeUtc>,
            pub closed_by: Option<String>,
            /// The codes marked not seen when it closed (a JSON array).
            pub not_seen: Option<Json>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use model::census_round;

/// The states of a house.
pub const STATUSES: [&str; 5] = ["planned", "built", "in_use", "rented", "demolished"];

/// Building categories.
pub const CATEGORIES: [&str; 7] = [
    "residential",
    "commercial",
    "mixed",
    "industrial",
    "public",
    "warehouse",
    "other",
];

/// Where a house in `from` may go (see the module documentation).
pub fn allowed_moves(from: &str) -> &'static [&'static str] {
    match from {
        "planned" => &["built", "demolished"],
        "built" => &["in_use", "rented", "demolished"],
        "in_use" => &["rented", "demolished"],
        "rented" => &["in_use", "demolished"],
        _ => &[],
    }
}

/// The officers who act on houses of their jurisdiction.
const OFFICERS: [Role; 4] = [
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
    Role::Admin,
];

/// Who may change a house of `grid`: its grid worker or an officer whose scope holds it.
fn may_change(principal: &Principal, grid: &JurisdictionCode) -> Result<(), ApiError> {
    principal.require_role(&[
        Role::GridWorker,
        Role::CommunityOfficer,
        Role::StreetOfficer,
        Role::DistrictOfficer,
        Role::Admin,
    ])?;
    principal.authorize(grid)?;
    Ok(())
}

fn stored_grid(code: &str) -> Result<JurisdictionCode, ApiError> {
    JurisdictionCode::parse(code)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code {code}: {e}")))
}

fn parse_house(code: &str) -> Result<HouseCode, ApiError> {
    HouseCode::parse(code.trim()).map_err(|e| ApiError::invalid("house code", e))
}

// ---------------------------------------------------------------------------------------------
// Views

/// What the declaration page shows of a house (public: it is printed on the door).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HouseView {
    pub code: String,
    pub grid_code: String,
    pub address: String,
    pub status: String,
}

/// A house as staff see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HouseDetail {
    pub code: String,
    pub grid_code: String,
    pub address: String,
    /// `planned`, `built`, `in_use`, `rented` or `demolished`.
    pub status: String,
    pub legal: bool,
    pub category: String,
    pub registered_size: i32,
    pub class_level: Option<String>,
    pub colour: Option<String>,
    pub classified_by_rules: Option<i64>,
    /// Personal data: plain, masked or left out, as the masking policy says for the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlord_name: Option<String>,
    /// Personal data, as `landlord_name` (masked: `138****5678`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landlord_phone: Option<String>,
    pub version: i64,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub not_seen: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The staff view of `m` for the caller of `masker`: the landlord's name and phone (personal
/// data) plain, masked or left out as the masking policy says for him.
pub fn detail(masker: &Masker<'_>, m: &house::Model) -> HouseDetail {
    HouseDetail {
        code: m.code.clone(),
        grid_code: m.grid_code.clone(),
        address: m.address.clone(),
        status: m.status.clone(),
        legal: m.legal,
        category: m.category.clone(),
        registered_size: m.registered_size,
        class_level: m.class_level.clone(),
        colour: m.colour.clone(),
        classified_by_rules: m.classified_by_rules,
        landlord_name: masker.show(Field::HouseLandlordName, m.landlord_name.as_deref()),
        landlord_phone: masker.show(Field::HouseLandlordPhone, m.landlord_phone.as_deref()),
        version: m.version,
        last_seen_at: m.last_seen_at,
        not_seen: m.not_seen,
        updated_at: m.updated_at,
    }
}

/// [`detail`] under the masking policy in force.
pub async fn detail_for(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    m: &house::Model,
) -> Result<HouseDetail, ApiError> {
    let policy = privacy::current(conn).await?;
    Ok(detail(&Masker::new(&policy, principal), m))
}

// ---------------------------------------------------------------------------------------------
// Facts and the common tail of every change

/// The flat dotted facts the rules look at for house `h` (see [`crate::rules`]).
pub async fn facts(
    conn: &impl ConnectionTrait,
    h: &house::Model,
    previous_status: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let residents = resident::Entity::find()
        .filter(resident::Column::HouseCode.eq(h.code.as_str()))
        .count(conn)
        .await?;
    let pending = declaration::Entity::find()
        .filter(declaration::Column::HouseCode.eq(h.code.as_str()))
        .filter(declaration::Column::Status.eq(DeclarationStatus::Pending.as_str()))
        .count(conn)
        .await?;
    let open_incidents = crate::incidents::incident::Entity::find()
        .filter(crate::incidents::incident::Column::HouseCode.eq(h.code.as_str()))
        .filter(crate::incidents::incident::Column::Status.is_in(crate::incidents::OPEN))
        .count(conn)
        .await?;
    Ok(facts_with(
        h,
        previous_status,
        residents,
        pending,
        open_incidents,
    ))
}

/// [`facts`] from counts already known (a bulk import knows a new house has none of them).
pub fn facts_with(
    h: &house::Model,
    previous_status: Option<&str>,
    residents: u64,
    pending: u64,
    open_incidents: u64,
) -> serde_json::Value {
    serde_json::json!({
        "house.status": h.status,
        "house.previous_status": previous_status,
        "house.legal": h.legal,
        "house.category": h.category,
        "house.registered_size": h.registered_size,
        "house.residents": residents,
        "house.pending_declarations": pending,
        "house.not_seen": h.not_seen,
        "house.open_incidents": open_incidents,
    })
}

/// Store the classification the current rules give `h`, if any and if different.
async fn classify(
    txn: &DatabaseTransaction,
    h: house::Model,
    facts: &serde_json::Value,
) -> Result<(house::Model, bool), ApiError> {
    let Some(c) = rules::classify(txn, facts).await? else {
        return Ok((h, false));
    };
    if h.class_level.as_deref() == Some(c.level.as_str())
        && h.colour.as_deref() == Some(c.colour.as_str())
        && h.classified_by_rules == Some(c.rules_version)
    {
        return Ok((h, false));
    }
    let mut am: house::ActiveModel = h.into();
    am.class_level = Set(Some(c.level));
    am.colour = Set(Some(c.colour));
    am.classified_by_rules = Set(Some(c.rules_version));
    Ok((am.update(txn).await?, true))
}

/// After the row is written (with its new version): the ledger, the classification, the rules.
async fn recorded(
    txn: &DatabaseTransaction,
    source: &Source,
    h: house::Model,
    change: &str,
    previous_status: Option<&str>,
    details: serde_json::Value,
) -> Result<house::Model, ApiError> {
    let grid = stored_grid(&h.grid_code)?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::House,
            key: &h.code,
            change,
            state: &h.status,
            house_code: Some(&h.code),
            grid: &grid,
            version: h.version,
            details,
        },
    )
    .await?;
    let facts = facts(txn, &h, previous_status).await?;
    let (h, _) = classify(txn, h, &facts).await?;
    rules::on_change(
        txn,
        source,
        rules::Trigger {
            kind: SubjectKind::House,
            key: &h.code,
            grid: &grid,
            change,
            facts,
        },
    )
    .await?;
    Ok(h)
}

/// Lock house `code` (PostgreSQL) and read it inside `txn`.
async fn locked(txn: &DatabaseTransaction, code: &HouseCode) -> Result<house::Model, ApiError> {
    lock(
        txn,
        "SELECT code FROM houses WHERE code = $1 FOR UPDATE",
        code.as_str(),
    )
    .await?;
    house::Entity::find_by_id(code.to_string())
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no house {code}")))
}

fn not_demolished(h: &house::Model) -> Result<(), ApiError> {
    if h.status == "demolished" {
        return Err(ApiError::conflict(
            "house-demolished",
            format!("house {} is demolished: it cannot change any more", h.code),
        ));
    }
    Ok(())
}

/// The row as `am` with the version bumped and `updated_at` now, written.
async fn bump(
    txn: &DatabaseTransaction,
    h: &house::Model,
    mut am: house::ActiveModel,
) -> Result<house::Model, ApiError> {
    am.version = Set(h.version + 1);
    am.updated_at = Set(Some(Utc::now()));
    Ok(am.update(txn).await?)
}

// ---------------------------------------------------------------------------------------------
// Registration

/// A house to register.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHouse {
    #[schema(example = "440304001001001")]
    pub grid_code: String,
    #[schema(example = "Building 3, Unit 1, Room 402")]
    pub address: String,
    /// `residential`, `commercial`, `mixed`, `industrial`, `public`, `warehouse` or `other`.
    pub category: String,
    /// Illegal buildings get a code too.
    pub legal: bool,
    /// How many people it is registered for.
    pub registered_size: i32,
    /// `planned` (default) or `built`.
    pub status: Option<String>,
    pub landlord_name: Option<String>,
    pub landlord_phone: Option<String>,
}

fn check_address(a: &str) -> Result<String, ApiError> {
    let a = a.trim();
    if a.is_empty() || a.chars().count() > 200 {
        return Err(ApiError::InvalidInput(
            "address must be 1 to 200 characters".into(),
        ));
    }
    Ok(a.to_owned())
}

fn check_category(c: &str) -> Result<String, ApiError> {
    if !CATEGORIES.contains(&c) {
        return Err(ApiError::InvalidInput(format!(
            "category must be one of {}, not {c:?}",
            CATEGORIES.join(", ")
        )));
    }
    Ok(c.to_owned())
}

fn check_size(n: i32) -> Result<i32, ApiError> {
    if !(0..=999).contains(&n) {
        return Err(ApiError::InvalidInput(
            "registered_size must be between 0 and 999".into(),
        ));
    }
    Ok(n)
}

/// `Some("")` clears (`None`), anything else is checked.
fn check_landlord_name(n: Option<&str>) -> Result<Option<String>, ApiError> {
    let n = n.map(str::trim).filter(|n| !n.is_empty());
    if n.is_some_and(|n| n.chars().count() > 64) {
        return Err(ApiError::InvalidInput(
            "landlord_name must be at most 64 characters".into(),
        ));
    }
    Ok(n.map(str::to_owned))
}

fn check_landlord_phone(p: Option<&str>) -> Result<Option<String>, ApiError> {
    p.map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            Phone::parse(p)
                .map(|p| p.as_str().to_owned())
                .map_err(|e| ApiError::invalid("landlord_phone", e))
        })
        .transpose()
}

/// Register a house (its grid's worker, or an officer in scope): it gets the next code of the
/// grid, never one used before.
#[utoipa::path(
    post,
    path = "/api/v1/grid/houses",
    request_body = NewHouse,
    responses(
        (status = 201, body = HouseDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such grid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The grid has issued all 9999 codes", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create_house(
    grid: web::Data<Grid>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: NewHouse = parse_json(
        &body,
        "grid_code, address, category, legal, registered_size",
    )?;
    let grid_code = JurisdictionCode::parse(input.grid_code.trim())
        .map_err(|e| ApiError::invalid("grid_code", e))?;
    if grid_code.level() != Level::Grid {
        return Err(ApiError::InvalidInput(format!(
            "grid_code: {grid_code} is not a grid code"
        )));
    }
    may_change(&principal, &grid_code)?;
    let status = input.status.as_deref().unwrap_or("planned");
    if !matches!(status, "planned" | "built") {
        return Err(ApiError::InvalidInput(format!(
            "a new house is planned or built, not {status:?}"
        )));
    }
    let address = check_address(&input.address)?;
    let category = check_category(&input.category)?;
    let size = check_size(input.registered_size)?;
    let landlord_name = check_landlord_name(input.landlord_name.as_deref())?;
    let landlord_phone = check_landlord_phone(input.landlord_phone.as_deref())?;
    if grid::Entity::find_by_id(grid_code.to_string())
        .one(&grid.db)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound(format!("no grid {grid_code}")));
    }
    let source = Source::of(&principal);
    // Two registrations that still pick the same serial (SQLite, or a race PostgreSQL's lock
    // cannot see): the loser tries again with the next one.
    let mut attempt = 0;
    let h = loop {
        attempt += 1;
        let txn = grid.db.begin_write().await?;
        lock(
            &txn,
            "SELECT code FROM grids WHERE code = $1 FOR UPDATE",
            grid_code.as_str(),
        )
        .await?;
        let last = house::Entity::find()
            .filter(house::Column::Code.starts_with(grid_code.as_str()))
            .order_by_desc(house::Column::Code)
            .one(&txn)
            .await?;
        let serial = match &last {
            Some(h) => {
                h.code
                    .get(15..19)
                    .and_then(|s| s.parse::<u16>().ok())
                    .unwrap_or(0)
                    + 1
            }
            None => 1,
        };
        let code = HouseCode::new(&grid_code, serial).map_err(|_| {
            ApiError::conflict(
                "grid-codes-exhausted",
                format!("grid {grid_code} has issued all 9999 house codes"),
            )
        })?;
        let now = Utc::now();
        let inserted = house::ActiveModel {
            code: Set(code.to_string()),
            grid_code: Set(grid_code.to_string()),
            address: Set(address.clone()),
            status: Set(status.to_owned()),
            registered_size: Set(size),
            legal: Set(input.legal),
            category: Set(category.clone()),
            class_level: Set(None),
            colour: Set(None),
            classified_by_rules: Set(None),
            landlord_name: Set(landlord_name.clone()),
            landlord_phone: Set(landlord_phone.clone()),
            version: Set(1),
            last_seen_at: Set(None),
            not_seen: Set(false),
            updated_at: Set(Some(now)),
        }
        .insert(&txn)
        .await;
        let h = match inserted {
            Ok(h) => h,
            Err(e)
                if attempt < 5
                    && matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
            {
                txn.rollback().await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let h = recorded(
            &txn,
            &source,
            h,
            "registered",
            None,
            serde_json::json!({ "legal": input.legal, "category": category }),
        )
        .await?;
        txn.commit().await?;
        break h;
    };
    grid.relay.notify();
    Ok(HttpResponse::Created().json(detail_for(&grid.db, &principal, &h).await?))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Filter of the house list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HouseFilter {
    /// Houses registered under this grid (or any jurisdiction); default the caller's scope.
    pub grid: Option<String>,
    /// Only houses in this state.
    pub status: Option<String>,
}

/// Houses of a grid (or jurisdiction) in scope, by code, in full.
#[utoipa::path(
    get,
    path = "/api/v1/grid/houses",
    params(HouseFilter, PageQuery),
    responses(
        (status = 200, body = Page<HouseDetail>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list_houses(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<HouseFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&STAFF)?;
    let under = match filter.grid.as_deref() {
        Some(g) => JurisdictionCode::parse(g.trim()).map_err(|e| ApiError::invalid("grid", e))?,
        None => principal.scope.clone(),
    };
    principal.authorize(&under)?;
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let mut q = house::Entity::find().filter(house::Column::GridCode.starts_with(under.as_str()));
    if let Some(s) = filter.status.as_deref() {
        if !STATUSES.contains(&s) {
            return Err(ApiError::InvalidInput(format!(
                "status must be one of {}, not {s:?}",
                STATUSES.join(", ")
            )));
        }
        q = q.filter(house::Column::Status.eq(s));
    }
    if let Some(c) = page.cursor.as_deref() {
        q = q.filter(house::Column::Code.gt(c));
    }
    let rows = q
        .order_by_asc(house::Column::Code)
        .limit(limit + 1)
        .all(&grid.db)
        .await?;
    let policy = privacy::current(&grid.db).await?;
    let masker = Masker::new(&policy, &principal);
    let views: Vec<HouseDetail> = rows.iter().map(|h| detail(&masker, h)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.code.clone())))
}

/// A house, by the code on its QR label. Without a token, or for anyone but staff whose scope
/// holds its grid, what is printed on the door (a `HouseView`: code, grid, address, status);
/// for those staff the whole record (a `HouseDetail`, with its class and version).
#[utoipa::path(
    get,
    path = "/api/v1/grid/houses/{code}",
    params(("code" = String, Path, description = "House code (20 digits)")),
    responses(
        (status = 200, description = "`HouseDetail` for staff in scope, else `HouseView`", body = HouseDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A token was sent and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_house(
    grid: web::Data<Grid>,
    caller: MaybePrincipal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = parse_house(&code)?;
    let h = house::Entity::find_by_id(code.to_string())
        .one(&grid.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no house {code}")))?;
    if let Some(p) = caller.0.filter(|p| {
        p.has_any_role(&STAFF)
            && JurisdictionCode::parse(&h.grid_code).is_ok_and(|g| p.can_access(&g))
    }) {
        return Ok(HttpResponse::Ok().json(detail_for(&grid.db, &p, &h).await?));
    }
    Ok(HttpResponse::Ok().json(HouseView {
        code: h.code,
        grid_code: h.grid_code,
        address: h.address,
        status: h.status,
    }))
}

// ---------------------------------------------------------------------------------------------
// Changes

/// Attributes to change; absent fields stay as they are, an empty landlord field clears it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HousePatch {
    pub expected_version: Option<i64>,
    pub address: Option<String>,
    pub category: Option<String>,
    pub legal: Option<bool>,
    pub registered_size: Option<i32>,
    pub landlord_name: Option<String>,
    pub landlord_phone: Option<String>,
}

/// Change a house's attributes (its grid worker or an officer in scope).
#[utoipa::path(
    patch,
    path = "/api/v1/grid/houses/{code}",
    params(("code" = String, Path, description = "House code (20 digits)")),
    request_body = HousePatch,
    responses(
        (status = 200, description = "Changed (or already so: nothing written)", body = HouseDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`house-demolished` or `version-conflict`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn patch_house(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(patch_house_op(&grid, &principal, &source, code.into_inner(), &body).await)
}

/// `patch_house` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn patch_house_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    code: String,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let code = parse_house(&code)?;
    let p: HousePatch = parse_json(body, "the attributes to change")?;
    let address = p.address.as_deref().map(check_address).transpose()?;
    let category = p.category.as_deref().map(check_category).transpose()?;
    let size = p.registered_size.map(check_size).transpose()?;
    let landlord_name = p
        .landlord_name
        .as_deref()
        .map(|n| check_landlord_name(Some(n)))
        .transpose()?;
    let landlord_phone = p
        .landlord_phone
        .as_deref()
        .map(|n| check_landlord_phone(Some(n)))
        .transpose()?;
    let txn = grid.db.begin_write().await?;
    let h = locked(&txn, &code).await?;
    may_change(principal, &stored_grid(&h.grid_code)?)?;
    not_demolished(&h)?;
    check_version(&format!("house {}", h.code), p.expected_version, h.version)?;
    let mut am: house::ActiveModel = h.clone().into();
    let mut fields = Vec::new();
    if let Some(a) = address.filter(|a| *a != h.address) {
        am.address = Set(a);
        fields.push("address");
    }
    if let Some(c) = category.filter(|c| *c != h.category) {
        am.category = Set(c);
        fields.push("category");
    }
    if let Some(l) = p.legal.filter(|l| *l != h.legal) {
        am.legal = Set(l);
        fields.push("legal");
    }
    if let Some(s) = size.filter(|s| *s != h.registered_size) {
        am.registered_size = Set(s);
        fields.push("registered_size");
    }
    if let Some(n) = landlord_name.filter(|n| *n != h.landlord_name) {
        am.landlord_name = Set(n);
        fields.push("landlord_name");
    }
    if let Some(n) = landlord_phone.filter(|n| *n != h.landlord_phone) {
        am.landlord_phone = Set(n);
        fields.push("landlord_phone");
    }
    if fields.is_empty() {
        txn.rollback().await?;
        return Ok((
            StatusCode::OK,
            serde_json::to_value(detail_for(&grid.db, principal, &h).await?)
                .map_err(anyhow::Error::from)?,
        ));
    }
    let status = h.status.clone();
    let after = bump(&txn, &h, am).await?;
    // Which fields changed, not their values: the landlord's name and phone are personal data.
    let after = recorded(
        &txn,
        source,
        after,
        "updated",
        Some(&status),
        serde_json::json!({ "fields": fields }),
    )
    .await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(detail_for(&grid.db, principal, &after).await?)
            .map_err(anyhow::Error::from)?,
    ))
}

/// A move in the house's life.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// `built`, `in_use`, `rented` or `demolished`.
    #[schema(example = "rented")]
    pub to: String,
    pub expected_version: Option<i64>,
    /// Why (kept in the life event; at most 500 characters).
    pub reason: Option<String>,
}

/// Move a house to its next state (see the module documentation for the state machine).
#[utoipa::path(
    post,
    path = "/api/v1/grid/houses/{code}/transitions",
    params(("code" = String, Path, description = "House code (20 digits)")),
    request_body = Transition,
    responses(
        (status = 200, body = HouseDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`house-demolished`, `house-occupied` or `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`illegal-transition` (the detail names the allowed moves)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn transition(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(transition_op(&grid, &principal, &source, code.into_inner(), &body).await)
}

/// `transition` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn transition_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    code: String,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let code = parse_house(&code)?;
    let t: Transition = parse_json(body, "to (and expected_version, reason)")?;
    let reason = t
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::InvalidInput(
            "reason must be at most 500 characters".into(),
        ));
    }
    let txn = grid.db.begin_write().await?;
    let h = locked(&txn, &code).await?;
    may_change(principal, &stored_grid(&h.grid_code)?)?;
    not_demolished(&h)?;
    check_version(&format!("house {}", h.code), t.expected_version, h.version)?;
    let allowed = allowed_moves(&h.status);
    if !allowed.contains(&t.to.as_str()) {
        return Err(ApiError::unprocessable(
            "illegal-transition",
            format!(
                "house {} is {}: it may go to {} only, not {:?}",
                h.code,
                h.status,
                allowed.join(", "),
                t.to
            ),
        ));
    }
    if t.to == "demolished" {
        let residents = resident::Entity::find()
            .filter(resident::Column::HouseCode.eq(h.code.as_str()))
            .count(&txn)
            .await?;
        if residents > 0 {
            return Err(ApiError::conflict(
                "house-occupied",
                format!(
                    "{residents} people are registered as living in house {}: they move out before it is demolished",
                    h.code
                ),
            ));
        }
    }
    let previous = h.status.clone();
    let mut am: house::ActiveModel = h.clone().into();
    am.status = Set(t.to.clone());
    let after = bump(&txn, &h, am).await?;
    let after = recorded(
        &txn,
        source,
        after,
        &t.to,
        Some(&previous),
        serde_json::json!({ "from": previous, "reason": reason }),
    )
    .await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(detail_for(&grid.db, principal, &after).await?)
            .map_err(anyhow::Error::from)?,
    ))
}

/// Query of the reclassification.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReclassifyQuery {
    /// The jurisdiction whose houses are classified again.
    pub under: String,
}

/// How a reclassification went.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reclassified {
    pub examined: u64,
    pub changed: u64,
}

/// Classify the houses under a jurisdiction again under the current rules (officers, after an
/// operator changed the rules). Houses whose class changed get a `reclassified` life event.
#[utoipa::path(
    post,
    path = "/api/v1/grid/houses/reclassify",
    params(ReclassifyQuery),
    responses(
        (status = 200, body = Reclassified),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn reclassify(
    grid: web::Data<Grid>,
    principal: Principal,
    query: web::Query<ReclassifyQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&OFFICERS)?;
    let under =
        JurisdictionCode::parse(query.under.trim()).map_err(|e| ApiError::invalid("under", e))?;
    principal.authorize(&under)?;
    let source = Source::of(&principal);
    let mut out = Reclassified {
        examined: 0,
        changed: 0,
    };
    let mut cursor: Option<String> = None;
    // A page per transaction, so a large district does not hold one transaction for long.
    loop {
        let txn = grid.db.begin_write().await?;
        let mut q = house::Entity::find()
            .filter(house::Column::GridCode.starts_with(under.as_str()))
            .filter(house::Column::Status.ne("demolished"));
        if let Some(c) = &cursor {
            q = q.filter(house::Column::Code.gt(c.as_str()));
        }
        let page = q
            .order_by_asc(house::Column::Code)
            .limit(200)
            .all(&txn)
            .await?;
        let Some(last) = page.last() else {
            txn.rollback().await?;
            break;
        };
        cursor = Some(last.code.clone());
        for h in page {
            out.examined += 1;
            if reclassify_one(&txn, &source, h).await? {
                out.changed += 1;
            }
        }
        txn.commit().await?;
    }
    grid.relay.notify();
    Ok(HttpResponse::Ok().json(out))
}

/// Store the class the current rules give `h`; when it changed, a new version of the house and a
/// `reclassified` life event. Whether it changed.
async fn reclassify_one(
    txn: &DatabaseTransaction,
    source: &Source,
    h: house::Model,
) -> Result<bool, ApiError> {
    let facts = facts(txn, &h, None).await?;
    let before = h.clone();
    let (after, changed) = classify(txn, h, &facts).await?;
    if !changed {
        return Ok(false);
    }
    let after = bump(txn, &before, after.into()).await?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::House,
            key: &after.code,
            change: "reclassified",
            state: &after.status,
            house_code: Some(&after.code),
            grid: &stored_grid(&after.grid_code)?,
            version: after.version,
            details: serde_json::json!({
                "class_level": after.class_level,
                "colour": after.colour,
                "rules_version": after.classified_by_rules,
            }),
        },
    )
    .await?;
    Ok(true)
}

/// Classify house `code` again inside `txn` after something outside its own record that the
/// rules look at changed (an incident reported there or resolved). The house row is locked
/// first, so that two such changes at once each count the other.
pub(crate) async fn reclassify_house(
    txn: &DatabaseTransaction,
    source: &Source,
    code: &str,
) -> Result<(), ApiError> {
    let h = locked(txn, &parse_house(code)?).await?;
    if h.status != "demolished" {
        reclassify_one(txn, source, h).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Census

/// A census round.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CensusRound {
    pub id: Uuid,
    pub grid_code: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The houses marked not seen when it closed.
    pub not_seen: Vec<String>,
}

impl From<census_round::Model> for CensusRound {
    fn from(m: census_round::Model) -> Self {
        CensusRound {
            id: m.id,
            grid_code: m.grid_code,
            opened_at: m.opened_at,
            closed_at: m.closed_at,
            not_seen: m
                .not_seen
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
        }
    }
}

async fn census_grid(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    code: &str,
) -> Result<JurisdictionCode, ApiError> {
    let g = JurisdictionCode::parse(code.trim()).map_err(|e| ApiError::invalid("grid code", e))?;
    if g.level() != Level::Grid {
        return Err(ApiError::InvalidInput(format!("{g} is not a grid code")));
    }
    may_change(principal, &g)?;
    grid::Entity::find_by_id(g.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no grid {g}")))?;
    Ok(g)
}

/// Open a census round on a grid (its worker or an officer in scope); one open round per grid.
#[utoipa::path(
    post,
    path = "/api/v1/grid/grids/{code}/census",
    params(("code" = String, Path, description = "Grid code (15 digits)")),
    responses(
        (status = 201, body = CensusRound),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`census-open`: a round is already open", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn open_census(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let g = census_grid(&grid.db, &principal, &code).await?;
    let txn = grid.db.begin_write().await?;
    lock(
        &txn,
        "SELECT code FROM grids WHERE code = $1 FOR UPDATE",
        g.as_str(),
    )
    .await?;
    if let Some(open) = census_round::Entity::find()
        .filter(census_round::Column::GridCode.eq(g.as_str()))
        .filter(census_round::Column::ClosedAt.is_null())
        .one(&txn)
        .await?
    {
        return Err(ApiError::conflict(
            "census-open",
            format!("census round {} is still open on grid {g}", open.id),
        ));
    }
    let id = Uuid::now_v7();
    let round = census_round::ActiveModel {
        id: Set(id),
        grid_code: Set(g.to_string()),
        opened_at: Set(Utc::now()),
        opened_by: Set(principal.subject.clone()),
        closed_at: Set(None),
        closed_by: Set(None),
        not_seen: Set(None),
    }
    .insert(&txn)
    .await?;
    zw_evidence::append(
        &txn,
        &principal.subject,
        "census.open",
        &format!("census/{id}"),
        &serde_json::json!({ "grid_code": g.as_str() }),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(CensusRound::from(round)))
}

/// Close a census round: every house of the grid, not demolished, that nobody sighted since the
/// round opened is marked not seen; the answer lists them.
#[utoipa::path(
    post,
    path = "/api/v1/grid/grids/{code}/census/{id}/close",
    params(
        ("code" = String, Path, description = "Grid code (15 digits)"),
        ("id" = Uuid, Path, description = "Census round id"),
    ),
    responses(
        (status = 200, body = CensusRound),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`census-closed`: already closed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn close_census(
    grid: web::Data<Grid>,
    principal: Principal,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (code, id) = path.into_inner();
    let g = census_grid(&grid.db, &principal, &code).await?;
    let txn = grid.db.begin_write().await?;
    lock(
        &txn,
        "SELECT code FROM grids WHERE code = $1 FOR UPDATE",
        g.as_str(),
    )
    .await?;
    let round = census_round::Entity::find_by_id(id)
        .filter(census_round::Column::GridCode.eq(g.as_str()))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no census round {id} on grid {g}")))?;
    if round.closed_at.is_some() {
        return Err(ApiError::conflict(
            "census-closed",
            format!("census round {id} is already closed"),
        ));
    }
    let unseen = house::Entity::find()
        .filter(house::Column::GridCode.eq(g.as_str()))
        .filter(house::Column::Status.ne("demolished"))
        .filter(
            Condition::any()
                .add(house::Column::LastSeenAt.is_null())
                .add(house::Column::LastSeenAt.lt(round.opened_at)),
        )
        .order_by_asc(house::Column::Code)
        .all(&txn)
        .await?;
    let source = Source::of(&principal).via("census", id.to_string());
    let mut codes = Vec::with_capacity(unseen.len());
    for h in unseen {
        let status = h.status.clone();
        let mut am: house::ActiveModel = h.clone().into();
        am.not_seen = Set(true);
        let after = bump(&txn, &h, am).await?;
        codes.push(after.code.clone());
        recorded(
            &txn,
            &source,
            after,
            "not_seen",
            Some(&status),
            serde_json::json!({ "census_round": id }),
        )
        .await?;
    }
    let mut am: census_round::ActiveModel = round.into();
    am.closed_at = Set(Some(Utc::now()));
    am.closed_by = Set(Some(principal.subject.clone()));
    am.not_seen = Set(Some(serde_json::json!(codes)));
    let round = am.update(&txn).await?;
    zw_evidence::append(
        &txn,
        &principal.subject,
        "census.close",
        &format!("census/{id}"),
        &serde_json::json!({ "grid_code": g.as_str(), "not_seen": codes }),
    )
    .await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok(HttpResponse::Ok().json(CensusRound::from(round)))
}

/// Optional body of a sighting.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionOnly {
    pub expected_version: Option<i64>,
}

/// The grid worker saw the house (census, a visit): last seen now, no longer "not seen".
#[utoipa::path(
    post,
    path = "/api/v1/grid/houses/{code}/sightings",
    params(("code" = String, Path, description = "House code (20 digits)")),
    request_body(content = Option<VersionOnly>, description = "Optional"),
    responses(
        (status = 200, body = HouseDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`house-demolished` or `version-conflict`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn sighting(
    grid: web::Data<Grid>,
    principal: Principal,
    code: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(sighting_op(&grid, &principal, &source, code.into_inner(), &body).await)
}

/// `sighting` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn sighting_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    code: String,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    principal.require_role(&[Role::GridWorker])?;
    let code = parse_house(&code)?;
    let input: VersionOnly = if body.iter().all(u8::is_ascii_whitespace) {
        VersionOnly::default()
    } else {
        parse_json::<Option<VersionOnly>>(body, "expected_version (or no body)")?
            .unwrap_or_default()
    };
    let txn = grid.db.begin_write().await?;
    let h = locked(&txn, &code).await?;
    principal.authorize(&stored_grid(&h.grid_code)?)?;
    not_demolished(&h)?;
    check_version(
        &format!("house {}", h.code),
        input.expected_version,
        h.version,
    )?;
    let status = h.status.clone();
    let mut am: house::ActiveModel = h.clone().into();
    am.last_seen_at = Set(Some(Utc::now()));
    am.not_seen = Set(false);
    let after = bump(&txn, &h, am).await?;
    let after = recorded(
        &txn,
        source,
        after,
        "seen",
        Some(&status),
        serde_json::json!({ "was_not_seen": h.not_seen }),
    )
    .await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(detail_for(&grid.db, principal, &after).await?)
            .map_err(anyhow::Error::from)?,
    ))
}
