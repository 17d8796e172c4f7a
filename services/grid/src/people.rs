//! People from birth to death through the API: born (or first registered), moved, moved out,
//! died; each step goes through the one write operation ([`crate::write`]) and is recorded by
//! [`crate::residence`] as a life event with its source and evidence.
//!
//! Who may record a change ([`crate::access`]): the grid worker of the grid that holds the
//! person, an officer whose scope holds it, or a department entitled to the `persons` data set
//! (the hospital and civil affairs reporting births and deaths) within its scope. A move between
//! grids is the source side's: the grid worker of the grid the person leaves (he may send him to
//! any house in use in the district, after which he no longer sees him), or an officer or a
//! department whose scope holds both grids. The worker of the destination cannot pull a person
//! out of another grid (403 `source-out-of-scope`): the newcomer's own declaration, the worker of
//! where he lived or an officer moves him.

use actix_web::{HttpResponse, web};
use chrono::{Months, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::Principal;
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_platform::Problem;
use zw_platform::page::{Page, PageQuery};

use crate::access::{self, GridFilter, PERSONS, stored_grid};
use crate::body::{self, JsonBody, clean_phone, clean_text};
use crate::error::{ApiError, parse_cursor};
use crate::locks::lock_row;
use crate::masking::{self, Field, Masker};
use crate::model::{house, person, resident};
use crate::paging::{self, Order};
use crate::residence::{self, Arrival, age_on, deceased, house_in_use};
use crate::state::Grid;
use crate::write::{Answer, Applied, Change, Creation, Done, Tx, Write};

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

pub async fn view_one(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    p: &person::Model,
) -> Result<PersonView, ApiError> {
    let policy = masking::current(conn).await?;
    let house = resident::Entity::find_by_id(p.id_number.clone())
        .one(conn)
        .await?
        .map(|r| r.house_code);
    Ok(view(&Masker::new(&policy, principal), p, house))
}

// ---------------------------------------------------------------------------------------------

/// The answer of a step: the person as the caller may see him.
async fn answered(tx: &Tx<'_>, p: person::Model) -> Done<person::Model, PersonView> {
    let output = view_one(tx.txn, tx.principal, &p).await?;
    Ok(Applied { record: p, output })
}

/// A person nobody can change any more.
fn alive(p: &person::Model) -> Result<(), ApiError> {
    if p.status == "dead" {
        return Err(deceased(p));
    }
    Ok(())
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

/// A checked first record of a person.
struct Birth {
    id_number: IdNumber,
    name: Option<String>,
    phone: Option<String>,
    house: house::Model,
    grid: JurisdictionCode,
    change: &'static str,
}

#[async_trait::async_trait]
impl Creation for Birth {
    type Record = person::Model;
    type Output = PersonView;

    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        PERSONS.authorize_create(principal, &self.grid)
    }

    async fn apply(self, tx: &Tx<'_>) -> Done<person::Model, Self::Output> {
        lock_row(tx.txn, "houses", "code", self.house.code.as_str()).await?;
        lock_row(tx.txn, "persons", "id_number", self.id_number.as_str()).await?;
        if person::Entity::find()
            .filter(person::Column::IdNumber.eq(self.id_number.as_str()))
            .count(tx.txn)
            .await?
            > 0
        {
            return Err(ApiError::conflict(
                "person-exists",
                "this person is already recorded; search for him by ID number",
            ));
        }
        let p = residence::record_new(
            tx.txn,
            tx.source,
            Arrival {
                id_number: &self.id_number,
                name: self.name,
                phone: self.phone,
                house: &self.house,
                declaration_id: None,
            },
            self.change,
        )
        .await?;
        answered(tx, p).await
    }
}

/// Record a person: born here, or first registered here.
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons",
    request_body = NewPerson,
    responses(
        (status = 201, body = PersonView),
        (status = 400, description = "Malformed input (an ID number whose birth date lies in the future included)", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-exists`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`, `not-a-newborn`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(w: Write, body: JsonBody) -> Result<Answer, ApiError> {
    let input: NewPerson = body::parse(&body, "id_number, house_code and change")?;
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
    if change == "born"
        && today
            .checked_sub_months(Months::new(12))
            .is_some_and(|y| id_number.birth_date() < y)
    {
        return Err(ApiError::unprocessable(
            "not-a-newborn",
            "a birth is recorded within a year of the birth date; record him as registered",
        ));
    }
    let house = house_in_use(&w.grid().db, &house_code).await?;
    let birth = Birth {
        grid: stored_grid(&house.grid_code)?,
        id_number,
        name,
        phone,
        house,
        change,
    };
    Answer::created(w.create(birth).await?)
}

/// One person.
#[utoipa::path(
    get,
    path = "/api/v1/grid/persons/{id}",
    params(("id" = Uuid, Path, description = "Person id")),
    responses(
        (status = 200, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that reads no persons", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person that you may see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn get_person(
    grid: web::Data<Grid>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let p = access::person(&grid.db, &principal, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view_one(&grid.db, &principal, &p).await?))
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
    let under = filter.under(&principal)?;
    PERSONS.authorize_list(&principal, &under)?;
    let cursor = parse_cursor(page.cursor.as_deref())?;
    let q = person::Entity::find().filter(person::Column::GridCode.starts_with(under.as_str()));
    let rows = paging::rows(
        &grid.db,
        q,
        person::Column::Id,
        Order::Ascending,
        cursor,
        limit,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|p| p.id_number.clone()).collect();
    let homes = resident::Entity::find()
        .filter(resident::Column::IdNumber.is_in(ids))
        .all(&grid.db)
        .await?;
    let policy = masking::current(&grid.db).await?;
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
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn search(
    grid: web::Data<Grid>,
    principal: Principal,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let input: Search = body::parse(&body, "id_number")?;
    let id_number =
        IdNumber::parse(input.id_number.trim()).map_err(|e| ApiError::invalid("id_number", e))?;
    let p = access::person_by_id_number(&grid.db, &principal, &id_number).await?;
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

/// A checked move: to a house in use.
struct Move {
    to: house::Model,
}

#[async_trait::async_trait]
impl Change<person::Model> for Move {
    type Output = PersonView;

    /// The house first: every change that counts its residents locks it before the person.
    async fn prepare(&self, tx: &Tx<'_>) -> Result<(), ApiError> {
        lock_row(tx.txn, "houses", "code", self.to.code.as_str()).await?;
        Ok(())
    }

    fn destination(&self, _person: &person::Model) -> Option<JurisdictionCode> {
        JurisdictionCode::parse(&self.to.grid_code).ok()
    }

    fn check(&self, p: &person::Model) -> Result<(), ApiError> {
        alive(p)
    }

    async fn apply(self, tx: &Tx<'_>, p: person::Model) -> Done<person::Model, Self::Output> {
        if resident::Entity::find_by_id(p.id_number.as_str())
            .one(tx.txn)
            .await?
            .is_some_and(|r| r.house_code == self.to.code)
        {
            return Err(ApiError::AlreadyResident(self.to.code));
        }
        let p = residence::relocate(tx.txn, tx.source, p, &self.to, None).await?;
        answered(tx, p).await
    }
}

/// He moves to another house: `moved_out` of the old, `moved_in` to the new. Between grids, the
/// source side moves him (see the module documentation).
#[utoipa::path(
    post,
    path = "/api/v1/grid/persons/{id}/moves",
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = MoveRequest,
    responses(
        (status = 200, body = PersonView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a role that records people, a destination outside an officer's scope, or `source-out-of-scope`: the person is held by another grid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-deceased`, `version-conflict`, `already-resident`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown-house`, `house-not-in-use`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn moves(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<Answer, ApiError> {
    let input: MoveRequest = body::parse(&body, "to_house")?;
    let to =
        HouseCode::parse(input.to_house.trim()).map_err(|e| ApiError::invalid("to_house", e))?;
    let change = Move {
        to: house_in_use(&w.grid().db, &to).await?,
    };
    Answer::ok(
        w.change(&id.into_inner(), input.expected_version, change)
            .await?,
    )
}

/// He leaves his house (and the district's records keep him, living nowhere known).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveOutRequest {
    pub expected_version: Option<i64>,
    /// Why, if known (1–500 characters).
    pub reason: Option<String>,
}

/// A departure: moving out to nowhere known, or death.
struct Departure {
    change: &'static str,
    details: serde_json::Value,
    /// A death's date (not before the birth).
    died_on: Option<NaiveDate>,
}

#[async_trait::async_trait]
impl Change<person::Model> for Departure {
    type Output = PersonView;

    fn check(&self, p: &person::Model) -> Result<(), ApiError> {
        alive(p)
    }

    async fn apply(self, tx: &Tx<'_>, p: person::Model) -> Done<person::Model, Self::Output> {
        if self.died_on.is_some_and(|d| d < p.birth_date) {
            return Err(ApiError::unprocessable(
                "invalid-date",
                "the date of death lies in the future or before the birth",
            ));
        }
        let p = residence::depart(tx.txn, tx.source, p, self.change, self.details).await?;
        answered(tx, p).await
    }
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
        (status = 404, description = "No such person that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-deceased`, `version-conflict`, `not-resident`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn move_out(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<Answer, ApiError> {
    let input: MoveOutRequest = body::parse(&body, "expected_version and reason")?;
    let details = match clean_text("reason", input.reason, 500)? {
        Some(r) => serde_json::json!({ "reason": r }),
        None => serde_json::json!({}),
    };
    let departure = Departure {
        change: "moved_out",
        details,
        died_on: None,
    };
    Answer::ok(
        w.change(&id.into_inner(), input.expected_version, departure)
            .await?,
    )
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
        (status = 404, description = "No such person that you may see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`person-deceased`, `version-conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid-date`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn death(w: Write, id: web::Path<Uuid>, body: JsonBody) -> Result<Answer, ApiError> {
    let input: DeathRequest = body::parse(&body, "date (YYYY-MM-DD)")?;
    if input.date > Utc::now().date_naive() {
        return Err(ApiError::unprocessable(
            "invalid-date",
            "the date of death lies in the future or before the birth",
        ));
    }
    let departure = Departure {
        change: "died",
        details: serde_json::json!({ "date": input.date }),
        died_on: Some(input.date),
    };
    Answer::ok(
        w.change(&id.into_inner(), input.expected_version, departure)
            .await?,
    )
}
