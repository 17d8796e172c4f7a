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
//! Through the one write operation ([`crate::write`]), in one transaction: the row (version + 1),
//! then [`crate::classification::recorded`]: the ledger (life event, evidence, outbox event), the
//! classification rules on the house's facts (the level and colour are stored when a rule set
//! decides) and the collection rules. Its grid's worker or an officer whose scope holds it
//! changes a house (see [`crate::access`]); a sighting is the grid worker's own. A request may
//! carry `expected_version`: a mismatch is 409 `version-conflict` and nothing changes. An
//! incident reported at a house or resolved there classifies the house again in the incident's
//! transaction (a `reclassified` life event when its class changed).
//!
//! # Census
//! A round opened on a grid (one open round per grid) is closed by the grid worker after walking
//! it; every house not demolished and not sighted since the round opened is then marked
//! `not_seen` (a life event each).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{MaybePrincipal, Principal, Role};
use zw_domain::{HouseCode, JurisdictionCode, Level, Phone};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::access::{self, CensusKey, HOUSES};
use crate::body::{self, JsonBody};
use crate::classification::{bump, reclassify_one, recorded};
use crate::error::ApiError;
use crate::locks::lock_row;
use crate::masking::{self, Field, Masker};
use crate::model::{census_round, grid, house, resident};
use crate::paging::{self, Order};
use crate::state::Grid;
use crate::write::{Answer, Applied, Change, Creation, Done, Tx, Write};

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

fn parse_house(code: &str) -> Result<HouseCode, ApiError> {
    HouseCode::parse(code.trim()).map_err(|e| ApiError::invalid("house code", e))
}

fn parse_grid(code: &str) -> Result<JurisdictionCode, ApiError> {
    let g = JurisdictionCode::parse(code.trim()).map_err(|e| ApiError::invalid("grid code", e))?;
    if g.level() != Level::Grid {
        return Err(ApiError::InvalidInput(format!("{g} is not a grid code")));
    }
    Ok(g)
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
    let policy = masking::current(conn).await?;
    Ok(detail(&Masker::new(&policy, principal), m))
}

// ---------------------------------------------------------------------------------------------

fn not_demolished(h: &house::Model) -> Result<(), ApiError> {
    if h.status == "demolished" {
        return Err(ApiError::conflict(
            "house-demolished",
            format!("house {} is demolished: it cannot change any more", h.code),
        ));
    }
    Ok(())
}

/// The answer of a change of a house: the whole record, as the masking policy shows it.
async fn answered(tx: &Tx<'_>, h: house::Model) -> Done<house::Model, HouseDetail> {
    let output = detail_for(tx.txn, tx.principal, &h).await?;
    Ok(Applied { record: h, output })
}

// ---------------------------------------------------------------------------------------------
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

/// A checked registration.
#[derive(Clone)]
struct Registration {
    grid: JurisdictionCode,
    address: String,
    category: String,
    legal: bool,
    registered_size: i32,
    status: &'static str,
    landlord_name: Option<String>,
    landlord_phone: Option<String>,
}

impl Registration {
    fn parse(input: NewHouse) -> Result<Registration, ApiError> {
        let grid = parse_grid(&input.grid_code).map_err(|e| match e {
            ApiError::InvalidInput(m) => ApiError::InvalidInput(format!("grid_code: {m}")),
            e => e,
        })?;
        let status = match input.status.as_deref().unwrap_or("planned") {
            "planned" => "planned",
            "built" => "built",
            other => {
                return Err(ApiError::InvalidInput(format!(
                    "a new house is planned or built, not {other:?}"
                )));
            }
        };
        Ok(Registration {
            grid,
            address: check_address(&input.address)?,
            category: check_category(&input.category)?,
            legal: input.legal,
            registered_size: check_size(input.registered_size)?,
            status,
            landlord_name: check_landlord_name(input.landlord_name.as_deref())?,
            landlord_phone: check_landlord_phone(input.landlord_phone.as_deref())?,
        })
    }
}

/// Taken when two registrations of one grid still picked the same serial: the caller tries the
/// next one.
const SERIAL_TAKEN: &str = "house-code-taken";

#[async_trait::async_trait]
impl Creation for Registration {
    type Record = house::Model;
    type Output = HouseDetail;

    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        HOUSES.authorize_create(principal, &self.grid)
    }

    async fn apply(self, tx: &Tx<'_>) -> Done<house::Model, Self::Output> {
        // Registrations in one grid take turns on the grid's row (PostgreSQL).
        lock_row(tx.txn, "grids", "code", self.grid.as_str()).await?;
        if grid::Entity::find_by_id(self.grid.as_str())
            .one(tx.txn)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound(format!("no grid {}", self.grid)));
        }
        let last = house::Entity::find()
            .filter(house::Column::Code.starts_with(self.grid.as_str()))
            .order_by_desc(house::Column::Code)
            .one(tx.txn)
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
        let code = HouseCode::new(&self.grid, serial).map_err(|_| {
            ApiError::conflict(
                "grid-codes-exhausted",
                format!("grid {} has issued all 9999 house codes", self.grid),
            )
        })?;
        let inserted = house::ActiveModel {
            code: Set(code.to_string()),
            grid_code: Set(self.grid.to_string()),
            address: Set(self.address),
            status: Set(self.status.to_owned()),
            registered_size: Set(self.registered_size),
            legal: Set(self.legal),
            category: Set(self.category.clone()),
            class_level: Set(None),
            colour: Set(None),
            classified_by_rules: Set(None),
            landlord_name: Set(self.landlord_name),
            landlord_phone: Set(self.landlord_phone),
            version: Set(1),
            last_seen_at: Set(None),
            not_seen: Set(false),
            updated_at: Set(Some(Utc::now())),
        }
        .insert(tx.txn)
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::conflict(
                SERIAL_TAKEN,
                format!("house code {code} was taken meanwhile"),
            ),
            _ => e.into(),
        })?;
        let h = recorded(
            tx.txn,
            tx.source,
            inserted,
            "registered",
            None,
            serde_json::json!({ "legal": self.legal, "category": self.category }),
        )
        .await?;
        answered(tx, h).await
    }
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
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create_house(w: Write, body: JsonBody) -> Result<Answer, ApiError> {
    let input: NewHouse = body::parse(
        &body,
        "grid_code, address, category, legal, registered_size",
    )?;
    let registration = Registration::parse(input)?;
    // Two registrations that still picked the same serial (a race PostgreSQL's row lock cannot
    // see): the loser tries again with the next one.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match w.create(registration.clone()).await {
            Err(ApiError::Conflict { code, .. }) if code == SERIAL_TAKEN && attempt < 5 => {}
            created => return Answer::created(created?),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Filter of the house list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    let under = match filter.grid.as_deref() {
        Some(g) => JurisdictionCode::parse(g.trim()).map_err(|e| ApiError::invalid("grid", e))?,
        None => principal.scope.clone(),
    };
    HOUSES.authorize_list(&principal, &under)?;
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
    let cursor = page.cursor.clone();
    let rows = paging::rows(
        &grid.db,
        q,
        house::Column::Code,
        Order::Ascending,
        cursor,
        limit,
    )
    .await?;
    let policy = masking::current(&grid.db).await?;
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
    let h = house::Entity::find_by_id(code.as_str())
        .one(&grid.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no house {code}")))?;
    if let Some(p) = caller.0.filter(|p| access::sees_house(p, &h)) {
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

/// A checked patch (`Some(None)` clears a landlord field).
struct Edit {
    address: Option<String>,
    category: Option<String>,
    legal: Option<bool>,
    registered_size: Option<i32>,
    landlord_name: Option<Option<String>>,
    landlord_phone: Option<Option<String>>,
}

impl Edit {
    fn parse(p: HousePatch) -> Result<Edit, ApiError> {
        Ok(Edit {
            address: p.address.as_deref().map(check_address).transpose()?,
            category: p.category.as_deref().map(check_category).transpose()?,
            legal: p.legal,
            registered_size: p.registered_size.map(check_size).transpose()?,
            landlord_name: p
                .landlord_name
                .as_deref()
                .map(|n| check_landlord_name(Some(n)))
                .transpose()?,
            landlord_phone: p
                .landlord_phone
                .as_deref()
                .map(|n| check_landlord_phone(Some(n)))
                .transpose()?,
        })
    }
}

#[async_trait::async_trait]
impl Change<house::Model> for Edit {
    type Output = HouseDetail;

    fn check(&self, h: &house::Model) -> Result<(), ApiError> {
        not_demolished(h)
    }

    async fn apply(self, tx: &Tx<'_>, h: house::Model) -> Done<house::Model, Self::Output> {
        let mut am: house::ActiveModel = h.clone().into();
        let mut fields = Vec::new();
        if let Some(a) = self.address.filter(|a| *a != h.address) {
            am.address = Set(a);
            fields.push("address");
        }
        if let Some(c) = self.category.filter(|c| *c != h.category) {
            am.category = Set(c);
            fields.push("category");
        }
        if let Some(l) = self.legal.filter(|l| *l != h.legal) {
            am.legal = Set(l);
            fields.push("legal");
        }
        if let Some(s) = self.registered_size.filter(|s| *s != h.registered_size) {
            am.registered_size = Set(s);
            fields.push("registered_size");
        }
        if let Some(n) = self.landlord_name.filter(|n| *n != h.landlord_name) {
            am.landlord_name = Set(n);
            fields.push("landlord_name");
        }
        if let Some(n) = self.landlord_phone.filter(|n| *n != h.landlord_phone) {
            am.landlord_phone = Set(n);
            fields.push("landlord_phone");
        }
        if fields.is_empty() {
            return answered(tx, h).await;
        }
        let status = h.status.clone();
        let after = bump(tx.txn, &h, am).await?;
        // Which fields changed, not their values: the landlord's name and phone are personal data.
        let after = recorded(
            tx.txn,
            tx.source,
            after,
            "updated",
            Some(&status),
            serde_json::json!({ "fields": fields }),
        )
        .await?;
        answered(tx, after).await
    }
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
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn patch_house(
    w: Write,
    code: web::Path<String>,
    body: JsonBody,
) -> Result<Answer, ApiError> {
    let code = parse_house(&code)?;
    let patch: HousePatch = body::parse(&body, "the attributes to change")?;
    let seen = patch.expected_version;
    Answer::ok(w.change(&code, seen, Edit::parse(patch)?).await?)
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

/// A checked transition.
struct Step {
    to: String,
    reason: Option<String>,
}

#[async_trait::async_trait]
impl Change<house::Model> for Step {
    type Output = HouseDetail;

    fn check(&self, h: &house::Model) -> Result<(), ApiError> {
        not_demolished(h)?;
        let allowed = allowed_moves(&h.status);
        if !allowed.contains(&self.to.as_str()) {
            return Err(ApiError::unprocessable(
                "illegal-transition",
                format!(
                    "house {} is {}: it may go to {} only, not {:?}",
                    h.code,
                    h.status,
                    allowed.join(", "),
                    self.to
                ),
            ));
        }
        Ok(())
    }

    async fn apply(self, tx: &Tx<'_>, h: house::Model) -> Done<house::Model, Self::Output> {
        if self.to == "demolished" {
            let residents = resident::Entity::find()
                .filter(resident::Column::HouseCode.eq(h.code.as_str()))
                .count(tx.txn)
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
        am.status = Set(self.to.clone());
        let after = bump(tx.txn, &h, am).await?;
        let after = recorded(
            tx.txn,
            tx.source,
            after,
            &self.to,
            Some(&previous),
            serde_json::json!({ "from": previous, "reason": self.reason }),
        )
        .await?;
        answered(tx, after).await
    }
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
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`illegal-transition` (the detail names the allowed moves)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn transition(
    w: Write,
    code: web::Path<String>,
    body: JsonBody,
) -> Result<Answer, ApiError> {
    let code = parse_house(&code)?;
    let t: Transition = body::parse(&body, "to (and expected_version, reason)")?;
    let reason = t
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::InvalidInput(
            "reason must be at most 500 characters".into(),
        ));
    }
    let step = Step { to: t.to, reason };
    Answer::ok(w.change(&code, t.expected_version, step).await?)
}

/// Query of the reclassification.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
async fn reclassify(w: Write, query: web::Query<ReclassifyQuery>) -> Result<Answer, ApiError> {
    w.principal.require_role(&[
        Role::CommunityOfficer,
        Role::StreetOfficer,
        Role::DistrictOfficer,
        Role::Admin,
    ])?;
    let under =
        JurisdictionCode::parse(query.under.trim()).map_err(|e| ApiError::invalid("under", e))?;
    w.principal.authorize(&under)?;
    let mut out = Reclassified {
        examined: 0,
        changed: 0,
    };
    let mut cursor: Option<String> = None;
    // A page per transaction, so a large district does not hold one transaction for long.
    loop {
        let page = w
            .run(async |tx| {
                let mut q = house::Entity::find()
                    .filter(house::Column::GridCode.starts_with(under.as_str()))
                    .filter(house::Column::Status.ne("demolished"));
                if let Some(c) = &cursor {
                    q = q.filter(house::Column::Code.gt(c.as_str()));
                }
                let page = q
                    .order_by_asc(house::Column::Code)
                    .limit(200)
                    .all(tx.txn)
                    .await?;
                let last = page.last().map(|h| h.code.clone());
                let mut changed = 0;
                let examined = page.len() as u64;
                for h in page {
                    if reclassify_one(tx.txn, tx.source, h).await? {
                        changed += 1;
                    }
                }
                Ok((last, examined, changed))
            })
            .await?;
        let (last, examined, changed) = page;
        out.examined += examined;
        out.changed += changed;
        match last {
            Some(code) => cursor = Some(code),
            None => break,
        }
    }
    Answer::ok(out)
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

/// Opening a census round on a grid.
struct Opening {
    grid: JurisdictionCode,
}

#[async_trait::async_trait]
impl Creation for Opening {
    type Record = census_round::Model;
    type Output = CensusRound;

    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        HOUSES.authorize_create(principal, &self.grid)
    }

    async fn apply(self, tx: &Tx<'_>) -> Done<census_round::Model, Self::Output> {
        let g = &self.grid;
        lock_row(tx.txn, "grids", "code", g.as_str()).await?;
        grid::Entity::find_by_id(g.as_str())
            .one(tx.txn)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no grid {g}")))?;
        if let Some(open) = census_round::Entity::find()
            .filter(census_round::Column::GridCode.eq(g.as_str()))
            .filter(census_round::Column::ClosedAt.is_null())
            .one(tx.txn)
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
            opened_by: Set(tx.principal.subject.clone()),
            closed_at: Set(None),
            closed_by: Set(None),
            not_seen: Set(None),
        }
        .insert(tx.txn)
        .await?;
        zw_evidence::append(
            tx.txn,
            &tx.principal.subject,
            "census.open",
            &format!("census/{id}"),
            &serde_json::json!({ "grid_code": g.as_str() }),
        )
        .await?;
        Ok(Applied {
            output: CensusRound::from(round.clone()),
            record: round,
        })
    }
}

/// Open a census round on a grid (its worker or an officer in scope); one open round per grid.
#[utoipa::path(
    post,
    path = "/api/v1/grid/grids/{code}/census",
    params(("code" = String, Path, description = "Grid code (15 digits)")),
    responses(
        (status = 201, body = CensusRound),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`census-open`: a round is already open", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn open_census(w: Write, code: web::Path<String>) -> Result<Answer, ApiError> {
    let opening = Opening {
        grid: parse_grid(&code)?,
    };
    Answer::created(w.create(opening).await?)
}

/// Closing a census round.
struct Closing;

#[async_trait::async_trait]
impl Change<census_round::Model> for Closing {
    type Output = CensusRound;

    fn check(&self, round: &census_round::Model) -> Result<(), ApiError> {
        if round.closed_at.is_some() {
            return Err(ApiError::conflict(
                "census-closed",
                format!("census round {} is already closed", round.id),
            ));
        }
        Ok(())
    }

    async fn apply(
        self,
        tx: &Tx<'_>,
        round: census_round::Model,
    ) -> Done<census_round::Model, Self::Output> {
        let id = round.id;
        let grid_code = round.grid_code.clone();
        let unseen = house::Entity::find()
            .filter(house::Column::GridCode.eq(grid_code.as_str()))
            .filter(house::Column::Status.ne("demolished"))
            .filter(
                Condition::any()
                    .add(house::Column::LastSeenAt.is_null())
                    .add(house::Column::LastSeenAt.lt(round.opened_at)),
            )
            .order_by_asc(house::Column::Code)
            .all(tx.txn)
            .await?;
        let source = tx.source.clone().via("census", id.to_string());
        let mut codes = Vec::with_capacity(unseen.len());
        for h in unseen {
            let status = h.status.clone();
            let mut am: house::ActiveModel = h.clone().into();
            am.not_seen = Set(true);
            let after = bump(tx.txn, &h, am).await?;
            codes.push(after.code.clone());
            recorded(
                tx.txn,
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
        am.closed_by = Set(Some(tx.principal.subject.clone()));
        am.not_seen = Set(Some(serde_json::json!(codes)));
        let round = am.update(tx.txn).await?;
        zw_evidence::append(
            tx.txn,
            &tx.principal.subject,
            "census.close",
            &format!("census/{id}"),
            &serde_json::json!({ "grid_code": grid_code, "not_seen": codes }),
        )
        .await?;
        Ok(Applied {
            output: CensusRound::from(round.clone()),
            record: round,
        })
    }
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
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`census-closed`: already closed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn close_census(w: Write, path: web::Path<(String, Uuid)>) -> Result<Answer, ApiError> {
    let (code, id) = path.into_inner();
    let key = CensusKey {
        grid: parse_grid(&code)?,
        id,
    };
    Answer::ok(w.change(&key, None, Closing).await?)
}

/// Optional body of a sighting.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionOnly {
    pub expected_version: Option<i64>,
}

/// A sighting: the grid worker saw the house.
struct Sighting;

#[async_trait::async_trait]
impl Change<house::Model> for Sighting {
    type Output = HouseDetail;

    /// The grid worker walks his grid; officers do not sight houses.
    fn authorize(&self, principal: &Principal, _house: &house::Model) -> Result<(), ApiError> {
        principal.require_role(&[Role::GridWorker])?;
        Ok(())
    }

    fn check(&self, h: &house::Model) -> Result<(), ApiError> {
        not_demolished(h)
    }

    async fn apply(self, tx: &Tx<'_>, h: house::Model) -> Done<house::Model, Self::Output> {
        let status = h.status.clone();
        let mut am: house::ActiveModel = h.clone().into();
        am.last_seen_at = Set(Some(Utc::now()));
        am.not_seen = Set(false);
        let after = bump(tx.txn, &h, am).await?;
        let after = recorded(
            tx.txn,
            tx.source,
            after,
            "seen",
            Some(&status),
            serde_json::json!({ "was_not_seen": h.not_seen }),
        )
        .await?;
        answered(tx, after).await
    }
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
        (status = 415, description = "A body that is not JSON", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn sighting(
    w: Write,
    code: web::Path<String>,
    body: JsonBody,
) -> Result<Answer, ApiError> {
    let code = parse_house(&code)?;
    let input: VersionOnly = body::parse_or_default(&body, "expected_version (or no body)")?;
    Answer::ok(w.change(&code, input.expected_version, Sighting).await?)
}
