//! Declarations and verification tasks: the operations behind the routes. Each state change
//! writes the change, its evidence record and its event (outbox) in one transaction.

use std::sync::Arc;
use zw_platform::db::BeginWrite;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_contracts::events::{DeclarationStatusChanged, DeclarationSubmitted};
use zw_contracts::rpc::PopulationLookup;
use zw_contracts::{Actor, DeclarationStatus, Envelope, Event};
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_evidence::EvidenceSigner;

use crate::decision::{Facts, PendingReason, RegisterAnswer, decide};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyKey};
use crate::model::{declaration, house, resident, task};

/// What the grid service's handlers share.
pub struct Grid {
    pub db: DatabaseConnection,
    pub bus: zw_bus::Bus,
    pub relay: zw_bus::RelayHandle,
    pub signer: Arc<EvidenceSigner>,
    /// The `[grid]` settings.
    pub settings: zw_platform::config::GridSettings,
    /// `http.max_upload_bytes`: the body limit of upload routes.
    pub upload_max_bytes: usize,
    /// `district.code`: every jurisdiction this grid database keeps lies under it.
    pub district: JurisdictionCode,
}

/// A declaration as its callers see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeclarationView {
    pub id: Uuid,
    /// Masked (`440304********123X`) unless the caller is the grid worker of that grid.
    pub id_number: String,
    /// Pre-filled from the historical register, when it knows the person.
    pub name: Option<String>,
    pub house_code: String,
    pub grid_code: String,
    pub status: DeclarationStatus,
    /// Why it waits for verification (empty unless pending or decided after a wait).
    pub reasons: Vec<PendingReason>,
    pub created_at: chrono::DateTime<Utc>,
    pub decided_at: Option<chrono::DateTime<Utc>>,
    /// The grid worker's reason for a rejection.
    pub decision_reason: Option<String>,
    pub version: i64,
}

/// A verification task as the grid worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: Uuid,
    pub grid_code: String,
    /// `open` or `closed`.
    pub status: String,
    pub reasons: Vec<PendingReason>,
    pub created_at: chrono::DateTime<Utc>,
    /// `confirmed` or `rejected` once closed.
    pub outcome: Option<String>,
    pub declaration: DeclarationView,
}

/// A grid worker's decision on a task.
#[derive(Debug, Clone)]
pub enum Verdict {
    Confirm,
    Reject { reason: String },
}

fn reasons_of(json: &serde_json::Value) -> Vec<PendingReason> {
    serde_json::from_value(json.clone()).unwrap_or_default()
}

fn status_of(s: &str) -> DeclarationStatus {
    DeclarationStatus::parse(s).unwrap_or(DeclarationStatus::Pending)
}

/// Only the grid worker of the declaration's grid needs the full ID number (he checks papers
/// at the door); everyone else sees it masked.
fn shown_id(principal: &Principal, grid: &str, id_number: &str) -> String {
    let full = principal.has_role(Role::GridWorker)
        && JurisdictionCode::parse(grid).is_ok_and(|g| principal.can_access(&g));
    match IdNumber::parse(id_number) {
        Ok(id) if !full => id.masked(),
        _ => id_number.to_owned(),
    }
}

pub fn view(principal: &Principal, m: &declaration::Model) -> DeclarationView {
    DeclarationView {
        id: m.id,
        id_number: shown_id(principal, &m.grid_code, &m.id_number),
        name: m.name.clone(),
        house_code: m.house_code.clone(),
        grid_code: m.grid_code.clone(),
        status: status_of(&m.status),
        reasons: reasons_of(&m.reasons),
        created_at: m.created_at,
        decided_at: m.decided_at,
        decision_reason: m.decision_reason.clone(),
        version: m.version,
    }
}

/// Declarations `principal` may see: a citizen his own, staff those in grids under their scope.
pub fn visible_declarations(principal: &Principal) -> Result<Condition, ApiError> {
    if principal.has_role(Role::Citizen) && principal.roles.len() == 1 {
        return Ok(
            Condition::all().add(declaration::Column::SubmittedBy.eq(principal.subject.clone()))
        );
    }
    principal.require_role(&STAFF)?;
    Ok(Condition::all().add(declaration::Column::GridCode.starts_with(principal.scope.as_str())))
}

/// The roles that work on declarations of a jurisdiction.
pub const STAFF: [Role; 5] = [
    Role::GridWorker,
    Role::CommunityOfficer,
    Role::StreetOfficer,
    Role::DistrictOfficer,
    Role::Admin,
];

fn actor(principal: &Principal) -> Actor {
    Actor {
        id: principal.subject.clone(),
        roles: principal.roles.iter().map(|r| r.to_string()).collect(),
    }
}

impl Grid {
    /// Receive a declaration: check the house, ask the register, decide, and store the
    /// declaration (plus resident or verification task, evidence, event) in one transaction.
    pub async fn submit(
        &self,
        principal: &Principal,
        id_number: IdNumber,
        house_code: HouseCode,
        idem: Option<IdempotencyKey>,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        principal.require_role(&[Role::Citizen, Role::GridWorker])?;
        let Some(key) = &idem else {
            return self
                .submit_once(principal, id_number, house_code, None)
                .await;
        };
        if let Some(done) = idempotency::replay(&self.db, &principal.subject, key).await? {
            return Ok(done);
        }
        match self
            .submit_once(principal, id_number, house_code, Some(key))
            .await
        {
            // A concurrent retry with the same key got there first (this attempt then finds the
            // person already resident, or loses the race for the key): answer as it was answered.
            Err(e) => match idempotency::replay(&self.db, &principal.subject, key).await? {
                Some(done) => Ok(done),
                None => Err(e),
            },
            ok => ok,
        }
    }

    async fn submit_once(
        &self,
        principal: &Principal,
        id_number: IdNumber,
        house_code: HouseCode,
        idem: Option<&IdempotencyKey>,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let house = house::Entity::find_by_id(house_code.to_string())
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::UnknownHouse(house_code.to_string()))?;
        if !house.is_in_use() {
            return Err(ApiError::HouseNotInUse {
                code: house.code,
                status: house.status,
            });
        }
        let grid = JurisdictionCode::parse(&house.grid_code)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code: {e}")))?;
        if principal.has_role(Role::GridWorker) && !principal.has_role(Role::Citizen) {
            principal.authorize(&grid)?;
        }
        if let Some(r) = resident::Entity::find_by_id(id_number.to_string())
            .one(&self.db)
            .await?
            && r.house_code == house.code
        {
            return Err(ApiError::AlreadyResident(house.code));
        }

        // Ask the register before the transaction: never hold a transaction over the network.
        let (register, name) = match self
            .bus
            .request::<PopulationLookup>(&zw_contracts::rpc::PopulationLookupRequest {
                id_number: id_number.to_string(),
            })
            .await
        {
            Ok(reply) => match reply.record {
                Some(r) => (
                    RegisterAnswer::Found {
                        registered_house: r.registered_house_code,
                    },
                    Some(r.name),
                ),
                None => (RegisterAnswer::NotFound, None),
            },
            Err(e) => {
                tracing::warn!(error = %e, "population register unavailable; the declaration waits for verification");
                (RegisterAnswer::Unavailable, None)
            }
        };

        let txn = self.db.begin_write().await?;
        // Serialise declarations for the same house, so two at once cannot both take its last
        // place (SQLite already serialises writers).
        crate::locks::lock_row(&txn, "houses", "code", house.code.clone()).await?;
        let residents_in_house = resident::Entity::find()
            .filter(resident::Column::HouseCode.eq(house.code.clone()))
            .filter(resident::Column::IdNumber.ne(id_number.to_string()))
            .count(&txn)
            .await?;
        let has_pending = declaration::Entity::find()
            .filter(declaration::Column::IdNumber.eq(id_number.to_string()))
            .filter(declaration::Column::Status.eq(DeclarationStatus::Pending.as_str()))
            .count(&txn)
            .await?
            > 0;
        let reasons = decide(&Facts {
            declared_house: &house.code,
            register,
            residents_in_house,
            registered_size: u64::try_from(house.registered_size).unwrap_or(0),
            has_pending_declaration: has_pending,
        });
        let status = if reasons.is_empty() {
            DeclarationStatus::Accepted
        } else {
            DeclarationStatus::Pending
        };
        let now = Utc::now();
        let id = Uuid::now_v7();
        let model = declaration::ActiveModel {
            id: Set(id),
            id_number: Set(id_number.to_string()),
            name: Set(name.clone()),
            house_code: Set(house.code.clone()),
            grid_code: Set(house.grid_code.clone()),
            status: Set(status.as_str().to_owned()),
            reasons: Set(serde_json::to_value(&reasons).unwrap_or_default()),
            submitted_by: Set(principal.subject.clone()),
            created_at: Set(now),
            decided_at: Set((status == DeclarationStatus::Accepted).then_some(now)),
            decided_by: Set(
                (status == DeclarationStatus::Accepted).then(|| "system:rules".to_owned())
            ),
            decision_reason: Set(None),
            version: Set(1),
        }
        .insert(&txn)
        .await?;
        if status == DeclarationStatus::Accepted {
            move_in(&txn, principal, &model, &house).await?;
        } else {
            task::ActiveModel {
                id: Set(Uuid::now_v7()),
                declaration_id: Set(id),
                grid_code: Set(house.grid_code.clone()),
                status: Set("open".into()),
                reasons: Set(serde_json::to_value(&reasons).unwrap_or_default()),
                created_at: Set(now),
                closed_at: Set(None),
                closed_by: Set(None),
                outcome: Set(None),
            }
            .insert(&txn)
            .await?;
        }
        zw_evidence::append(
            &txn,
            &principal.subject,
            "declaration.submit",
            &format!("declaration/{id}"),
            &serde_json::json!({
                "id_number": id_number.to_string(),
                "house_code": house.code,
                "status": status,
                "reasons": reasons,
            }),
        )
        .await?;
        let event = Event::DeclarationSubmitted(DeclarationSubmitted {
            declaration_id: id,
            house_code: house.code.clone(),
            status,
            version: 1,
            reasons: reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        });
        let envelope = Envelope::new(&event, grid, actor(principal));
        zw_bus::outbox::enqueue(
            &txn,
            &envelope,
            &zw_platform::telemetry::current_trace_headers(),
        )
        .await?;
        let body = serde_json::to_value(view(principal, &model)).unwrap_or_default();
        if let Some(key) = idem {
            // A concurrent retry that stored the key first makes this fail (and roll back);
            // `submit` then answers with the stored response.
            idempotency::store(&txn, &principal.subject, key, 201, &body).await?;
        }
        txn.commit().await?;
        self.relay.notify();
        Ok((201, body))
    }

    /// One declaration, if `principal` may see it (otherwise 404: existence is not revealed).
    pub async fn get(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<declaration::Model, ApiError> {
        declaration::Entity::find_by_id(id)
            .filter(visible_declarations(principal)?)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no declaration {id} that you may see")))
    }

    /// A page of visible declarations, newest first.
    pub async fn list(
        &self,
        principal: &Principal,
        status: Option<DeclarationStatus>,
        limit: u64,
        cursor: Option<Uuid>,
    ) -> Result<Vec<declaration::Model>, ApiError> {
        let mut q = declaration::Entity::find().filter(visible_declarations(principal)?);
        if let Some(s) = status {
            q = q.filter(declaration::Column::Status.eq(s.as_str()));
        }
        if let Some(c) = cursor {
            q = q.filter(declaration::Column::Id.lt(c));
        }
        Ok(q.order_by_desc(declaration::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?)
    }

    /// A page of verification tasks in the caller's grid(s), oldest first (work order).
    pub async fn tasks(
        &self,
        principal: &Principal,
        status: Option<&str>,
        limit: u64,
        cursor: Option<Uuid>,
    ) -> Result<Vec<TaskView>, ApiError> {
        principal.require_role(&STAFF)?;
        let mut q = task::Entity::find()
            .filter(task::Column::GridCode.starts_with(principal.scope.as_str()));
        if let Some(s) = status {
            q = q.filter(task::Column::Status.eq(s));
        }
        if let Some(c) = cursor {
            q = q.filter(task::Column::Id.gt(c));
        }
        let tasks = q
            .order_by_asc(task::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = tasks.iter().map(|t| t.declaration_id).collect();
        let decls = declaration::Entity::find()
            .filter(declaration::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        Ok(tasks
            .into_iter()
            .filter_map(|t| {
                let d = decls.iter().find(|d| d.id == t.declaration_id)?;
                Some(task_view(principal, &t, d))
            })
            .collect())
    }

    /// Confirm or reject a pending declaration. Only the grid worker of its grid may.
    pub async fn decide_task(
        &self,
        principal: &Principal,
        task_id: Uuid,
        verdict: Verdict,
    ) -> Result<TaskView, ApiError> {
        principal.require_role(&[Role::GridWorker])?;
        let t = task::Entity::find_by_id(task_id)
            .filter(task::Column::GridCode.starts_with(principal.scope.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no task {task_id} in your grid")))?;
        let grid = JurisdictionCode::parse(&t.grid_code)
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored grid code: {e}")))?;
        principal.authorize(&grid)?;
        let (outcome, to, reason) = match &verdict {
            Verdict::Confirm => ("confirmed", DeclarationStatus::Accepted, None),
            Verdict::Reject { reason } => (
                "rejected",
                DeclarationStatus::Rejected,
                Some(reason.clone()),
            ),
        };
        let now = Utc::now();
        let txn = self.db.begin_write().await?;
        // Close the task only if still open: of two concurrent decisions exactly one wins.
        let closed = task::Entity::update_many()
            .col_expr(
                task::Column::Status,
                sea_orm::sea_query::Expr::value("closed"),
            )
            .col_expr(task::Column::ClosedAt, sea_orm::sea_query::Expr::value(now))
            .col_expr(
                task::Column::ClosedBy,
                sea_orm::sea_query::Expr::value(principal.subject.clone()),
            )
            .col_expr(
                task::Column::Outcome,
                sea_orm::sea_query::Expr::value(outcome),
            )
            .filter(task::Column::Id.eq(task_id))
            .filter(task::Column::Status.eq("open"))
            .exec(&txn)
            .await?;
        if closed.rows_affected == 0 {
            return Err(ApiError::TaskClosed(task_id.to_string()));
        }
        let d = declaration::Entity::find_by_id(t.declaration_id)
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("task without declaration")))?;
        let from = status_of(&d.status);
        let version = d.version + 1;
        let mut am: declaration::ActiveModel = d.into();
        am.status = Set(to.as_str().to_owned());
        am.decided_at = Set(Some(now));
        am.decided_by = Set(Some(principal.subject.clone()));
        am.decision_reason = Set(reason.clone());
        am.version = Set(version);
        let d = am.update(&txn).await?;
        if to == DeclarationStatus::Accepted {
            let house = house::Entity::find_by_id(d.house_code.clone())
                .one(&txn)
                .await?
                .ok_or_else(|| ApiError::UnknownHouse(d.house_code.clone()))?;
            move_in(&txn, principal, &d, &house).await?;
        }
        zw_evidence::append(
            &txn,
            &principal.subject,
            &format!(
                "declaration.{}",
                if to == DeclarationStatus::Accepted {
                    "confirm"
                } else {
                    "reject"
                }
            ),
            &format!("declaration/{}", d.id),
            &serde_json::json!({ "task": task_id, "from": from, "to": to, "reason": reason }),
        )
        .await?;
        let event = Event::DeclarationStatusChanged(DeclarationStatusChanged {
            declaration_id: d.id,
            from,
            to,
            version,
            reason,
        });
        let envelope = Envelope::new(&event, grid, actor(principal));
        zw_bus::outbox::enqueue(
            &txn,
            &envelope,
            &zw_platform::telemetry::current_trace_headers(),
        )
        .await?;
        txn.commit().await?;
        self.relay.notify();
        let t = task::Entity::find_by_id(task_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("task vanished")))?;
        Ok(task_view(principal, &t, &d))
    }
}

fn task_view(principal: &Principal, t: &task::Model, d: &declaration::Model) -> TaskView {
    TaskView {
        id: t.id,
        grid_code: t.grid_code.clone(),
        status: t.status.clone(),
        reasons: reasons_of(&t.reasons),
        created_at: t.created_at,
        outcome: t.outcome.clone(),
        declaration: view(principal, d),
    }
}

/// The declared person now lives in the declared house (moving out of any other): recorded if
/// unknown, with a `moved_in` step whose source is the declaration.
async fn move_in(
    txn: &sea_orm::DatabaseTransaction,
    principal: &Principal,
    d: &declaration::Model,
    house: &house::Model,
) -> Result<(), ApiError> {
    let id_number = IdNumber::parse(&d.id_number)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("stored ID number: {e}")))?;
    let source = crate::ledger::Source::of(principal).via("declaration", d.id.to_string());
    crate::people::move_in(
        txn,
        &source,
        crate::people::Arrival {
            id_number: &id_number,
            name: d.name.clone(),
            phone: None,
            house,
            declaration_id: Some(d.id),
        },
    )
    .await?;
    Ok(())
}
