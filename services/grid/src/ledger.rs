//! The life of grid records. Every step in the life of a house, a person or a legal entity is
//! recorded here, in the caller's transaction, three ways at once: a `life_events` row (the
//! timeline), an evidence record (the proof), and an event in the outbox (what flows up).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QueryTrait, Set};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zw_auth::{Principal, Role};
use zw_contracts::events::RecordChanged;
use zw_contracts::{Actor, Envelope, Event};
use zw_domain::JurisdictionCode;

use crate::error::ApiError;

/// `Source::kind` of changes made for a record collected in the field.
pub const COLLECTION: &str = "collection";

/// What kind of record a life event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    House,
    Person,
    Entity,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::House => "house",
            SubjectKind::Person => "person",
            SubjectKind::Entity => "entity",
        }
    }
}

/// Where a change came from: who, through which channel, and the reference that ties it to its
/// origin (a declaration id, a batch record's client id, a department's case number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    /// `grid_worker`, `citizen`, `officer`, `department`, `import`, `collection`, `declaration`
    /// or `system`.
    pub kind: String,
    /// The principal (token subject) or system component.
    pub actor: String,
    /// The reference at the origin, if any.
    pub reference: Option<String>,
}

impl Source {
    /// The source of a change made by `principal` through the REST API.
    pub fn of(principal: &Principal) -> Source {
        let kind = if principal.has_role(Role::GridWorker) {
            "grid_worker"
        } else if principal.has_role(Role::Department) {
            "department"
        } else if principal.has_role(Role::Citizen) && principal.roles.len() == 1 {
            "citizen"
        } else {
            "officer"
        };
        Source {
            kind: kind.into(),
            actor: principal.subject.clone(),
            reference: None,
        }
    }

    /// The same source, through `kind` (e.g. `collection`) with a reference.
    pub fn via(mut self, kind: &str, reference: impl Into<String>) -> Source {
        self.kind = kind.into();
        self.reference = Some(reference.into());
        self
    }

    /// A change made by the platform itself (a rule, a sweep).
    pub fn system(component: &str) -> Source {
        Source {
            kind: "system".into(),
            actor: format!("system:{component}"),
            reference: None,
        }
    }

    fn actor(&self) -> Actor {
        Actor {
            id: self.actor.clone(),
            roles: vec![self.kind.clone()],
        }
    }
}

/// One step in a record's life.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub kind: SubjectKind,
    /// House code, person id (UUID) or credit code.
    pub key: &'a str,
    /// What happened (`built`, `moved_in`, `deregistered`, …).
    pub change: &'a str,
    /// The record's state after it (`rented`, `alive`, `deregistered`, …).
    pub state: &'a str,
    /// The house it concerns, if any.
    pub house_code: Option<&'a str>,
    /// The grid it happened in (the event's jurisdiction).
    pub grid: &'a JurisdictionCode,
    /// The record's version after the change.
    pub version: i64,
    /// What else the timeline shows of this step (e.g. the house moved out of). No ID numbers:
    /// the timeline is shown to officers whose view of personal fields is masked.
    pub details: serde_json::Value,
}

/// Record `step` from `source` inside `txn`: the life event, its evidence, and its event.
/// The write operation it runs in ([`crate::write`]) appends the evidence and inserts the life
/// event that names it just before it commits, then notifies the relay.
pub async fn record(
    txn: &DatabaseTransaction,
    source: &Source,
    step: Step<'_>,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let object = format!("{}/{}", step.kind.as_str(), step.key);
    let row = life_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        subject_kind: Set(step.kind.as_str().into()),
        subject_key: Set(step.key.into()),
        change: Set(step.change.into()),
        state: Set(step.state.into()),
        house_code: Set(step.house_code.map(str::to_owned)),
        grid_code: Set(step.grid.to_string()),
        version: Set(step.version),
        source_kind: Set(source.kind.clone()),
        source_actor: Set(source.actor.clone()),
        source_ref: Set(source.reference.clone()),
        details: Set(step.details.clone()),
        evidence_seq: sea_orm::NotSet,
        occurred_at: Set(now),
    };
    let backend = txn.get_database_backend();
    zw_evidence::at_commit::append_at_commit(
        txn,
        zw_evidence::NewEvidence {
            actor: &source.actor,
            action: &format!("{}.{}", step.kind.as_str(), step.change),
            object: &object,
            payload: &serde_json::json!({
                "change": step.change,
                "state": step.state,
                "house_code": step.house_code,
                "version": step.version,
                "source": source,
                "details": step.details,
            }),
        },
        Some(Box::new(move |seq| {
            let mut row = row;
            row.evidence_seq = Set(seq);
            life_event::Entity::insert(row).build(backend)
        })),
    )
    .await?;
    let changed = RecordChanged {
        key: step.key.into(),
        change: step.change.into(),
        state: step.state.into(),
        house_code: step.house_code.map(str::to_owned),
        version: step.version,
    };
    let event = match step.kind {
        SubjectKind::House => Event::HouseChanged(changed),
        SubjectKind::Person => Event::PersonChanged(changed),
        SubjectKind::Entity => Event::EntityChanged(changed),
    };
    enqueue(txn, &event, step.grid, source).await?;
    Ok(())
}

/// Put `event` in the outbox, in `txn`, as coming from `source` in `jurisdiction`.
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    event: &Event,
    jurisdiction: &JurisdictionCode,
    source: &Source,
) -> Result<(), ApiError> {
    mark_collected(txn, source).await?;
    let envelope = Envelope::new(event, jurisdiction.clone(), source.actor());
    zw_bus::outbox::enqueue(
        txn,
        &envelope,
        &zw_platform::telemetry::current_trace_headers(),
    )
    .await?;
    Ok(())
}

/// [`enqueue`] of many events from one `source` at once (a bulk import's), each in its
/// jurisdiction.
pub async fn enqueue_many(
    txn: &impl ConnectionTrait,
    events: &[(Event, &JurisdictionCode)],
    source: &Source,
) -> Result<(), ApiError> {
    if events.is_empty() {
        return Ok(());
    }
    mark_collected(txn, source).await?;
    let envelopes: Vec<Envelope> = events
        .iter()
        .map(|(event, jurisdiction)| Envelope::new(event, (*jurisdiction).clone(), source.actor()))
        .collect();
    zw_bus::outbox::enqueue_many(
        txn,
        &envelopes,
        &zw_platform::telemetry::current_trace_headers(),
    )
    .await?;
    Ok(())
}

/// A change made for a record collected in the field (`Source::via("collection", client_id)`)
/// leaves a mark in its own transaction, so the collection knows it was made even if the
/// process dies before the record's answer is stored (see `crate::collection`).
async fn mark_collected(txn: &impl ConnectionTrait, source: &Source) -> Result<(), ApiError> {
    if source.kind != COLLECTION {
        return Ok(());
    }
    let Some(client_id) = source
        .reference
        .as_deref()
        .and_then(|r| Uuid::parse_str(r).ok())
    else {
        return Ok(());
    };
    let insert = sea_orm::sea_query::Query::insert()
        .into_table("collection_marks")
        .columns(["client_id", "marked_at"])
        .values_panic([client_id.into(), Utc::now().into()])
        .on_conflict(
            sea_orm::sea_query::OnConflict::column("client_id")
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    txn.execute(&insert).await?;
    Ok(())
}

/// A step as the timeline shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LifeEventView {
    pub id: Uuid,
    pub change: String,
    pub state: String,
    pub house_code: Option<String>,
    pub grid_code: String,
    pub version: i64,
    pub source: Source,
    pub details: serde_json::Value,
    /// The sequence number of the evidence record in the grid's evidence log.
    pub evidence_seq: i64,
    pub occurred_at: DateTime<Utc>,
}

impl From<life_event::Model> for LifeEventView {
    fn from(m: life_event::Model) -> Self {
        LifeEventView {
            id: m.id,
            change: m.change,
            state: m.state,
            house_code: m.house_code,
            grid_code: m.grid_code,
            version: m.version,
            source: Source {
                kind: m.source_kind,
                actor: m.source_actor,
                reference: m.source_ref,
            },
            details: m.details,
            evidence_seq: m.evidence_seq,
            occurred_at: m.occurred_at,
        }
    }
}

pub mod life_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "life_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub subject_kind: String,
        pub subject_key: String,
        pub change: String,
        pub state: String,
        pub house_code: Option<String>,
        pub grid_code: String,
        pub version: i64,
        pub source_kind: String,
        pub source_actor: String,
        pub source_ref: Option<String>,
        pub details: Json,
        pub evidence_seq: i64,
        pub occurred_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
