//! Users: created by an admin (any role), or by a citizen registering himself.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_domain::{JurisdictionCode, Phone};
use zw_platform::Problem;

use super::{Identity, json_body, require_admin};
use crate::accounts::{self, NewUser, UserView, user_view};
use crate::domain::{Assignment, DisplayName, Password, Username};
use crate::error::ApiError;
use crate::model::user;

/// A user an admin creates.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 3–64 of `a-z 0-9 . _ -` (upper case is folded to lower).
    #[schema(example = "wang.grid003")]
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    /// Roles; each must fit the scope's level (grid_worker → 15-digit grid code,
    /// community_officer → 12, street_officer → 9, the others → the 6-digit district).
    pub roles: Vec<Role>,
    /// Jurisdiction scope.
    pub scope: JurisdictionCode,
    /// Display name.
    pub name: Option<String>,
    /// Mainland mobile number.
    pub phone: Option<String>,
}

/// A citizen registering himself: role citizen, scope the district.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenRegistration {
    /// 3–64 of `a-z 0-9 . _ -` (upper case is folded to lower).
    #[schema(example = "li.lei")]
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    /// Display name.
    pub name: Option<String>,
    /// Mainland mobile number.
    #[schema(example = "13800138000")]
    pub phone: Option<String>,
}

fn invalid(field: &str) -> impl Fn(String) -> ApiError + '_ {
    move |e| ApiError::InvalidInput(format!("{field}: {e}"))
}

fn phone(p: Option<&str>) -> Result<Option<Phone>, ApiError> {
    p.map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Phone::parse(p).map_err(|e| ApiError::InvalidInput(format!("phone: {e}"))))
        .transpose()
}

fn created(row: &user::Model) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/identity/users/{}", row.id)))
        .json(user_view(row)?))
}

/// Create a user with any roles within the admin's scope.
#[utoipa::path(
    post,
    path = "/api/v1/identity/users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Invalid input (bad username, short password, scope that does not fit a role)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or the scope is outside the admin's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_user(
    state: web::Data<Identity>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let input: CreateUser = json_body(&body)?;
    let new = NewUser {
        username: Username::parse(&input.username).map_err(invalid("username"))?,
        password: Password::parse(&input.password).map_err(invalid("password"))?,
        assignment: Assignment::parse(&input.roles, &input.scope, &state.district)
            .map_err(invalid("roles/scope"))?,
        name: DisplayName::parse_optional(input.name.as_deref()).map_err(invalid("name"))?,
        phone: phone(input.phone.as_deref())?,
        id: None,
    };
    principal.authorize(new.assignment.scope())?;
    let row = accounts::create_user(&state.db, &state.passwords, new, &principal.subject).await?;
    created(&row)
}

/// A user, if it lies within the admin's scope.
#[utoipa::path(
    get,
    path = "/api/v1/identity/users/{id}",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or outside the admin's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_user(
    state: web::Data<Identity>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    use sea_orm::EntityTrait;
    require_admin(&principal)?;
    let id = id.into_inner();
    let row = user::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    let view = user_view(&row)?;
    principal.authorize(&view.scope)?;
    Ok(HttpResponse::Ok().json(view))
}

/// Register as a citizen of this district (no token needed).
#[utoipa::path(
    post,
    path = "/api/v1/identity/citizens",
    request_body = CitizenRegistration,
    responses(
        (status = 201, description = "Registered; log in with the token endpoint", body = UserView),
        (status = 400, description = "Invalid input (bad username, short password, bad phone)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_citizen(
    state: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: CitizenRegistration = json_body(&body)?;
    let new = NewUser {
        username: Username::parse(&input.username).map_err(invalid("username"))?,
        password: Password::parse(&input.password).map_err(invalid("password"))?,
        assignment: Assignment::parse(&[Role::Citizen], &state.district, &state.district)
            .map_err(invalid("scope"))?,
        name: DisplayName::parse_optional(input.name.as_deref()).map_err(invalid("name"))?,
        phone: phone(input.phone.as_deref())?,
        id: None,
    };
    let row = accounts::create_user(&state.db, &state.passwords, new, "self-registration").await?;
    created(&row)
}
