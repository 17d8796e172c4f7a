//! Open311 GeoReport v2 (<http://wiki.open311.org/GeoReport_v2>) over the same incidents, under
//! `/api/v1/grid/open311/v2`: `services` (the incident categories), `requests` (create, list,
//! get). JSON only.
//!
//! Differences from a public city endpoint, on purpose:
//! - Incidents are not public: reading requests needs a key too (`api_key` in the query, or a
//!   bearer token), and shows what the REST API would show that caller (a citizen his own, staff
//!   their scope, departments with the `incidents` data set their scope). The key is a Zhiwang
//!   access token.
//! - The reporter's contact details (email, names, phone) are stored for the handlers but never
//!   returned here.
//! - Errors are in the Open311 format (`[{"code": 400, "description": "…"}]`, `application/json`)
//!   with the same HTTP status, not problem+json: Open311 clients parse that. A missing or bad key
//!   is 403, as the specification has it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use uuid::Uuid;
use zw_auth::{Principal, Verifier};

use super::{self as incidents, CATEGORIES, Contact, Level, NewIncident, incident};
use crate::access;
use crate::error::ApiError;
use crate::state::Grid;
use crate::write::Write;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(
    paths(
        services,
        service_definition,
        create_request,
        list_requests,
        get_request
    ),
    components(schemas(
        Service,
        ServiceDefinition,
        ServiceRequest,
        RequestCreated,
        Open311ErrorItem,
        CreateForm
    ))
)]
pub struct Api;

const BASE: &str = "/api/v1/grid/open311/v2";

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(format!("{BASE}/services.json")).route(web::get().to(services)))
        .service(
            web::resource(format!("{BASE}/services/{{code}}.json"))
                .route(web::get().to(service_definition)),
        )
        .service(
            web::resource(format!("{BASE}/requests.json"))
                .route(web::post().to(create_request))
                .route(web::get().to(list_requests)),
        )
        .service(
            web::resource(format!("{BASE}/requests/{{id}}.json")).route(web::get().to(get_request)),
        );
}

// ---------------------------------------------------------------------------------------------
// Errors

/// One Open311 error.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Open311ErrorItem {
    /// The HTTP status again.
    pub code: u16,
    pub description: String,
}

/// An error answered in the Open311 format, `[{"code": …, "description": …}]`.
#[derive(Debug, thiserror::Error)]
#[error("{description}")]
pub struct Open311Error {
    status: StatusCode,
    description: String,
}

impl Open311Error {
    fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
        }
    }
    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }
    fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, description)
    }
}

impl From<ApiError> for Open311Error {
    fn from(e: ApiError) -> Self {
        // The problem is built (and an unexpected error logged) the one usual way; its detail
        // says no more than the problem+json would.
        let p = e.problem();
        let status = p.status_code();
        let status = if matches!(e, ApiError::Auth(_)) && status == StatusCode::UNAUTHORIZED {
            StatusCode::FORBIDDEN
        } else {
            status
        };
        Self::new(status, p.detail.unwrap_or(p.title))
    }
}

impl ResponseError for Open311Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json([Open311ErrorItem {
            code: self.status.as_u16(),
            description: self.description.clone(),
        }])
    }
}

type Result<T> = std::result::Result<T, Open311Error>;

/// The caller, from `Authorization: Bearer` or else the `api_key` parameter.
async fn caller(req: &HttpRequest, api_key: Option<&str>) -> Result<Principal> {
    let header = zw_auth::bearer_token(req)
        .map_err(|e| Open311Error::new(StatusCode::FORBIDDEN, e.to_string()))?;
    let token = header
        .or_else(|| api_key.filter(|k| !k.is_empty()).map(str::to_owned))
        .ok_or_else(|| {
            Open311Error::new(
                StatusCode::FORBIDDEN,
                "an api_key (a Zhiwang access token) is required",
            )
        })?;
    let verifier = req
        .app_data::<web::Data<Verifier>>()
        .ok_or_else(|| Open311Error::from(ApiError::Unexpected(anyhow::anyhow!("no verifier"))))?;
    verifier
        .verify(&token)
        .await
        .map_err(|e| Open311Error::new(StatusCode::FORBIDDEN, format!("invalid api_key: {e}")))
}

fn query<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    web::Query::<T>::from_query(s)
        .map(web::Query::into_inner)
        .map_err(|e| Open311Error::bad_request(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Services

/// A service: one incident category.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// Always false: no service has extra attributes.
    pub metadata: bool,
    /// Always `realtime`.
    #[serde(rename = "type")]
    pub service_type: String,
    pub keywords: String,
    pub group: String,
}

/// A service definition: no service has attributes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Vec<serde_json::Value>,
}

/// The services: the incident categories.
#[utoipa::path(
    get,
    path = "/api/v1/grid/open311/v2/services.json",
    params(("jurisdiction_id" = Option<String>, Query, description = "Ignored: one jurisdiction")),
    responses((status = 200, body = Vec<Service>)),
)]
async fn services() -> HttpResponse {
    let list: Vec<Service> = CATEGORIES
        .iter()
        .map(|c| Service {
            service_code: c.code.into(),
            service_name: c.name.into(),
            description: c.description.into(),
            metadata: false,
            service_type: "realtime".into(),
            keywords: c.keywords.into(),
            group: c.group.into(),
        })
        .collect();
    HttpResponse::Ok().json(list)
}

/// A service's definition (no attributes).
#[utoipa::path(
    get,
    path = "/api/v1/grid/open311/v2/services/{service_code}.json",
    params(("service_code" = String, Path, description = "A service code")),
    responses(
        (status = 200, body = ServiceDefinition),
        (status = 404, description = "No such service (Open311 error format)", body = Vec<Open311ErrorItem>),
    ),
)]
async fn service_definition(code: web::Path<String>) -> Result<HttpResponse> {
    let code = code.into_inner();
    let c = incidents::category(&code)
        .ok_or_else(|| Open311Error::not_found(format!("no service {code}")))?;
    Ok(HttpResponse::Ok().json(ServiceDefinition {
        service_code: c.code.into(),
        attributes: Vec::new(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Requests

/// The form of `POST requests.json` (`application/x-www-form-urlencoded`). Other fields
/// (`jurisdiction_id`, `device_id`, `account_id`, `attribute[…]`) are accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CreateForm {
    /// A Zhiwang access token (or send `Authorization: Bearer`).
    pub api_key: Option<String>,
    pub service_code: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub address_string: Option<String>,
    /// A house code: places the request in the house's grid.
    pub address_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub media_url: Option<String>,
}

/// The answer to a created request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestCreated {
    pub service_request_id: String,
    pub service_notice: Option<String>,
    pub account_id: Option<String>,
}

/// A service request (an incident) as Open311 shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    pub service_request_id: String,
    /// `open`, or `closed` once verified or closed.
    pub status: String,
    /// The resolution, once resolved.
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    pub description: String,
    /// The centre of the level that handles it now.
    pub agency_responsible: String,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    /// The current level's deadline.
    pub expected_datetime: String,
    pub address: Option<String>,
    /// The house code, if reported for a house.
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

fn w3c(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn open311_status(status: &str) -> &'static str {
    match status {
        "verified" | "closed" => "closed",
        _ => "open",
    }
}

fn request_view(m: &incident::Model) -> ServiceRequest {
    let level = Level::parse(&m.level).unwrap_or(Level::Grid);
    ServiceRequest {
        service_request_id: m.id.to_string(),
        status: open311_status(&m.status).into(),
        status_notes: m.resolution.clone(),
        service_name: incidents::category(&m.category)
            .map(|c| c.name.to_owned())
            .unwrap_or_else(|| m.category.clone()),
        service_code: m.category.clone(),
        description: m.description.clone(),
        agency_responsible: level.agency(&m.grid_code),
        service_notice: None,
        requested_datetime: w3c(m.created_at),
        updated_datetime: w3c(m.updated_at),
        expected_datetime: w3c(m.deadline),
        address: m.address.clone(),
        address_id: m.house_code.clone(),
        zipcode: None,
        lat: m.lat,
        long: m.lng,
        media_url: m.media_url.clone(),
    }
}

fn some(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn coordinate(name: &str, v: &Option<String>) -> Result<Option<f64>> {
    some(v)
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| Open311Error::bad_request(format!("{name} is not a number")))
        })
        .transpose()
}

/// Create a service request: an incident, `reported` at the grid level. Its place: `address_id`
/// (a house code), else `lat`/`long` (the grid with the nearest centre).
#[utoipa::path(
    post,
    path = "/api/v1/grid/open311/v2/requests.json",
    request_body(content = CreateForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, body = Vec<RequestCreated>),
        (status = 400, description = "Missing or bad field, unknown service_code, no location (Open311 error format)", body = Vec<Open311ErrorItem>),
        (status = 403, description = "No or bad api_key, or outside the key's scope (Open311 error format)", body = Vec<Open311ErrorItem>),
        (status = 415, description = "Not a form (Open311 error format)", body = Vec<Open311ErrorItem>),
        (status = 422, description = "Unknown house, or no grid with a centre for lat/long (Open311 error format)", body = Vec<Open311ErrorItem>),
    ),
    security((), ("bearer" = []))
)]
async fn create_request(
    grid: web::Data<Grid>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(Open311Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| Open311Error::bad_request("the form is not UTF-8"))?;
    let form: CreateForm = query(text)?;
    let principal = caller(&req, form.api_key.as_deref()).await?;
    let code = some(&form.service_code)
        .ok_or_else(|| Open311Error::bad_request("service_code is required"))?;
    let category = incidents::category(&code)
        .ok_or_else(|| Open311Error::bad_request(format!("service_code {code} not found")))?;
    let contact = Contact {
        email: some(&form.email),
        first_name: some(&form.first_name),
        last_name: some(&form.last_name),
        phone: some(&form.phone),
    };
    let input = NewIncident {
        category: code,
        description: some(&form.description).unwrap_or_else(|| category.name.to_owned()),
        house_code: some(&form.address_id),
        grid_code: None,
        lat: coordinate("lat", &form.lat)?,
        lng: coordinate("long", &form.long)?,
        address: some(&form.address_string),
        media_url: some(&form.media_url),
        contact: Some(contact),
    };
    let m = incidents::create(&Write::by(grid, principal), &input).await?;
    let level = Level::parse(&m.level).unwrap_or(Level::Grid);
    Ok(HttpResponse::Created().json([RequestCreated {
        service_request_id: m.id.to_string(),
        service_notice: Some(format!(
            "Handled by the {}; expected by {}",
            level.agency(&m.grid_code),
            w3c(m.deadline)
        )),
        account_id: None,
    }]))
}

/// The query of `GET requests.json`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated ids; overrides every other filter.
    pub service_request_id: Option<String>,
    /// Comma-separated service codes.
    pub service_code: Option<String>,
    /// ISO 8601; default 90 days before `end_date`.
    pub start_date: Option<String>,
    /// ISO 8601; default now.
    pub end_date: Option<String>,
    /// Comma-separated: `open`, `closed`.
    pub status: Option<String>,
    /// A Zhiwang access token (or send `Authorization: Bearer`).
    pub api_key: Option<String>,
    /// Ignored: one jurisdiction.
    pub jurisdiction_id: Option<String>,
}

fn date(name: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>> {
    some(v)
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| {
                    Open311Error::bad_request(format!(
                        "{name}: {e} (use e.g. 2026-01-01T00:00:00Z)"
                    ))
                })
        })
        .transpose()
}

fn list_of(v: &Option<String>) -> Vec<String> {
    some(v)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Service requests the key may see, newest first: by ids, or by service, status and date
/// (default the last 90 days), at most 1000.
#[utoipa::path(
    get,
    path = "/api/v1/grid/open311/v2/requests.json",
    params(ListQuery),
    responses(
        (status = 200, body = Vec<ServiceRequest>),
        (status = 400, description = "Bad filter (Open311 error format)", body = Vec<Open311ErrorItem>),
        (status = 403, description = "No or bad api_key (Open311 error format)", body = Vec<Open311ErrorItem>),
    ),
    security((), ("bearer" = []))
)]
async fn list_requests(grid: web::Data<Grid>, req: HttpRequest) -> Result<HttpResponse> {
    let q: ListQuery = query(req.query_string())?;
    let principal = caller(&req, q.api_key.as_deref()).await?;
    let mut select = incident::Entity::find().filter(access::incidents_visible(&principal)?);
    let ids = list_of(&q.service_request_id);
    if ids.is_empty() {
        let end = date("end_date", &q.end_date)?.unwrap_or_else(Utc::now);
        let start =
            date("start_date", &q.start_date)?.unwrap_or_else(|| end - chrono::Duration::days(90));
        select = select
            .filter(incident::Column::CreatedAt.gte(start))
            .filter(incident::Column::CreatedAt.lte(end));
        let codes = list_of(&q.service_code);
        if !codes.is_empty() {
            select = select.filter(incident::Column::Category.is_in(codes));
        }
        let statuses = list_of(&q.status);
        if let Some(bad) = statuses
            .iter()
            .find(|s| !matches!(s.as_str(), "open" | "closed"))
        {
            return Err(Open311Error::bad_request(format!(
                "status {bad}: use open or closed"
            )));
        }
        let (open, closed) = (
            statuses.iter().any(|s| s == "open"),
            statuses.iter().any(|s| s == "closed"),
        );
        if open != closed {
            let done = ["verified", "closed"];
            select = if closed {
                select.filter(incident::Column::Status.is_in(done))
            } else {
                select.filter(incident::Column::Status.is_not_in(done))
            };
        }
    } else {
        let ids = ids
            .iter()
            .map(|s| Uuid::parse_str(s))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Open311Error::bad_request("service_request_id: not ids of this API"))?;
        select = select.filter(incident::Column::Id.is_in(ids));
    }
    let rows = select
        .order_by_desc(incident::Column::Id)
        .limit(1000)
        .all(&grid.db)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(rows.iter().map(request_view).collect::<Vec<_>>()))
}

/// One service request, as an array of one.
#[utoipa::path(
    get,
    path = "/api/v1/grid/open311/v2/requests/{service_request_id}.json",
    params(
        ("service_request_id" = String, Path, description = "The id"),
        ("api_key" = Option<String>, Query, description = "A Zhiwang access token (or send `Authorization: Bearer`)"),
    ),
    responses(
        (status = 200, body = Vec<ServiceRequest>),
        (status = 403, description = "No or bad api_key (Open311 error format)", body = Vec<Open311ErrorItem>),
        (status = 404, description = "No such request that the key may see (Open311 error format)", body = Vec<Open311ErrorItem>),
    ),
    security((), ("bearer" = []))
)]
async fn get_request(
    grid: web::Data<Grid>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let q: ListQuery = query(req.query_string())?;
    let principal = caller(&req, q.api_key.as_deref()).await?;
    let id = id.into_inner();
    let uuid = Uuid::parse_str(&id)
        .map_err(|_| Open311Error::not_found(format!("no service request {id}")))?;
    let m = access::incident(&grid.db, &principal, uuid).await?;
    Ok(HttpResponse::Ok().json([request_view(&m)]))
}
