//! Users: created by an admin (any role), or by a citizen registering himself with his resident
//! ID number; listed, disabled and enabled by an admin.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_domain::{JurisdictionCode, Phone};
use zw_platform::Problem;
use zw_platform::db::BeginWrite;
use zw_platform::page::{Page, PageQuery};

use super::{Identity, json_body, require_admin};
use crate::accounts::{self, NewUser, UserView, find_user_by_id, user_view};
use crate::domain::{Assignment, DisplayName, Password, Username, bound_id_number};
use crate::error::ApiError;
use crate::model::user;
use crate::revocations::{self, Revoker, SubjectReason};

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
    /// A citizen's resident ID number (GB 11643), from his ID card: required for a citizen, and
    /// refused for any other account. One account per number.
    #[schema(example = "11010519491231002X")]
    pub id_number: Option<String>,
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
    /// His own resident ID number (GB 11643): his account is bound to it, his tokens carry it,
    /// and it is who he may declare himself to be. One account per number.
    #[schema(example = "11010519491231002X")]
    pub id_number: String,
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

/// The ID number an account of `roles` is bound to, as a 400 when it does not fit.
fn id_number(roles: &[Role], id: Option<&str>) -> Result<Option<zw_domain::IdNumber>, ApiError> {
    bound_id_number(roles, id, chrono::Utc::now().date_naive()).map_err(invalid("id_number"))
}

fn created(row: &user::Model) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/identity/users/{}", row.id)))
        .json(user_view(row)?))
}

/// Create a user with any roles within the admin's scope. A citizen's account (created at a hall,
/// after seeing his ID card) is bound to his resident ID number.
#[utoipa::path(
    post,
    path = "/api/v1/identity/users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Invalid input (bad username, short password, scope that does not fit a role, a citizen without a valid ID number, an ID number for anyone else)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or the scope is outside the admin's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username-taken`, or `id-number-taken` (another account is bound to this ID number)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was created; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
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
    let assignment = Assignment::parse(&input.roles, &input.scope, &state.district)
        .map_err(invalid("roles/scope"))?;
    let new = NewUser {
        username: Username::parse(&input.username).map_err(invalid("username"))?,
        password: Password::parse(&input.password).map_err(invalid("password"))?,
        id_number: id_number(assignment.roles(), input.id_number.as_deref())?,
        assignment,
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
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
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
    let row = admin_target(&state, &principal, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(user_view(&row)?))
}

/// Register as a citizen of this district (no token needed), bound to one's own resident ID
/// number: checked (GB 11643) and unique, it is who the account may declare itself to be. The
/// number is not checked against the public-security register here: an account registered with
/// someone else's number is recovered at a hall (`id-number-taken` says only that one exists).
#[utoipa::path(
    post,
    path = "/api/v1/identity/citizens",
    request_body = CitizenRegistration,
    responses(
        (status = 201, description = "Registered; log in with the token endpoint", body = UserView),
        (status = 400, description = "Invalid input (bad username, short password, bad phone, an ID number that is missing or fails its check)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username-taken`, or `id-number-taken` (an account is already bound to this ID number)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was created; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
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
        id_number: id_number(&[Role::Citizen], Some(&input.id_number))?,
        id: None,
    };
    let row = accounts::create_user(&state.db, &state.passwords, new, "self-registration").await?;
    created(&row)
}

/// Which users to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Users whose scope lies under this jurisdiction (default: the admin's scope). Citizens are
    /// scoped to the district.
    pub under: Option<JurisdictionCode>,
}

/// Users within the admin's scope, by id; ID numbers and phones masked.
#[utoipa::path(
    get,
    path = "/api/v1/identity/users",
    params(UserFilter, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<UserView>),
        (status = 400, description = "A bad `under`, `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or `under` is outside the admin's scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_users(
    state: web::Data<Identity>,
    principal: Principal,
    filter: web::Query<UserFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let under = filter
        .under
        .clone()
        .unwrap_or_else(|| principal.scope.clone());
    principal.authorize(&under)?;
    let limit = page.limit().map_err(ApiError::InvalidInput)?;
    let after = page
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| ApiError::InvalidInput("cursor: not a cursor of this list".into()))
        })
        .transpose()?;
    let rows = accounts::list_users(&state.db, &under, after, limit + 1).await?;
    let views = rows
        .iter()
        .map(user_view)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |v| v.id.to_string())))
}

/// Disable a user: he cannot log in, and every token issued to him is refused from now on by the
/// gateway and every service. Disabling a disabled user changes nothing. An admin cannot disable
/// himself.
#[utoipa::path(
    post,
    path = "/api/v1/identity/users/{id}/disable",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, disabled", body = UserView),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or outside the admin's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`own-account`: an admin cannot disable himself", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was changed; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn disable_user(
    state: web::Data<Identity>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = admin_target(&state, &principal, id.into_inner()).await?;
    if user.id.to_string() == principal.subject {
        return Err(ApiError::Conflict {
            code: "own-account",
            detail: "you cannot disable your own account: ask another admin".into(),
        });
    }
    let by = Revoker::from(&principal);
    let txn = state.db.begin_write().await?;
    let Some(row) = accounts::set_disabled(&txn, user.id, true, &by.id).await? else {
        txn.rollback().await?;
        return Ok(HttpResponse::Ok().json(user_view(&user)?));
    };
    let revocation = revocations::revoke_subject(
        &txn,
        &row.id.to_string(),
        SubjectReason::Disabled,
        &by,
        &state.district,
        &state.auth,
    )
    .await?;
    txn.commit().await?;
    state.announce(&revocation);
    tracing::info!(user = %row.id, by = %principal.subject, "user disabled; his tokens are revoked");
    Ok(HttpResponse::Ok().json(user_view(&row)?))
}

/// Enable a disabled user: he may log in again (the tokens revoked when he was disabled stay
/// revoked). Enabling an enabled user changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/identity/users/{id}/enable",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, enabled", body = UserView),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, or outside the admin's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was changed; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn enable_user(
    state: web::Data<Identity>,
    principal: Principal,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user = admin_target(&state, &principal, id.into_inner()).await?;
    let txn = state.db.begin_write().await?;
    let row = accounts::set_disabled(&txn, user.id, false, &principal.subject).await?;
    txn.commit().await?;
    if row.is_some() {
        tracing::info!(user = %user.id, by = %principal.subject, "user enabled");
    }
    Ok(HttpResponse::Ok().json(user_view(row.as_ref().unwrap_or(&user))?))
}

/// The user an admin acts on: 403 unless admin, 404 without one, 403 outside his scope.
async fn admin_target(
    state: &Identity,
    principal: &Principal,
    id: Uuid,
) -> Result<user::Model, ApiError> {
    require_admin(principal)?;
    let row = find_user_by_id(&state.db, id).await?;
    principal.authorize(&user_view(&row)?.scope)?;
    Ok(row)
}
