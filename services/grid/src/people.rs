//! People from birth to death: born (or first registered), moved in, moved out, died; each step a
//! life event with its source and evidence.
//!
//! A person is a `persons` row (UUID in URLs and events, never the ID number); where he lives now
//! is his `residents` row (one while he lives somewhere), which the declaration rules count per
//! house. [`move_in`] is the one way a person moves into a house: the routes here and accepted
//! declarations both use it.
//!
//! Who may record a change: the grid worker of the grid concerned (for a move between grids, the
//! worker of the destination: he is the one who meets the newcomer at the door), an officer whose
//! scope covers every grid concerned, or a department entitled to the `persons` data set (the
//! hospital and civil affairs reporting births and deaths) within its scope.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{Datelike, Months, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_domain::{HouseCode, IdNumber, JurisdictionCode, Phone};
use zw_platform::Problem;
use zw_platform::db::BeginWrite;
use zw_platform::page::{Page, PageQuery};

use crate::declarations::Grid;
use crate::error::{ApiError, check_version, parse_cursor, parse_json};
use crate::ledger::{self, Source, Step, SubjectKind};
use crate::locks::lock_row;
use crate::model::{declaration, house, person, resident};
use crate::privacy::{self, Field, Masker};
use crate::rules;

/// The data set a department needs to read or change persons.
pub const DATASET: &str = "persons";

/// The roles that may record a step in a person's life (within their scope).
const WRITERS: [Role; 5] = [
    Role::GridWorker,
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
    Role::Department,
];

/// The staff roles that read persons of their jurisdiction.
const READERS: [Role; 5] = [
    Role::GridWorker,
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
    Role::Admin,
];

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(create, get_person, list, search, moves, move_out, death),
    components(schemas(
        NewPerson,
        PersonView,
        Search,
        MoveRequest,
        MoveOutRequest,
        DeathRequest
    ))
)]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/persons")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(web::resource("/api/v1/grid/persons/search").route(web::post().to(search)))
    .service(web::resource("/api/v1/grid/persons/{id}").route(web::get().to(get_person)))
    .service(web::resource("/api/v1/grid/persons/{id}/moves").route(web::post().to(moves)))
    .service(web::resource("/api/v1/grid/persons/{id}/move-out").route(web::post().to(move_out)))
    .service(web::resource("/api/v1/grid/persons/{id}/death").route(web::post().to(death)));
}

// ---------------------------------------------------------------------------------------------
// Authorization

pub(crate) fn grid_of(code: &str) -> Result<JurisdictionCode, ApiError> {
    JurisdictionCode::parse(code)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code {code:?}: {e}")))
}

/// May `principal` record a change touching `grids`, arriving in `destination`? A grid worker
/// needs the destination only; officers and departments every grid concerned.
pub(crate) fn authorize_change(
    principal: &Principal,
    dataset: &str,
    grids: &[&JurisdictionCode],
    destination: &JurisdictionCode,
) -> Result<(), ApiError> {
    principal.require_role(&WRITERS)?;
    let officer = principal.has_any_role(&[
        Role::CommunityOfficer,
        Role::StreetOfficer,
        Role::DistrictOfficer,
    ]);
    if principal.has_role(Role::Department) && !officer && !principal.has_role(Role::GridWorker) {
        principal.require_dataset(dataset)?;
    }
    if principal.has_role(Role::GridWorker) && !officer {
        principal.authorize(destination)?;
        return Ok(());
    }
    for g in grids {
        principal.authorize(g)?;
    }
    principal.authorize(destination)?;
    Ok(())
}

/// May `principal` read records of `grid` in `dataset`? Staff in scope; departments entitled to
/// the data set, in scope.
pub(crate) fn authorize_read(
    principal: &Principal,
    dataset: &str,
    grid: &JurisdictionCode,
) -> Result<(), ApiError> {
    if principal.has_any_role(&READERS) {
        principal.authorize(grid)?;
        return Ok(());
    }
    if principal.has_role(Role::Department) {
        principal.require_dataset(dataset)?;
        principal.authorize(grid)?;
        return Ok(());
    }
    Err(ApiError::Auth(zw_auth::AuthError::MissingRole(
        READERS.iter().copied().chain([Role::Department]).collect(),
    )))
}

/// The persons a citizen is linked to: those whose ID number he declared.
pub async fn persons_of_citizen(
    conn: &impl ConnectionTrait,
    subject: &str,
) -> Result<Vec<Uuid>, ApiError> {
    let ids: Vec<String> = declaration::Entity::find()
        .select_only()
        .column(declaration::Column::IdNumber)
        .filter(declaration::Column::SubmittedBy.eq(subject))
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(person::Entity::find()
        .select_only()
        .column(person::Column::Id)
        .filter(person::Column::IdNumber.is_in(ids))
        .into_tuple()
        .all(conn)
        .await?)
}

/// The person `id`, if `principal` may read him: staff in scope, a department with `persons`,
/// or a citizen who declared him (404 for any other citizen: existence is not revealed).
pub async fn readable(
    db: &DatabaseConnection,
    principal: &Principal,
    id: Uuid,
) -> Result<person::Model, ApiError> {
    let not_found = || ApiError::NotFound(format!("no person {id} that you may see"));
    let p = person::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    if principal.has_role(Role::Citizen) && principal.roles.len() == 1 {
        if persons_of_citizen(db, &principal.subject)
            .await?
            .contains(&p.id)
        {
            return Ok(p);
        }
        return Err(not_found());
    }
    authorize_read(principal, DATASET, &grid_of(&p.grid_code)?)?;
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Operations (inside the caller's transaction)

/// Age in whole years on `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> u32 {
    if today < birth {
        return 0;
    }
    let mut years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Someone arriving in a house.
pub struct Arrival<'a> {
    pub id_number: &'a IdNumber,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub house: &'a house::Model,
    /// The declaration that moves him in, if any.
    pub declaration_id: Option<Uuid>,
}

/// The facts the collection rules see after a step (the house: the one moved into, or left).
async fn facts(
    txn: &DatabaseTransaction,
    p: &person::Model,
    house: Option<&house::Model>,
) -> Result<serde_json::Value, ApiError> {
    let age = age_on(p.birth_date, Utc::now().date_naive());
    let Some(h) = house else {
        return Ok(facts_with(age, &p.status, None));
    };
    let residents = resident::Entity::find()
        .filter(resident::Column::HouseCode.eq(h.code.clone()))
        .count(txn)
        .await?;
    Ok(facts_with(
        age,
        &p.status,
        Some(HouseFacts {
            code: &h.code,
            residents,
            registered_size: h.registered_size,
            status: &h.status,
        }),
    ))
}

/// What the collection rules see of a person's house.
pub struct HouseFacts<'a> {
    pub code: &'a str,
    /// Counted after the change.
    pub residents: u64,
    pub registered_size: i32,
    pub status: &'a str,
}

/// [`facts`] from what is already known (a bulk import counts a whole chunk's houses at once).
pub fn facts_with(age: u32, status: &str, house: Option<HouseFacts<'_>>) -> serde_json::Value {
    let mut f = serde_json::json!({
        "person.age": age,
        "person.status": status,
    });
    if let Some(h) = house {
        f["house.code"] = h.code.into();
        f["house.residents"] = h.residents.into();
        f["house.registered_size"] = h.registered_size.into();
        f["house.status"] = h.status.into();
    }
    f
}

async fn after_change(
    txn: &DatabaseTransaction,
    source: &Source,
    p: &person::Model,
    house: Option<&house::Model>,
    change: &str,
) -> Result<(), ApiError> {
    let grid = grid_of(&p.grid_code)?;
    let key = p.id.to_string();
    rules::on_change(
        txn,
        source,
        rules::Trigger {
            kind: SubjectKind::Person,
            key: &key,
            grid: &grid,
            change,
            facts: facts(txn, p, house).await?,
        },
    )
    .await?;
    Ok(())
}

async fn place_resident(
    txn: &DatabaseTransaction,
    p: &person::Model,
    house: &house::Model,
    declaration_id: Option<Uuid>,
) -> Result<(), sea_orm::DbErr> {
    resident::Entity::delete_by_id(p.id_number.clone())
        .exec(txn)
        .await?;
    resident::ActiveModel {
        id_number: Set(p.id_number.clone()),
        name: Set(p.name.clone()),
        house_code: Set(house.code.clone()),
        grid_code: Set(house.grid_code.clone()),
        declaration_id: Set(declaration_id),
        since: Set(Utc::now()),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Record a person nobody recorded yet, living in `arrival.house`; his first step is `change`
/// (`born`, `registered`, or `moved_in` through a declaration).
pub async fn record_new(
    txn: &DatabaseTransaction,
    source: &Source,
    arrival: Arrival<'_>,
    change: &str,
) -> Result<person::Model, ApiError> {
    let now = Utc::now();
    let p = person::ActiveModel {
        id: Set(Uuid::now_v7()),
        id_number: Set(arrival.id_number.to_string()),
        name: Set(arrival.name),
        birth_date: Set(arrival.id_number.birth_date()),
        phone: Set(arrival.phone),
        status: Set("alive".into()),
        grid_code: Set(arrival.house.grid_code.clone()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    place_resident(txn, &p, arrival.house, arrival.declaration_id).await?;
    let key = p.id.to_string();
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Person,
            key: &key,
            change,
            state: "alive",
            house_code: Some(&arrival.house.code),
            grid: &grid_of(&arrival.house.grid_code)?,
            version: 1,
            details: serde_json::json!({}),
        },
    )
    .await?;
    after_change(txn, source, &p, Some(arrival.house), change).await?;
    Ok(p)
}

/// Move a recorded person (locked by the caller) into `house`: `moved_out` of where he lived (if
/// anywhere) and `moved_in`; one new version. Moving into the house he lives in only ties his
/// residence to the declaration.
pub async fn relocate(
    txn: &DatabaseTransaction,
    source: &Source,
    p: person::Model,
    house: &house::Model,
    declaration_id: Option<Uuid>,
    expected_version: Option<i64>,
) -> Result<person::Model, ApiError> {
    if p.status == "dead" {
        return Err(deceased(&p));
    }
    check_version("the person", expected_version, p.version)?;
    let current = resident::Entity::find_by_id(p.id_number.clone())
        .one(txn)
        .await?;
    if current.as_ref().is_some_and(|r| r.house_code == house.code) {
        place_resident(txn, &p, house, declaration_id).await?;
        return Ok(p);
    }
    let version = p.version + 1;
    let key = p.id.to_string();
    let mut am: person::ActiveModel = p.into();
    am.grid_code = Set(house.grid_code.clone());
    am.version = Set(version);
    am.updated_at = Set(Utc::now());
    let p = am.update(txn).await?;
    if let Some(old) = &current {
        ledger::record(
            txn,
            source,
            Step {
                kind: SubjectKind::Person,
                key: &key,
                change: "moved_out",
                state: "alive",
                house_code: Some(&old.house_code),
                grid: &grid_of(&old.grid_code)?,
                version,
                details: serde_json::json!({ "to_house": house.code }),
            },
        )
        .await?;
    }
    place_resident(txn, &p, house, declaration_id).await?;
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Person,
            key: &key,
            change: "moved_in",
            state: "alive",
            house_code: Some(&house.code),
            grid: &grid_of(&house.grid_code)?,
            version,
            details: serde_json::json!({ "from_house": current.as_ref().map(|r| &r.house_code) }),
        },
    )
    .await?;
    after_change(txn, source, &p, Some(house), "moved_in").await?;
    Ok(p)
}

/// The one way a person moves into a house: recorded if unknown (alive, birth date from the ID
/// number, first step `moved_in`), else moved from where he lived. The caller has checked the
/// house is in use; this locks the house (then the person) so residents are counted right.
pub async fn move_in(
    txn: &DatabaseTransaction,
    source: &Source,
    arrival: Arrival<'_>,
) -> Result<person::Model, ApiError> {
    lock_row(
        txn,
        "houses",
        "code",
        sea_orm::Value::from(arrival.house.code.clone()),
    )
    .await?;
    lock_row(
        txn,
        "persons",
        "id_number",
        sea_orm::Value::from(arrival.id_number.to_string()),
    )
    .await?;
    match person::Entity::find()
        .filter(person::Column::IdNumber.eq(arrival.id_number.to_string()))
        .one(txn)
        .await?
    {
        Some(p) => relocate(txn, source, p, arrival.house, arrival.declaration_id, None).await,
        None => record_new(txn, source, arrival, "moved_in").await,
    }
}

fn deceased(p: &person::Model) -> ApiError {
    ApiError::conflict(
        "person-deceased",
        format!("person {} has died: no further step is possible", p.id),
    )
}

/// He leaves the house he lives in (`moved_out`) or dies (`died`): the residents row goes.
async fn depart(
    txn: &DatabaseTransaction,
    source: &Source,
    p: person::Model,
    change: &str,
    details: serde_json::Value,
) -> Result<person::Model, ApiError> {
    let current = resident::Entity::find_by_id(p.id_number.clone())
        .one(txn)
        .await?;
    if change == "moved_out" && current.is_none() {
        return Err(ApiError::conflict(
            "not-resident",
            format!("person {} lives in no house to move out of", p.id),
        ));
    }
    let state = if change == "died" { "dead" } else { "alive" };
    let version = p.version + 1;
    let key = p.id.to_string();
    let mut am: person::ActiveModel = p.into();
    am.status = Set(state.into());
    am.version = Set(version);
    am.updated_at = Set(Utc::now());
    let p = am.update(txn).await?;
    resident::Entity::delete_by_id(p.id_number.clone())
        .exec(txn)
        .await?;
    let house = match &current {
        Some(r) => {
            house::Entity::find_by_id(r.house_code.clone())
                .one(txn)
                .await?
        }
        None => None,
    };
    let grid = match &current {
        Some(r) => grid_of(&r.grid_code)?,
        None => grid_of(&p.grid_code)?,
    };
    ledger::record(
        txn,
        source,
        Step {
            kind: SubjectKind::Person,
            key: &key,
            change,
            state,
            house_code: current.as_ref().map(|r| r.house_code.as_str()),
            grid: &grid,
            version,
            details,
        },
    )
    .await?;
    after_change(txn, source, &p, house.as_ref(), change).await?;
    Ok(p)
}

/// Lock and read the person `id` in `txn` (404 if none).
async fn locked(txn: &DatabaseTransaction, id: Uuid) -> Result<person::Model, ApiError> {
    lock_row(txn, "persons", "id", sea_orm::Value::from(id)).await?;
    person::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no person {id}")))
}

/// The house `code`, which people can live in (422 `unknown-house` / `house-not-in-use`).
pub(crate) async fn house_in_use(
    conn: &impl ConnectionTrait,
    code: &HouseCode,
) -> Result<house::Model, ApiError> {
    let h = house::Entity::find_by_id(code.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::UnknownHouse(code.to_string()))?;
    if !h.is_in_use() {
        return Err(ApiError::HouseNotInUse {
            code: h.code,
            status: h.status,
        });
    }
    Ok(h)
}

// ---------------------------------------------------------------------------------------------
// Views

/// A person as the caller may see him: personal fields per the masking policy (absent when
/// hidden).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonView {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Only when the ID number is shown plain (it is part of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    pub age: u32,
    /// `alive` or `dead`.
    pub status: String,
    /// The grid that keeps his record.
    pub grid_code: String,
    /// Where he lives now, if anywhere.
    pub house_code: Option<String>,
    pub version: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

pub fn view(masker: &Masker<'_>, p: &person::Model, house_code: Option<String>) -> PersonView {
    PersonView {
        id: p.id,
        id_number: masker.show(Field::PersonIdNumber, Some(&p.id_number)),
        name: masker.show(Field::PersonName, p.name.as_deref()),
        phone: masker.show(Field::PersonPhone, p.phone.as_deref()),
        birth_date: masker
            .is_plain(Field::PersonIdNumber)
            .then_some(p.birth_date),
        age: age_on(p.birth_date, Utc::now().date_naive()),
        status: p.status.clone(),
        grid_code: p.grid_code.clone(),
        house_code,
        version: p.version,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

pub(crate) async fn view_one(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    p: &person::Model,
) -> Result<PersonView, ApiError> {
    let policy = privacy::current(conn).await?;
    let house = resident::Entity::find_by_id(p.id_number.clone())
        .one(conn)
        .await?
        .map(|r| r.house_code);
    Ok(view(&Masker::new(&policy, principal), p, house))
}

// ---------------------------------------------------------------------------------------------
// Routes

/// A person recorded for the first time.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    #[schema(example = "11010519491231002X")]
    pub id_number: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Where he lives (in use or rented).
    pub house_code: String,
    /// `born` (birth date within the last year) or `registered` (first recorded, e.g. moved
    /// into the district).
    #[schema(example = "born")]
    pub change: String,
}

pub(crate) fn clean_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.chars().count() > max => Err(ApiError::InvalidInput(format!(
            "{field} must be 1 to {max} characters"
        ))),
        Some(v) => Ok(Some(v)),
    }
}

pub(crate) fn clean_phone(value: Option<String>) -> Result<Option<String>, ApiError> {
    value
        .map(|p| {
            Phone::parse(&p)
                .map(|p| p.as_str().to_owned())
                .map_err(|e| ApiError::invalid("phone", e))
        })
        .transpose()
}

/// Record a person: born here, or first registered here.
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons",
    request_body = NewPerson,
    responses(
        (status = 201, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`, `not-a-newborn`, `not-born-yet`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn create(
    grid: web::Data<Grid>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(create_op(&grid, &principal, &source, &body).await)
}

/// `create` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn create_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: NewPerson = parse_json(body, "id_number, house_code and change")?;
    let id_number =
        IdNumber::parse(input.id_number.trim()).map_err(|e| ApiError::invalid("id_number", e))?;
    let house_code = HouseCode::parse(input.house_code.trim())
        .map_err(|e| ApiError::invalid("house_code", e))?;
    let name = clean_text("name", input.name, 100)?;
    let phone = clean_phone(input.phone)?;
    let change = match input.change.as_str() {
        "born" => "born",
        "registered" => "registered",
        other => {
            return Err(ApiError::InvalidInput(format!(
                "change must be born or registered, not {other:?}"
            )));
        }
    };
    let today = Utc::now().date_naive();
    let birth = id_number.birth_date();
    if birth > today {
        return Err(ApiError::unprocessable(
            "not-born-yet",
            "the birth date in the ID number lies in the future",
        ));
    }
    if change == "born"
        && today
            .checked_sub_months(Months::new(12))
            .is_some_and(|y| birth < y)
    {
        return Err(ApiError::unprocessable(
            "not-a-newborn",
            "a birth is recorded within a year of the birth date; record him as registered",
        ));
    }
    let house = house_in_use(&grid.db, &house_code).await?;
    let dest = grid_of(&house.grid_code)?;
    authorize_change(principal, DATASET, &[], &dest)?;
    let txn = grid.db.begin_write().await?;
    lock_row(
        &txn,
        "houses",
        "code",
        sea_orm::Value::from(house.code.clone()),
    )
    .await?;
    if person::Entity::find()
        .filter(person::Column::IdNumber.eq(id_number.to_string()))
        .count(&txn)
        .await?
        > 0
    {
        return Err(ApiError::conflict(
            "person-exists",
            "this person is already recorded; search for him by ID number",
        ));
    }
    let p = record_new(
        &txn,
        source,
        Arrival {
            id_number: &id_number,
            name,
            phone,
            house: &house,
            declaration_id: None,
        },
        change,
    )
    .await?;
    let v = view_one(&txn, principal, &p).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::CREATED,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}

/// One person.
#[utoipa::path(
    get,
    path = "/api/v1/grid/persons/{id}",
    params(("id" = Uuid, Path, description = "Person id")),
    responses(
        (status = 200, body = PersonView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_person(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let p = readable(&grid.db, &principal, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view_one(&grid.db, &principal, &p).await?))
}

/// Filter of the person list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct GridFilter {
    /// A jurisdiction code (grid or above); default: the caller's scope.
    pub grid: Option<String>,
}

/// Persons whose record a grid (or any grid under a code) keeps, oldest record first.
#[utoipa::path(
    get,
    path = "/api/v1/grid/persons",
    params(GridFilter, PageQuery),
    responses(
        (status = 200, body = Page<PersonView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn list(
    grid: web::Data<Grid>,
    principal: Principal,
    filter: web::Query<GridFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let under = match &filter.grid {
        Some(g) => JurisdictionCode::parse(g.trim()).map_err(|e| ApiError::invalid("grid", e))?,
        None => principal.scope.clone(),
    };
    authorize_read(&principal, DATASET, &under)?;
    let cursor = parse_cursor(page.cursor.as_deref())?;
    let mut q = person::Entity::find().filter(person::Column::GridCode.starts_with(under.as_str()));
    if let Some(c) = cursor {
        q = q.filter(person::Column::Id.gt(c));
    }
    let rows = q
        .order_by_asc(person::Column::Id)
        .limit(limit + 1)
        .all(&grid.db)
        .await?;
    let ids: Vec<String> = rows.iter().map(|p| p.id_number.clone()).collect();
    let homes = resident::Entity::find()
        .filter(resident::Column::IdNumber.is_in(ids))
        .all(&grid.db)
        .await?;
    let policy = privacy::current(&grid.db).await?;
    let masker = Masker::new(&policy, &principal);
    let views: Vec<PersonView> = rows
        .iter()
        .map(|p| {
            let home = homes
                .iter()
                .find(|r| r.id_number == p.id_number)
                .map(|r| r.house_code.clone());
            view(&masker, p, home)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.to_string())))
}

/// Find a person by ID number (in the body, so it never lands in an access log).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub id_number: String,
}

/// Find a person by ID number: staff (and departments with `persons`) within their scope.
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons/search",
    request_body = Search,
    responses(
        (status = 200, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nobody of that number in your scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn search(
    grid: web::Data<Grid>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: Search = parse_json(&body, "id_number")?;
    let id_number =
        IdNumber::parse(input.id_number.trim()).map_err(|e| ApiError::invalid("id_number", e))?;
    authorize_read(&principal, DATASET, &principal.scope)?;
    let p = person::Entity::find()
        .filter(person::Column::IdNumber.eq(id_number.to_string()))
        .filter(person::Column::GridCode.starts_with(principal.scope.as_str()))
        .one(&grid.db)
        .await?
        .ok_or_else(|| ApiError::NotFound("nobody of that ID number in your scope".into()))?;
    Ok(HttpResponse::Ok().json(view_one(&grid.db, &principal, &p).await?))
}

/// A move to another house.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub to_house: String,
    /// The version the client last saw (offline collection): 409 if it changed since.
    pub expected_version: Option<i64>,
}

/// He moves to another house: `moved_out` of the old, `moved_in` to the new.
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons/{id}/moves",
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = MoveRequest,
    responses(
        (status = 200, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-deceased`, `version-conflict`, `already-resident`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn moves(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(moves_op(&grid, &principal, &source, id.into_inner(), &body).await)
}

/// `moves` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn moves_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    id: Uuid,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: MoveRequest = parse_json(body, "to_house")?;
    let to =
        HouseCode::parse(input.to_house.trim()).map_err(|e| ApiError::invalid("to_house", e))?;
    let house = house_in_use(&grid.db, &to).await?;
    let txn = grid.db.begin_write().await?;
    lock_row(
        &txn,
        "houses",
        "code",
        sea_orm::Value::from(house.code.clone()),
    )
    .await?;
    let p = locked(&txn, id).await?;
    let from = grid_of(&p.grid_code)?;
    authorize_change(principal, DATASET, &[&from], &grid_of(&house.grid_code)?)?;
    if p.status == "dead" {
        return Err(deceased(&p));
    }
    check_version("the person", input.expected_version, p.version)?;
    if resident::Entity::find_by_id(p.id_number.clone())
        .one(&txn)
        .await?
        .is_some_and(|r| r.house_code == house.code)
    {
        return Err(ApiError::AlreadyResident(house.code));
    }
    let p = relocate(&txn, source, p, &house, None, None).await?;
    let v = view_one(&txn, principal, &p).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}

/// He leaves his house (and the district's records keep him, living nowhere known).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveOutRequest {
    pub expected_version: Option<i64>,
    /// Why, if known (1–500 characters).
    pub reason: Option<String>,
}

/// He moves out of his house without a new one recorded here (`moved_out`).
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons/{id}/move-out",
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = MoveOutRequest,
    responses(
        (status = 200, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-deceased`, `version-conflict`, `not-resident`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn move_out(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(move_out_op(&grid, &principal, &source, id.into_inner(), &body).await)
}

/// `move_out` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn move_out_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    id: Uuid,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: MoveOutRequest = parse_json(body, "expected_version and reason")?;
    let reason = clean_text("reason", input.reason, 500)?;
    let txn = grid.db.begin_write().await?;
    let p = locked(&txn, id).await?;
    let g = grid_of(&p.grid_code)?;
    authorize_change(principal, DATASET, &[&g], &g)?;
    if p.status == "dead" {
        return Err(deceased(&p));
    }
    check_version("the person", input.expected_version, p.version)?;
    let details = match reason {
        Some(r) => serde_json::json!({ "reason": r }),
        None => serde_json::json!({}),
    };
    let p = depart(&txn, source, p, "moved_out", details).await?;
    let v = view_one(&txn, principal, &p).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}

/// A death.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeathRequest {
    /// The date of death (not in the future, not before the birth).
    pub date: NaiveDate,
    pub expected_version: Option<i64>,
}

/// He died: status `dead`, no longer a resident anywhere; nothing can happen to him after.
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons/{id}/death",
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = DeathRequest,
    responses(
        (status = 200, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-deceased`, `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-date`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn death(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source = Source::of(&principal);
    crate::error::reply(death_op(&grid, &principal, &source, id.into_inner(), &body).await)
}

/// `death` as `principal`, the change recorded as coming from `source` (the REST route,
/// or a record collected in the field).
pub async fn death_op(
    grid: &Grid,
    principal: &Principal,
    source: &Source,
    id: Uuid,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let input: DeathRequest = parse_json(body, "date (YYYY-MM-DD)")?;
    let txn = grid.db.begin_write().await?;
    let p = locked(&txn, id).await?;
    let g = grid_of(&p.grid_code)?;
    authorize_change(principal, DATASET, &[&g], &g)?;
    if p.status == "dead" {
        return Err(deceased(&p));
    }
    check_version("the person", input.expected_version, p.version)?;
    if input.date > Utc::now().date_naive() || input.date < p.birth_date {
        return Err(ApiError::unprocessable(
            "invalid-date",
            "the date of death lies in the future or before the birth",
        ));
    }
    let details = serde_json::json!({ "date": input.date });
    let p = depart(&txn, source, p, "died", details).await?;
    let v = view_one(&txn, principal, &p).await?;
    txn.commit().await?;
    grid.relay.notify();
    Ok((
        StatusCode::OK,
        serde_json::to_value(&v).map_err(anyhow::Error::from)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_years() {
        let birth = NaiveDate::from_ymd_opt(1946, 6, 15).unwrap();
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 14).unwrap()),
            79
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()),
            80
        );
        assert_eq!(
            age_on(birth, NaiveDate::from_ymd_opt(1940, 1, 1).unwrap()),
            0
        );
    }
}
