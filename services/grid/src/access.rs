//! Who may read or touch what, once: the scoped finders every handler goes through (as svix's
//! `secure_find`), so that no handler can forget a scope, a role or the source side of a move.
//!
//! Reading:
//! - Staff (grid worker, officers, admin) read the records of the jurisdiction their scope holds;
//!   a department reads a kind of record when it is entitled to that kind's data set, in its
//!   scope; a citizen reads his own: his declarations, the incidents he reported, his own person
//!   record and those of his household whose declaration he made and that were accepted.
//! - A record the caller may not read is "not found" (404) whether or not it exists: a finder
//!   never says that a person, an entity, an incident, a task, a case or a photo is kept
//!   elsewhere. Houses are the exception: their label is on the door (`GET /houses/{code}` shows
//!   it to anyone), so a house out of scope is a plain 403.
//! - A role that can never read a kind (a citizen and legal entities, a department without the
//!   data set) is told so first (403): that says nothing about any record.
//!
//! Changing ([`crate::write`] calls these on the record as it is, locked in its transaction):
//! - the writer roles of its kind, in the scope that holds the record now (the current holder);
//! - a change that moves the record (a person to another house, an entity to other premises) is
//!   authorized on its destination too: a grid worker may send a record of his grid to any grid
//!   of the district, after which he no longer sees it; an officer or a department moves records
//!   only within its scope (it holds both grids);
//! - whoever holds the destination but not the source cannot pull a record in: 403
//!   `source-out-of-scope`. A person changes grid through the source grid's worker, an officer
//!   whose scope holds both grids, or his own declaration; a legal entity through its grid's
//!   worker, or an officer or a department whose scope holds both.
//!
//! Photos belong to the jurisdiction of the records they are attached to, wherever those records
//! live now: whoever may read one of them, and whoever uploaded the bytes, may fetch the photo.

use std::fmt::Display;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use serde::Deserialize;
use uuid::Uuid;
use zw_auth::{AuthError, Principal, Role};
use zw_contracts::DeclarationStatus;
use zw_domain::{CreditCode, HouseCode, JurisdictionCode};

use crate::error::ApiError;
use crate::locks::lock_and_read;
use crate::model::incident::Level;
use crate::model::{
    case, census_round, declaration, grid, house, incident, legal_entity, media, media_attachment,
    media_upload, person, task,
};
use crate::write::{Asked, Record, Tx};

/// The roles that work on the records of a jurisdiction.
pub const STAFF: [Role; 5] = [
    Role::GridWorker,
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
    Role::Admin,
];

/// The officers of the community, street and district centres.
pub const OFFICERS: [Role; 3] = [
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
];

/// A citizen and nothing else (staff with a citizen account act as staff).
pub fn only_citizen(p: &Principal) -> bool {
    p.has_role(Role::Citizen) && p.roles.len() == 1
}

/// A grid worker who is not also an officer.
fn grid_worker_alone(p: &Principal) -> bool {
    p.has_role(Role::GridWorker) && !p.has_any_role(&OFFICERS)
}

/// A grid code read back from the database.
pub fn stored_grid(code: &str) -> Result<JurisdictionCode, ApiError> {
    JurisdictionCode::parse(code)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code {code:?}: {e}")))
}

/// The principal of a change the platform makes itself (the escalation sweep): no roles, so it
/// passes no authorization; it only names the actor.
pub fn system(component: &str, district: &JurisdictionCode) -> Principal {
    Principal {
        subject: format!("system:{component}"),
        roles: Vec::new(),
        scope: district.clone(),
        datasets: Vec::new(),
        token_id: String::new(),
        name: None,
        id_number: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Kinds of record kept per grid

/// A kind of record kept per grid, and who may read and change it.
#[derive(Debug)]
pub struct Kind {
    /// What it is called in problems.
    pub name: &'static str,
    /// Who changes it (in the scope that holds it).
    writers: &'static [Role],
    /// The data set a department needs to read it (and, if it is a writer, to change it).
    dataset: &'static str,
    /// Its existence is public (a house: its label is on the door).
    public: bool,
}

/// People: staff read them; grid workers, officers and departments with `persons` record them.
pub const PERSONS: Kind = Kind {
    name: "person",
    writers: &[
        Role::GridWorker,
        Role::CommunityOfficer,
        Role::StreetOfficer,
        Role::DistrictOfficer,
        Role::Department,
    ],
    dataset: "persons",
    public: false,
};

/// Legal entities: as people, with the `entities` data set.
pub const ENTITIES: Kind = Kind {
    name: "legal entity",
    writers: PERSONS.writers,
    dataset: "entities",
    public: false,
};

/// Houses: staff change them; departments with `houses` read them.
pub const HOUSES: Kind = Kind {
    name: "house",
    writers: &STAFF,
    dataset: "houses",
    public: true,
};

impl Kind {
    /// Whether `p` reads records of this kind at all (staff, or a department with the data set).
    fn reads(&self, p: &Principal) -> bool {
        p.has_any_role(&STAFF)
            || (p.has_role(Role::Department) && p.datasets.iter().any(|d| d == self.dataset))
    }

    /// 403 for a caller who reads no record of this kind anywhere (it says nothing of any one).
    pub fn require_reader(&self, p: &Principal) -> Result<(), ApiError> {
        if self.reads(p) {
            return Ok(());
        }
        if p.has_role(Role::Department) {
            return Err(AuthError::NotEntitled(self.dataset.to_owned()).into());
        }
        Err(
            AuthError::MissingRole(STAFF.iter().copied().chain([Role::Department]).collect())
                .into(),
        )
    }

    /// Whether `p` may read a record of this kind kept in `grid`.
    pub fn may_read(&self, p: &Principal, grid: &JurisdictionCode) -> bool {
        self.reads(p) && p.can_access(grid)
    }

    /// Reading every record under `under` (a list names a jurisdiction, not a record: 403 when
    /// it lies outside the caller's scope).
    pub fn authorize_list(&self, p: &Principal, under: &JurisdictionCode) -> Result<(), ApiError> {
        self.require_reader(p)?;
        p.authorize(under)?;
        Ok(())
    }

    /// 403 for a caller who changes no record of this kind anywhere.
    fn require_writer(&self, p: &Principal) -> Result<(), ApiError> {
        p.require_role(self.writers)?;
        // A department writes only with the data set; staff by their role.
        let as_staff = self
            .writers
            .iter()
            .any(|w| *w != Role::Department && p.has_role(*w));
        if !as_staff {
            p.require_dataset(self.dataset)?;
        }
        Ok(())
    }

    /// Creating a record of this kind in `grid`.
    pub fn authorize_create(&self, p: &Principal, grid: &JurisdictionCode) -> Result<(), ApiError> {
        self.require_writer(p)?;
        p.authorize(grid)?;
        Ok(())
    }

    /// Changing the record `asked.key` held in `current`, moving it to `asked.destination` if
    /// the change does (see the module documentation).
    pub fn authorize_change<K: Display + ?Sized>(
        &self,
        asked: &Asked<'_, K>,
        current: &JurisdictionCode,
    ) -> Result<(), ApiError> {
        let p = asked.principal;
        self.require_writer(p)?;
        if !p.can_access(current) {
            if asked.destination.is_some_and(|d| p.can_access(d)) {
                return Err(self.source_out_of_scope());
            }
            if self.public {
                p.authorize(current)?;
            }
            return Err(self.not_found(&asked.key));
        }
        if let Some(d) = asked.destination {
            if grid_worker_alone(p) {
                if !asked.district.contains(d) {
                    return Err(AuthError::OutOfScope {
                        target: d.clone(),
                        scope: asked.district.clone(),
                    }
                    .into());
                }
            } else {
                p.authorize(d)?;
            }
        }
        Ok(())
    }

    /// 404 for `key`: nothing of this kind that the caller may see (whether or not it exists).
    pub fn not_found(&self, key: &dyn Display) -> ApiError {
        ApiError::NotFound(format!("no {} {key} that you may see", self.name))
    }

    fn source_out_of_scope(&self) -> ApiError {
        ApiError::forbidden(
            "source-out-of-scope",
            format!(
                "this {} is held outside your scope: only who holds it where it is now moves it \
                 here (its grid's worker, or an officer whose scope holds both grids; a person \
                 also by his own declaration)",
                self.name
            ),
        )
    }
}

/// The jurisdiction a list of records asks for (`?grid=`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridFilter {
    /// A jurisdiction code (grid or above); default: the caller's scope.
    pub grid: Option<String>,
}

impl GridFilter {
    /// The jurisdiction asked for (default the caller's scope).
    pub fn under(&self, principal: &Principal) -> Result<JurisdictionCode, ApiError> {
        match &self.grid {
            Some(g) => JurisdictionCode::parse(g.trim()).map_err(|e| ApiError::invalid("grid", e)),
            None => Ok(principal.scope.clone()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading by id

/// The persons a citizen may read: himself (his account's real-name ID number) and the members
/// of his household whose declaration he made and that were accepted.
pub async fn citizen_persons(
    conn: &impl ConnectionTrait,
    p: &Principal,
) -> Result<Vec<Uuid>, ApiError> {
    let mut id_numbers: Vec<String> = declaration::Entity::find()
        .select_only()
        .column(declaration::Column::IdNumber)
        .filter(declaration::Column::SubmittedBy.eq(p.subject.as_str()))
        .filter(declaration::Column::DeclaredAs.is_in(["self", "household"]))
        .filter(declaration::Column::Status.eq(DeclarationStatus::Accepted.as_str()))
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    if let Some(own) = &p.id_number {
        id_numbers.push(own.to_string());
    }
    if id_numbers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(person::Entity::find()
        .select_only()
        .column(person::Column::Id)
        .filter(person::Column::IdNumber.is_in(id_numbers))
        .into_tuple()
        .all(conn)
        .await?)
}

/// The person `id`, if `p` may read him (404 otherwise).
pub async fn person(
    conn: &impl ConnectionTrait,
    p: &Principal,
    id: Uuid,
) -> Result<person::Model, ApiError> {
    if only_citizen(p) {
        if !citizen_persons(conn, p).await?.contains(&id) {
            return Err(PERSONS.not_found(&id));
        }
    } else {
        PERSONS.require_reader(p)?;
    }
    let found = person::Entity::find_by_id(id).one(conn).await?;
    match found {
        Some(m) if only_citizen(p) || PERSONS.may_read(p, &stored_grid(&m.grid_code)?) => Ok(m),
        _ => Err(PERSONS.not_found(&id)),
    }
}

/// The person of ID number `id_number` within `p`'s scope (404 otherwise).
pub async fn person_by_id_number(
    conn: &impl ConnectionTrait,
    p: &Principal,
    id_number: &zw_domain::IdNumber,
) -> Result<person::Model, ApiError> {
    PERSONS.require_reader(p)?;
    let found = person::Entity::find()
        .filter(person::Column::IdNumber.eq(id_number.as_str()))
        .one(conn)
        .await?;
    match found {
        Some(m) if PERSONS.may_read(p, &stored_grid(&m.grid_code)?) => Ok(m),
        _ => Err(ApiError::NotFound(
            "nobody of that ID number in your scope".into(),
        )),
    }
}

/// The legal entity `code`, if `p` may read it (404 otherwise).
pub async fn entity(
    conn: &impl ConnectionTrait,
    p: &Principal,
    code: &CreditCode,
) -> Result<legal_entity::Model, ApiError> {
    ENTITIES.require_reader(p)?;
    let found = legal_entity::Entity::find_by_id(code.as_str())
        .one(conn)
        .await?;
    match found {
        Some(m) if ENTITIES.may_read(p, &stored_grid(&m.grid_code)?) => Ok(m),
        _ => Err(ENTITIES.not_found(code)),
    }
}

/// The whole record of house `code` for staff (and departments with `houses`) whose scope holds
/// it: 404 when there is no such house, 403 out of scope (its existence is public).
pub async fn house(
    conn: &impl ConnectionTrait,
    p: &Principal,
    code: &HouseCode,
) -> Result<house::Model, ApiError> {
    HOUSES.require_reader(p)?;
    let h = house::Entity::find_by_id(code.as_str())
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no house {code}")))?;
    p.authorize(&stored_grid(&h.grid_code)?)?;
    Ok(h)
}

/// Whether `p` sees the whole record of `h` (not only what the door shows).
pub fn sees_house(p: &Principal, h: &house::Model) -> bool {
    JurisdictionCode::parse(&h.grid_code).is_ok_and(|g| HOUSES.may_read(p, &g))
}

/// The data set a department needs to report and read incidents.
pub const INCIDENTS_DATASET: &str = "incidents";

/// Incidents `p` may see: a citizen those he reported, staff those in their scope, departments
/// with the `incidents` data set those in their scope.
pub fn incidents_visible(p: &Principal) -> Result<Condition, ApiError> {
    if only_citizen(p) {
        return Ok(Condition::all().add(incident::Column::Reporter.eq(p.subject.clone())));
    }
    if !p.has_any_role(&STAFF) {
        p.require_role(&[Role::Department])?;
        p.require_dataset(INCIDENTS_DATASET)?;
    }
    Ok(Condition::all().add(incident::Column::GridCode.starts_with(p.scope.as_str())))
}

/// Whether `p` handles incidents of `grid` at `level`: the grid worker of the grid, the
/// community, street or district officer whose scope holds it.
pub fn handles(p: &Principal, level: Level, grid: &str) -> bool {
    p.has_role(level.handler_role())
        && JurisdictionCode::parse(grid).is_ok_and(|g| p.can_access(&g))
}

/// The incident `id`, if `p` may see it (404 otherwise).
pub async fn incident(
    conn: &impl ConnectionTrait,
    p: &Principal,
    id: Uuid,
) -> Result<incident::Model, ApiError> {
    incident::Entity::find_by_id(id)
        .filter(incidents_visible(p)?)
        .one(conn)
        .await?
        .ok_or_else(|| incident_not_found(id))
}

fn incident_not_found(id: impl Display) -> ApiError {
    ApiError::NotFound(format!("no incident {id} that you may see"))
}

/// Declarations `p` may see: a citizen those he made, staff those in grids under their scope.
pub fn declarations_visible(p: &Principal) -> Result<Condition, ApiError> {
    if only_citizen(p) {
        return Ok(Condition::all().add(declaration::Column::SubmittedBy.eq(p.subject.clone())));
    }
    p.require_role(&STAFF)?;
    Ok(Condition::all().add(declaration::Column::GridCode.starts_with(p.scope.as_str())))
}

/// The declaration `id`, if `p` may see it (404 otherwise).
pub async fn declaration(
    conn: &impl ConnectionTrait,
    p: &Principal,
    id: Uuid,
) -> Result<declaration::Model, ApiError> {
    declaration::Entity::find_by_id(id)
        .filter(declarations_visible(p)?)
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no declaration {id} that you may see")))
}

/// Verification tasks `p` may see: staff, those of grids under their scope.
pub fn tasks_visible(p: &Principal) -> Result<Condition, ApiError> {
    p.require_role(&STAFF)?;
    Ok(Condition::all().add(task::Column::GridCode.starts_with(p.scope.as_str())))
}

/// The recipients whose cases a department is entitled to (`cases:<recipient>` data sets).
pub fn entitled_recipients(p: &Principal) -> Vec<String> {
    p.datasets
        .iter()
        .filter_map(|d| d.strip_prefix("cases:"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Cases `p` may see, for `recipient` if given: staff those in their scope; a department those
/// in its scope for the recipients its `cases:<recipient>` data sets name (403 for another).
pub fn cases_visible(p: &Principal, recipient: Option<&str>) -> Result<Condition, ApiError> {
    let mut cond = Condition::all().add(case::Column::GridCode.starts_with(p.scope.as_str()));
    if p.has_any_role(&STAFF) {
        if let Some(r) = recipient {
            cond = cond.add(case::Column::Recipient.eq(r));
        }
        return Ok(cond);
    }
    if !p.has_role(Role::Department) {
        return Err(AuthError::MissingRole(
            STAFF.iter().copied().chain([Role::Department]).collect(),
        )
        .into());
    }
    let entitled = entitled_recipients(p);
    Ok(match recipient {
        Some(r) if entitled.iter().any(|e| e == r) => cond.add(case::Column::Recipient.eq(r)),
        Some(r) => return Err(AuthError::NotEntitled(format!("cases:{r}")).into()),
        None if entitled.is_empty() => {
            return Err(AuthError::NotEntitled("cases:<recipient>".into()).into());
        }
        None => cond.add(case::Column::Recipient.is_in(entitled)),
    })
}

/// Whether `p` may see case `c`.
fn sees_case(p: &Principal, c: &case::Model) -> bool {
    let in_scope = JurisdictionCode::parse(&c.grid_code).is_ok_and(|g| p.can_access(&g));
    in_scope
        && (p.has_any_role(&STAFF)
            || (p.has_role(Role::Department) && entitled_recipients(p).contains(&c.recipient)))
}

// ---------------------------------------------------------------------------------------------
// Photos

/// The stored photo `sha256`, if `p` may fetch it: he uploaded the same bytes, or he may read a
/// record it is attached to (404 otherwise).
pub async fn media(
    conn: &impl ConnectionTrait,
    p: &Principal,
    sha256: &str,
) -> Result<media::Model, ApiError> {
    let not_found = || ApiError::NotFound(format!("no media {sha256} that you may see"));
    let row = media::Entity::find_by_id(sha256)
        .one(conn)
        .await?
        .ok_or_else(not_found)?;
    if may_fetch(conn, p, &row).await? {
        Ok(row)
    } else {
        Err(not_found())
    }
}

async fn may_fetch(
    conn: &impl ConnectionTrait,
    p: &Principal,
    row: &media::Model,
) -> Result<bool, ApiError> {
    if row.uploaded_by == p.subject
        || media_upload::Entity::find_by_id((row.sha256.clone(), p.subject.clone()))
            .one(conn)
            .await?
            .is_some()
    {
        return Ok(true);
    }
    let attachments = media_attachment::Entity::find()
        .filter(media_attachment::Column::Sha256.eq(row.sha256.as_str()))
        .all(conn)
        .await?;
    for a in attachments {
        let readable = match a.subject_kind.as_str() {
            "person" => match Uuid::parse_str(&a.subject_key) {
                Ok(id) => person(conn, p, id).await.map(|_| ()),
                Err(_) => continue,
            },
            "entity" => match CreditCode::parse(&a.subject_key) {
                Ok(code) => entity(conn, p, &code).await.map(|_| ()),
                Err(_) => continue,
            },
            "house" => match HouseCode::parse(&a.subject_key) {
                Ok(code) => house(conn, p, &code).await.map(|_| ()),
                Err(_) => continue,
            },
            "incident" => match Uuid::parse_str(&a.subject_key) {
                Ok(id) => incident(conn, p, id).await.map(|_| ()),
                Err(_) => continue,
            },
            _ => continue,
        };
        match readable {
            Ok(()) => return Ok(true),
            Err(ApiError::NotFound(_) | ApiError::Auth(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Attach `photos` to the record `kind`/`key` in `tx`: each must be one the writer may fetch
/// (422 `unknown-media` otherwise, as for one never uploaded: a hash learnt elsewhere does not
/// make another grid's photo one's own).
pub async fn attach_media(
    tx: &Tx<'_>,
    kind: &str,
    key: &str,
    photos: &[String],
) -> Result<(), ApiError> {
    for sha256 in photos {
        let fetchable = match media::Entity::find_by_id(sha256.as_str())
            .one(tx.txn)
            .await?
        {
            Some(row) => may_fetch(tx.txn, tx.principal, &row).await?,
            None => false,
        };
        if !fetchable {
            return Err(ApiError::unprocessable(
                "unknown-media",
                format!("photo {sha256} was not uploaded; upload it to /api/v1/grid/media first"),
            ));
        }
        media_attachment::Entity::insert(media_attachment::ActiveModel {
            sha256: Set(sha256.clone()),
            subject_kind: Set(kind.to_owned()),
            subject_key: Set(key.to_owned()),
            attached_by: Set(tx.principal.subject.clone()),
            attached_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                media_attachment::Column::Sha256,
                media_attachment::Column::SubjectKind,
                media_attachment::Column::SubjectKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(tx.txn)
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The records the write operation changes: their scoped finders for writing

#[async_trait::async_trait]
impl Record for person::Model {
    type Key = Uuid;

    fn name(&self) -> String {
        "the person".into()
    }

    async fn lock(txn: &DatabaseTransaction, id: &Uuid) -> Result<Option<Self>, DbErr> {
        lock_and_read::<person::Entity, _>(txn, "persons", "id", *id).await
    }

    fn not_found(id: &Uuid) -> ApiError {
        PERSONS.not_found(id)
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn authorize(&self, asked: &Asked<'_, Uuid>) -> Result<(), ApiError> {
        PERSONS.authorize_change(asked, &stored_grid(&self.grid_code)?)
    }

    async fn attach(&self, tx: &Tx<'_>, photos: &[String]) -> Result<(), ApiError> {
        attach_media(tx, "person", &self.id.to_string(), photos).await
    }
}

#[async_trait::async_trait]
impl Record for legal_entity::Model {
    type Key = CreditCode;

    fn name(&self) -> String {
        "the entity".into()
    }

    async fn lock(txn: &DatabaseTransaction, code: &CreditCode) -> Result<Option<Self>, DbErr> {
        lock_and_read::<legal_entity::Entity, _>(
            txn,
            "legal_entities",
            "credit_code",
            code.as_str(),
        )
        .await
    }

    fn not_found(code: &CreditCode) -> ApiError {
        ENTITIES.not_found(code)
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn authorize(&self, asked: &Asked<'_, CreditCode>) -> Result<(), ApiError> {
        ENTITIES.authorize_change(asked, &stored_grid(&self.grid_code)?)
    }

    async fn attach(&self, tx: &Tx<'_>, photos: &[String]) -> Result<(), ApiError> {
        attach_media(tx, "entity", &self.credit_code, photos).await
    }
}

#[async_trait::async_trait]
impl Record for house::Model {
    type Key = HouseCode;

    fn name(&self) -> String {
        format!("house {}", self.code)
    }

    async fn lock(txn: &DatabaseTransaction, code: &HouseCode) -> Result<Option<Self>, DbErr> {
        lock_and_read::<house::Entity, _>(txn, "houses", "code", code.as_str()).await
    }

    fn not_found(code: &HouseCode) -> ApiError {
        ApiError::NotFound(format!("no house {code}"))
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn authorize(&self, asked: &Asked<'_, HouseCode>) -> Result<(), ApiError> {
        HOUSES.authorize_change(asked, &stored_grid(&self.grid_code)?)
    }

    async fn attach(&self, tx: &Tx<'_>, photos: &[String]) -> Result<(), ApiError> {
        attach_media(tx, "house", &self.code, photos).await
    }
}

#[async_trait::async_trait]
impl Record for incident::Model {
    type Key = Uuid;

    fn name(&self) -> String {
        "the incident".into()
    }

    async fn lock(txn: &DatabaseTransaction, id: &Uuid) -> Result<Option<Self>, DbErr> {
        lock_and_read::<incident::Entity, _>(txn, "incidents", "id", *id).await
    }

    fn not_found(id: &Uuid) -> ApiError {
        incident_not_found(id)
    }

    fn version(&self) -> i64 {
        self.version
    }

    /// Whoever sees it, and its assignee, get as far as the change's own rule (the handler of
    /// its level acts, the assignee resolves); anyone else is told there is no such incident.
    fn authorize(&self, asked: &Asked<'_, Uuid>) -> Result<(), ApiError> {
        let p = asked.principal;
        let in_scope = JurisdictionCode::parse(&self.grid_code).is_ok_and(|g| p.can_access(&g));
        let sees = if only_citizen(p) {
            self.reporter == p.subject
        } else {
            in_scope
                && (p.has_any_role(&STAFF)
                    || (p.has_role(Role::Department)
                        && p.datasets.iter().any(|d| d == INCIDENTS_DATASET)))
        };
        if sees || self.assignee.as_deref() == Some(p.subject.as_str()) {
            Ok(())
        } else {
            Err(incident_not_found(asked.key))
        }
    }

    async fn attach(&self, tx: &Tx<'_>, photos: &[String]) -> Result<(), ApiError> {
        attach_media(tx, "incident", &self.id.to_string(), photos).await
    }
}

#[async_trait::async_trait]
impl Record for task::Model {
    type Key = Uuid;

    fn name(&self) -> String {
        format!("task {}", self.id)
    }

    async fn lock(txn: &DatabaseTransaction, id: &Uuid) -> Result<Option<Self>, DbErr> {
        lock_and_read::<task::Entity, _>(txn, "verification_tasks", "id", *id).await
    }

    fn not_found(id: &Uuid) -> ApiError {
        ApiError::NotFound(format!("no task {id} in your grid"))
    }

    /// The grid worker of its grid decides it.
    fn authorize(&self, asked: &Asked<'_, Uuid>) -> Result<(), ApiError> {
        asked.principal.require_role(&[Role::GridWorker])?;
        if !asked.principal.can_access(&stored_grid(&self.grid_code)?) {
            return Err(Self::not_found(asked.key));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Record for case::Model {
    type Key = Uuid;

    fn name(&self) -> String {
        format!("case {}", self.id)
    }

    async fn lock(txn: &DatabaseTransaction, id: &Uuid) -> Result<Option<Self>, DbErr> {
        lock_and_read::<case::Entity, _>(txn, "cases", "id", *id).await
    }

    fn not_found(id: &Uuid) -> ApiError {
        ApiError::NotFound(format!("no case {id} that you may see"))
    }

    /// Staff in scope, or the recipient department (`cases:<recipient>`) in its scope.
    fn authorize(&self, asked: &Asked<'_, Uuid>) -> Result<(), ApiError> {
        let p = asked.principal;
        if !p.has_any_role(&STAFF) && !p.has_role(Role::Department) {
            return Err(AuthError::MissingRole(
                STAFF.iter().copied().chain([Role::Department]).collect(),
            )
            .into());
        }
        if sees_case(p, self) {
            Ok(())
        } else {
            Err(Self::not_found(asked.key))
        }
    }
}

/// A census round, named by its grid and its id (both in its URL).
#[derive(Debug, Clone)]
pub struct CensusKey {
    pub grid: JurisdictionCode,
    pub id: Uuid,
}

impl Display for CensusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on grid {}", self.id, self.grid)
    }
}

#[async_trait::async_trait]
impl Record for census_round::Model {
    type Key = CensusKey;

    fn name(&self) -> String {
        format!("census round {}", self.id)
    }

    /// A round is locked through its grid's row: opening and closing rounds of a grid take
    /// turns.
    async fn lock(txn: &DatabaseTransaction, key: &CensusKey) -> Result<Option<Self>, DbErr> {
        let grid = lock_and_read::<grid::Entity, _>(txn, "grids", "code", key.grid.as_str());
        if grid.await?.is_none() {
            return Ok(None);
        }
        census_round::Entity::find_by_id(key.id)
            .filter(census_round::Column::GridCode.eq(key.grid.as_str()))
            .one(txn)
            .await
    }

    fn not_found(key: &CensusKey) -> ApiError {
        ApiError::NotFound(format!("no census round {key}"))
    }

    fn authorize(&self, asked: &Asked<'_, CensusKey>) -> Result<(), ApiError> {
        HOUSES.authorize_change(asked, &asked.key.grid)
    }
}

#[async_trait::async_trait]
impl Record for grid::Model {
    type Key = JurisdictionCode;

    fn name(&self) -> String {
        format!("grid {}", self.code)
    }

    async fn lock(
        txn: &DatabaseTransaction,
        code: &JurisdictionCode,
    ) -> Result<Option<Self>, DbErr> {
        lock_and_read::<grid::Entity, _>(txn, "grids", "code", code.as_str()).await
    }

    fn not_found(code: &JurisdictionCode) -> ApiError {
        ApiError::NotFound(format!("no grid {code}"))
    }

    /// A grid's worker is assigned by a community officer or above whose scope holds it.
    fn authorize(&self, asked: &Asked<'_, JurisdictionCode>) -> Result<(), ApiError> {
        asked.principal.require_role(&[
            Role::CommunityOfficer,
            Role::StreetOfficer,
            Role::DistrictOfficer,
            Role::Admin,
        ])?;
        asked.principal.authorize(asked.key)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Record for declaration::Model {
    type Key = Uuid;

    fn name(&self) -> String {
        "the declaration".into()
    }

    async fn lock(txn: &DatabaseTransaction, id: &Uuid) -> Result<Option<Self>, DbErr> {
        lock_and_read::<declaration::Entity, _>(txn, "declarations", "id", *id).await
    }

    fn not_found(id: &Uuid) -> ApiError {
        ApiError::NotFound(format!("no declaration {id} that you may see"))
    }

    fn version(&self) -> i64 {
        self.version
    }

    /// A declaration changes only through its task (the grid worker's decision); whoever sees it
    /// is its declarant or staff in scope.
    fn authorize(&self, asked: &Asked<'_, Uuid>) -> Result<(), ApiError> {
        let p = asked.principal;
        let sees = if only_citizen(p) {
            self.submitted_by == p.subject
        } else {
            p.has_any_role(&STAFF)
                && JurisdictionCode::parse(&self.grid_code).is_ok_and(|g| p.can_access(&g))
        };
        if sees {
            Ok(())
        } else {
            Err(Self::not_found(asked.key))
        }
    }
}
