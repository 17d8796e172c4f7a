//! Department service accounts: created by an admin; the client secret is returned once.

use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use zw_auth::{Principal, Role};
use zw_domain::JurisdictionCode;
use zw_platform::Problem;

use super::{Identity, json_body, require_admin};
use crate::accounts::{self, NewServiceAccount, ServiceAccountView, service_account_view};
use crate::domain::{Assignment, ClientId, Datasets, DisplayName};
use crate::error::ApiError;
use crate::password::new_client_secret;

/// A department's service account.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// 3–64 of `a-z 0-9 . _ -` (upper case is folded to lower).
    #[schema(example = "futian-police")]
    pub client_id: String,
    /// Display name of the department.
    pub name: Option<String>,
    /// The district (default: this deployment's district).
    pub scope: Option<JurisdictionCode>,
    /// Data sets it is entitled to (`a-z 0-9 . _ - :`), e.g. `persons`, `incidents`, or
    /// `cases:civil_affairs` for the cases of one recipient.
    #[serde(default)]
    pub datasets: Vec<String>,
}

/// Create a service account with role `department`; the response carries the client secret,
/// which is not stored and cannot be shown again.
#[utoipa::path(
    post,
    path = "/api/v1/identity/service-accounts",
    request_body = CreateServiceAccount,
    responses(
        (status = 201, description = "Created; `client_secret` is shown this once", body = ServiceAccountView),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The client id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`database-busy`: nothing was created; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_service_account(
    state: web::Data<Identity>,
    principal: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let input: CreateServiceAccount = json_body(&body)?;
    let bad =
        |field: &'static str| move |e: String| ApiError::InvalidInput(format!("{field}: {e}"));
    let scope = input.scope.unwrap_or_else(|| state.district.clone());
    let new = NewServiceAccount {
        client_id: ClientId::parse(&input.client_id).map_err(bad("client_id"))?,
        assignment: Assignment::parse(&[Role::Department], &scope, &state.district)
            .map_err(bad("scope"))?,
        datasets: Datasets::parse(&input.datasets).map_err(bad("datasets"))?,
        name: DisplayName::parse_optional(input.name.as_deref()).map_err(bad("name"))?,
    };
    principal.authorize(new.assignment.scope())?;
    let secret = new_client_secret()?;
    let row = accounts::create_service_account(
        &state.db,
        &state.passwords,
        new,
        &secret,
        &principal.subject,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(service_account_view(&row, Some(secret))?))
}
