//! Users and service accounts in the database: creating them, finding them for login, showing
//! them, disabling and enabling users, and seeding the demo accounts.
//!
//! A citizen's account carries his resident ID number (one account per number): it goes into his
//! tokens, in full, so that he may declare himself; it is shown masked everywhere else and never
//! logged (the model's `Debug` masks it; nothing here formats it).

use std::fmt;
use zw_platform::db::BeginWrite;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use uuid::Uuid;
use zw_auth::{Role, TokenRequest};
use zw_domain::{IdNumber, JurisdictionCode, Level, Phone};

use crate::domain::{
    Assignment, ClientId, Datasets, DisplayName, Password, Username, bound_id_number,
};
use crate::error::{ApiError, CLIENT_ID_KEY, ID_NUMBER_KEY, OnUnique, USERNAME_KEY};
use crate::model::{service_account, user};
use crate::password::Passwords;

/// A user to create, parsed.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub username: Username,
    /// Password (hashed before storage).
    pub password: Password,
    /// Roles and scope.
    pub assignment: Assignment,
    /// Display name.
    pub name: Option<DisplayName>,
    /// Mobile number.
    pub phone: Option<Phone>,
    /// A citizen's resident ID number ([`bound_id_number`]: required for citizens, absent for
    /// everyone else).
    pub id_number: Option<IdNumber>,
    /// A fixed user id (seeded demo accounts, which other services' seeds name); a new one
    /// otherwise.
    pub id: Option<Uuid>,
}

/// A user as the API shows it: never the password hash; the phone masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user's id (the `sub` of its tokens).
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Jurisdiction scope.
    pub scope: JurisdictionCode,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Mobile number, masked (`138****5678`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A citizen's resident ID number, masked (`440304********001X`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "440304********0010")]
    pub id_number: Option<String>,
    /// A disabled user cannot log in, and his tokens were revoked.
    pub disabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A service account as the API shows it after creation (the secret only then).
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountView {
    /// The account's id (the `sub` of its tokens).
    pub id: Uuid,
    /// Client id for the client-credentials grant.
    pub client_id: String,
    /// The client secret: shown once, at creation; only its hash is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Always `[department]`.
    pub roles: Vec<Role>,
    /// Jurisdiction scope (the district).
    pub scope: JurisdictionCode,
    /// Data sets the department is entitled to.
    pub datasets: Vec<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for ServiceAccountView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountView")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

fn roles_of(json: &serde_json::Value) -> anyhow::Result<Vec<Role>> {
    serde_json::from_value(json.clone()).context("stored roles do not parse")
}

fn strings_of(json: &serde_json::Value) -> anyhow::Result<Vec<String>> {
    serde_json::from_value(json.clone()).context("stored data sets do not parse")
}

fn scope_of(s: &str) -> anyhow::Result<JurisdictionCode> {
    JurisdictionCode::parse(s).with_context(|| format!("stored scope {s:?} does not parse"))
}

/// Show a stored user.
pub fn user_view(m: &user::Model) -> anyhow::Result<UserView> {
    Ok(UserView {
        id: m.id,
        username: m.username.clone(),
        roles: roles_of(&m.roles)?,
        scope: scope_of(&m.scope)?,
        name: m.name.clone(),
        phone: m
            .phone
            .as_deref()
            .and_then(|p| Phone::parse(p).ok())
            .map(|p| p.masked()),
        id_number: m.id_number.as_ref().map(IdNumber::masked),
        disabled: m.disabled,
        created_at: m.created_at,
    })
}

/// What a token for this user says.
pub fn user_token_request(m: &user::Model) -> anyhow::Result<TokenRequest> {
    Ok(TokenRequest {
        subject: m.id.to_string(),
        roles: roles_of(&m.roles)?,
        scope: scope_of(&m.scope)?,
        datasets: Vec::new(),
        name: Some(m.name.clone().unwrap_or_else(|| m.username.clone())),
        id_number: m.id_number.clone(),
    })
}

/// What a token for this service account says.
pub fn client_token_request(m: &service_account::Model) -> anyhow::Result<TokenRequest> {
    Ok(TokenRequest {
        subject: m.id.to_string(),
        roles: roles_of(&m.roles)?,
        scope: scope_of(&m.scope)?,
        datasets: strings_of(&m.datasets)?,
        name: Some(m.name.clone().unwrap_or_else(|| m.client_id.clone())),
        id_number: None,
    })
}

/// Store a new user; a taken username is 409 `username-taken`, an ID number bound to another
/// account 409 `id-number-taken` (which account is not said).
pub async fn create_user(
    db: &DatabaseConnection,
    passwords: &Passwords,
    new: NewUser,
    actor: &str,
) -> Result<user::Model, ApiError> {
    let hash = passwords.hash(new.password.expose()).await?;
    let username = new.username.as_str().to_owned();
    let txn = db.begin_write().await?;
    let row = user::ActiveModel {
        id: Set(new.id.unwrap_or_else(Uuid::now_v7)),
        username: Set(username.clone()),
        password_hash: Set(hash),
        roles: Set(serde_json::to_value(new.assignment.roles()).context("roles as JSON")?),
        scope: Set(new.assignment.scope().to_string()),
        name: Set(new.name.map(|n| n.as_str().to_owned())),
        phone: Set(new.phone.map(|p| p.as_str().to_owned())),
        disabled: Set(false),
        created_at: Set(Utc::now()),
        id_number: Set(new.id_number),
    }
    .insert(&txn)
    .await
    .map_err(|e| user_conflict(e, &username))?;
    user_evidence(&txn, actor, "user.create", &row).await?;
    txn.commit().await?;
    // Citizens often take their mobile number as user name: masked.
    tracing::info!(user = %row.id, username = %zw_domain::redact(&row.username), "user created");
    Ok(row)
}

/// A violated unique key of a new user as its 409; any other error as it is. The ID number's
/// conflict does not say whose account holds it.
fn user_conflict(e: sea_orm::DbErr, username: &str) -> ApiError {
    if USERNAME_KEY.violated_by(&e) {
        ApiError::Conflict {
            code: "username-taken",
            detail: format!("the username {username} is taken"),
        }
    } else if ID_NUMBER_KEY.violated_by(&e) {
        ApiError::Conflict {
            code: "id-number-taken",
            detail: "an account is already bound to this ID number (one account per person): \
                     the hall can recover it"
                .into(),
        }
    } else {
        ApiError::from(e)
    }
}

/// The evidence of a change to a user: its id, name, roles, scope, state, and (hashed with the
/// rest, never stored) the ID number it is bound to.
pub async fn user_evidence(
    txn: &DatabaseTransaction,
    actor: &str,
    action: &str,
    row: &user::Model,
) -> Result<(), ApiError> {
    zw_evidence::append(
        txn,
        actor,
        action,
        &format!("user/{}", row.id),
        &serde_json::json!({
            "username": row.username,
            "roles": row.roles,
            "scope": row.scope,
            "disabled": row.disabled,
            "id_number": row.id_number.as_ref().map(IdNumber::as_str),
        }),
    )
    .await
    .context("evidence of the user change")?;
    Ok(())
}

/// The user with this id (404 without one).
pub async fn find_user_by_id(db: &DatabaseConnection, id: Uuid) -> Result<user::Model, ApiError> {
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
}

/// Users whose scope lies under `under`, by id, after `after`: at most `limit`.
pub async fn list_users(
    db: &DatabaseConnection,
    under: &JurisdictionCode,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<user::Model>, sea_orm::DbErr> {
    let mut q = user::Entity::find().filter(user::Column::Scope.starts_with(under.as_str()));
    if let Some(after) = after {
        q = q.filter(user::Column::Id.gt(after));
    }
    q.order_by_asc(user::Column::Id).limit(limit).all(db).await
}

/// Disable (`true`) or enable a user, with its evidence, in the caller's transaction; `None`
/// when he already was (nothing written).
pub async fn set_disabled(
    txn: &DatabaseTransaction,
    id: Uuid,
    disabled: bool,
    actor: &str,
) -> Result<Option<user::Model>, ApiError> {
    use sea_orm::sea_query::Expr;
    let changed = user::Entity::update_many()
        .col_expr(user::Column::Disabled, Expr::value(disabled))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Disabled.eq(!disabled))
        .exec(txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Ok(None);
    }
    let row = user::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))?;
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    user_evidence(txn, actor, action, &row).await?;
    Ok(Some(row))
}

/// The user with this (canonical) username.
pub async fn find_user(
    db: &DatabaseConnection,
    username: &str,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await
}

/// A service account to create, parsed.
#[derive(Debug)]
pub struct NewServiceAccount {
    /// Client id.
    pub client_id: ClientId,
    /// The department's scope (a district code).
    pub assignment: Assignment,
    /// Data sets it is entitled to.
    pub datasets: Datasets,
    /// Display name.
    pub name: Option<DisplayName>,
}

/// Store a new service account with `secret` (hashed); a taken client id is 409
/// `client-id-taken`.
pub async fn create_service_account(
    db: &DatabaseConnection,
    passwords: &Passwords,
    new: NewServiceAccount,
    secret: &str,
    actor: &str,
) -> Result<service_account::Model, ApiError> {
    let hash = passwords.hash(secret).await?;
    let client_id = new.client_id.as_str().to_owned();
    let txn = db.begin_write().await?;
    let row =
        service_account::ActiveModel {
            id: Set(Uuid::now_v7()),
            client_id: Set(client_id.clone()),
            secret_hash: Set(hash),
            roles: Set(serde_json::to_value(new.assignment.roles()).context("roles as JSON")?),
            scope: Set(new.assignment.scope().to_string()),
            datasets: Set(
                serde_json::to_value(new.datasets.into_inner()).context("data sets as JSON")?
            ),
            name: Set(new.name.map(|n| n.as_str().to_owned())),
            disabled: Set(false),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await
        .on_unique(CLIENT_ID_KEY, || ApiError::Conflict {
            code: "client-id-taken",
            detail: format!("the client id {client_id} is taken"),
        })?;
    zw_evidence::append(
        &txn,
        actor,
        "service_account.create",
        &format!("service_account/{}", row.id),
        &serde_json::json!({"client_id": row.client_id, "scope": row.scope, "datasets": row.datasets}),
    )
    .await
    .context("evidence of the new service account")?;
    txn.commit().await?;
    tracing::info!(account = %row.id, client_id = %row.client_id, "service account created");
    Ok(row)
}

/// Show a stored service account, with the secret if it was just created.
pub fn service_account_view(
    m: &service_account::Model,
    secret: Option<String>,
) -> anyhow::Result<ServiceAccountView> {
    Ok(ServiceAccountView {
        id: m.id,
        client_id: m.client_id.clone(),
        client_secret: secret,
        roles: roles_of(&m.roles)?,
        scope: scope_of(&m.scope)?,
        datasets: strings_of(&m.datasets)?,
        name: m.name.clone(),
        created_at: m.created_at,
    })
}

/// The service account with this (canonical) client id.
pub async fn find_service_account(
    db: &DatabaseConnection,
    client_id: &str,
) -> Result<Option<service_account::Model>, sea_orm::DbErr> {
    service_account::Entity::find()
        .filter(service_account::Column::ClientId.eq(client_id))
        .one(db)
        .await
}

/// A demo or bootstrap user for [`seed_accounts`].
#[derive(Clone)]
pub struct SeedAccount {
    /// Login name (3–64 of `a-z 0-9 . _ -`).
    pub username: String,
    /// Password (at least 8 characters).
    pub password: String,
    /// Roles; each must fit the scope's level.
    pub roles: Vec<Role>,
    /// Jurisdiction scope.
    pub scope: JurisdictionCode,
    /// Display name.
    pub name: Option<String>,
    /// A citizen's resident ID number (required for a citizen, see [`bound_id_number`]).
    pub id_number: Option<IdNumber>,
    /// A fixed user id (see [`NewUser::id`]).
    pub id: Option<Uuid>,
}

impl fmt::Debug for SeedAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedAccount")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("roles", &self.roles)
            .field("scope", &self.scope)
            .field("name", &self.name)
            .field("id_number", &self.id_number)
            .field("id", &self.id)
            .finish()
    }
}

/// A demo or bootstrap department account for [`seed_service_accounts`].
#[derive(Clone)]
pub struct SeedServiceAccount {
    /// Client id.
    pub client_id: String,
    /// Client secret (at least 8 characters).
    pub client_secret: String,
    /// The district it works in.
    pub scope: JurisdictionCode,
    /// Data sets it is entitled to.
    pub datasets: Vec<String>,
    /// Display name.
    pub name: Option<String>,
}

impl fmt::Debug for SeedServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedServiceAccount")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("scope", &self.scope)
            .field("datasets", &self.datasets)
            .finish_non_exhaustive()
    }
}

fn district_of(scope: &JurisdictionCode) -> JurisdictionCode {
    scope
        .at_level(Level::District)
        .unwrap_or_else(|| scope.clone())
}

/// Create the users that do not exist yet (by username); existing users are left as they are,
/// passwords included. Idempotent, and safe to run while the service runs (it uses the same
/// database: pass the connection from [`crate::connect`]).
pub async fn seed_accounts(
    db: &DatabaseConnection,
    accounts: &[SeedAccount],
) -> anyhow::Result<()> {
    let passwords = Passwords::new().await?;
    for a in accounts {
        let invalid = |e: String| anyhow::anyhow!("seed account {:?}: {e}", a.username);
        let username = Username::parse(&a.username).map_err(invalid)?;
        if find_user(db, username.as_str()).await?.is_some() {
            continue;
        }
        let new = NewUser {
            password: Password::parse(&a.password).map_err(invalid)?,
            assignment: Assignment::parse(&a.roles, &a.scope, &district_of(&a.scope))
                .map_err(invalid)?,
            name: DisplayName::parse_optional(a.name.as_deref()).map_err(invalid)?,
            phone: None,
            id_number: bound_id_number(
                &a.roles,
                a.id_number.as_ref().map(IdNumber::as_str),
                Utc::now().date_naive(),
            )
            .map_err(invalid)?,
            username,
            id: a.id,
        };
        match create_user(db, &passwords, new, "system:seed").await {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(anyhow::anyhow!("seed account {:?}: {e}", a.username)),
        }
    }
    Ok(())
}

/// Create the department accounts that do not exist yet (by client id). Idempotent.
pub async fn seed_service_accounts(
    db: &DatabaseConnection,
    accounts: &[SeedServiceAccount],
) -> anyhow::Result<()> {
    let passwords = Passwords::new().await?;
    for a in accounts {
        let invalid = |e: String| anyhow::anyhow!("seed service account {:?}: {e}", a.client_id);
        let client_id = ClientId::parse(&a.client_id).map_err(invalid)?;
        if find_service_account(db, client_id.as_str())
            .await?
            .is_some()
        {
            continue;
        }
        Password::parse(&a.client_secret).map_err(invalid)?;
        let new = NewServiceAccount {
            client_id,
            assignment: Assignment::parse(&[Role::Department], &a.scope, &district_of(&a.scope))
                .map_err(invalid)?,
            datasets: Datasets::parse(&a.datasets).map_err(invalid)?,
            name: DisplayName::parse_optional(a.name.as_deref()).map_err(invalid)?,
        };
        match create_service_account(db, &passwords, new, &a.client_secret, "system:seed").await {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "seed service account {:?}: {e}",
                    a.client_id
                ));
            }
        }
    }
    Ok(())
}
