//! Rules embedded in collection (智能嵌入): rule sets as data, versioned, evaluated when a record
//! is collected; the cases they raise.
//!
//! Callers in the other modules use two functions, inside the transaction of their change:
//! - [`on_change`] after a step in a record's life, with the facts the rules may look at;
//! - [`classify`] to give a house its class level and colour (分类分级分色).
//!
//! Facts are a flat JSON object with dotted keys, e.g. `{"house.status": "rented",
//! "house.previous_status": "in_use", "house.residents": 3, "house.registered_size": 4,
//! "person.age": 80, "house.open_incidents": 0, "house.pending_declarations": 1,
//! "house.legal": true, "house.category": "residential"}`; the names rules may use are
//! [`zw_rules::KNOWN_FACTS`]. `house.residents` is counted *after* the change (after a move-in,
//! the newcomer is included), and a change into a status passes `house.previous_status`.
//!
//! Rule sets (one `collection`, one `classification`) are stored versioned in `rule_sets`; the
//! highest version is active. The first use stores the defaults of `services/grid/rules/` as
//! version 1. An operator replaces a set with `PUT /api/v1/grid/rules/{kind}`: validated with
//! its examples, stored as the next version with an evidence record, and in force at once on
//! every replica, since each use reads the active version's digest (one indexed row) and keeps
//! parsed sets in memory by digest.
//!
//! Cases (`cases`): what collection rules raise — a case for a department, a reminder for a
//! party such as the landlord, a verification task for the grid worker. One rule raises at most
//! one open case per subject (unique `open_key`), so "turns 80" raises one case, not one per
//! collection. A department sees the cases of the recipients named in its data sets as
//! `cases:<recipient>` (e.g. `cases:civil_affairs`).
//!
//! This module is the engine the other modules call; [`routes`] serves the rule sets and the
//! cases over HTTP.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zw_contracts::Event;
use zw_contracts::events::CaseRaised;
use zw_domain::JurisdictionCode;
use zw_rules::{Kind, RuleSet, RuleSetError};

use crate::error::ApiError;
use crate::ledger::{Source, SubjectKind};

pub mod routes;

/// The cases rules raise (a table of their own, read through [`crate::access`]).
pub use crate::model::case;

/// The rule sets shipped with the release, stored as version 1 on first use.
const DEFAULT_COLLECTION: &str = include_str!("../../rules/collection.json");
const DEFAULT_CLASSIFICATION: &str = include_str!("../../rules/classification.json");

fn default_document(kind: Kind) -> &'static str {
    match kind {
        Kind::Collection => DEFAULT_COLLECTION,
        Kind::Classification => DEFAULT_CLASSIFICATION,
    }
}

/// A change the collection rules look at.
#[derive(Debug, Clone)]
pub struct Trigger<'a> {
    pub kind: SubjectKind,
    /// House code, person id (UUID) or credit code.
    pub key: &'a str,
    pub grid: &'a JurisdictionCode,
    /// The step, e.g. `moved_in`, `rented`.
    pub change: &'a str,
    /// Flat facts with dotted keys (see the module documentation).
    pub facts: serde_json::Value,
}

/// What a rule did in response to a change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub rule_version: i64,
    /// `case`, `reminder` or `verification_task`.
    pub action: String,
    /// The case, reminder or task it created.
    pub id: uuid::Uuid,
}

/// A house's class (分类分级分色) under the current classification rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    /// e.g. `normal`, `attention`, `key`.
    pub level: String,
    /// `green`, `yellow` or `red`.
    pub colour: String,
    /// The version of the rule set that decided it.
    pub rules_version: i64,
}

// ---------------------------------------------------------------------------------------------
// Storage and the active set

/// The active rule set of a kind.
#[derive(Debug, Clone)]
pub struct Active {
    pub version: i64,
    pub set: Arc<RuleSet>,
}

/// Parsed rule sets by document digest. Keyed by content, not version: one process may serve
/// several databases (tests do), and a digest never means two documents.
static PARSED: LazyLock<Mutex<HashMap<String, Arc<RuleSet>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// More than this many parsed sets (only after many PUTs): start again.
const PARSED_MAX: usize = 64;

pub(crate) fn digest_of(document: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(document.to_string().as_bytes()))
}

fn cached(digest: &str) -> Option<Arc<RuleSet>> {
    PARSED
        .lock()
        .map(|m| m.get(digest).cloned())
        .unwrap_or(None)
}

pub(crate) fn remember(digest: String, set: Arc<RuleSet>) {
    if let Ok(mut m) = PARSED.lock() {
        if m.len() >= PARSED_MAX {
            m.clear();
        }
        m.insert(digest, set);
    }
}

/// Store the default set of `kind` as version 1 unless a version exists (a concurrent first use
/// inserts nothing).
pub(crate) async fn ensure_default(
    conn: &impl ConnectionTrait,
    kind: Kind,
) -> Result<(), ApiError> {
    let set = RuleSet::parse(default_document(kind)).map_err(|errors| {
        ApiError::Unexpected(anyhow::anyhow!(
            "the default {} rule set is invalid: {}",
            kind.as_str(),
            joined(&errors)
        ))
    })?;
    let document = set.document().clone();
    rule_set::Entity::insert(rule_set::ActiveModel {
        kind: Set(kind.as_str().into()),
        version: Set(1),
        digest: Set(digest_of(&document)),
        document: Set(document),
        created_by: Set("system:defaults".into()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([rule_set::Column::Kind, rule_set::Column::Version])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The active version's number and digest.
pub(crate) async fn head(
    conn: &impl ConnectionTrait,
    kind: Kind,
) -> Result<Option<(i64, String)>, ApiError> {
    Ok(rule_set::Entity::find()
        .select_only()
        .column(rule_set::Column::Version)
        .column(rule_set::Column::Digest)
        .filter(rule_set::Column::Kind.eq(kind.as_str()))
        .order_by_desc(rule_set::Column::Version)
        .limit(1)
        .into_tuple::<(i64, String)>()
        .one(conn)
        .await?)
}

/// The active rule set of `kind` (the defaults stored first if there is none).
pub async fn active(conn: &impl ConnectionTrait, kind: Kind) -> Result<Active, ApiError> {
    let (version, digest) = match head(conn, kind).await? {
        Some(h) => h,
        None => {
            ensure_default(conn, kind).await?;
            head(conn, kind).await?.ok_or_else(|| {
                ApiError::Unexpected(anyhow::anyhow!(
                    "no {} rule set after storing the default",
                    kind.as_str()
                ))
            })?
        }
    };
    if let Some(set) = cached(&digest) {
        return Ok(Active { version, set });
    }
    let row = rule_set::Entity::find_by_id((kind.as_str().to_owned(), version))
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("rule set version vanished")))?;
    let set = RuleSet::from_value(row.document).map_err(|errors| {
        ApiError::Unexpected(anyhow::anyhow!(
            "stored {} rule set version {version} is invalid: {}",
            kind.as_str(),
            joined(&errors)
        ))
    })?;
    let set = Arc::new(set);
    remember(digest, set.clone());
    Ok(Active { version, set })
}

pub(crate) fn joined(errors: &[RuleSetError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------------------
// What the other modules call

/// Evaluate the collection rules on `trigger` and carry out what fires, inside `txn`: a row in
/// `cases`, its evidence record (`case.raised`) and a `CaseRaised` event for each. Returns what
/// was created; a rule whose case for this subject is still open creates nothing (and is not
/// in the result).
pub async fn on_change(
    txn: &DatabaseTransaction,
    source: &Source,
    trigger: Trigger<'_>,
) -> Result<Vec<RuleOutcome>, ApiError> {
    let active = active(txn, Kind::Collection).await?;
    carry_out(txn, source, &active, trigger).await
}

/// [`on_change`] with the collection rule set already at hand.
pub async fn carry_out(
    txn: &DatabaseTransaction,
    source: &Source,
    active: &Active,
    trigger: Trigger<'_>,
) -> Result<Vec<RuleOutcome>, ApiError> {
    carry_out_all(txn, source, active, std::slice::from_ref(&trigger)).await
}

/// [`carry_out`] for many changes at once (a bulk import's chunk, with one version of the
/// rules): the rules evaluated here, then the cases in a few statements (one open case per rule
/// and subject: those already open are skipped), the evidence of all of them in one append, and
/// their events.
pub async fn carry_out_all(
    txn: &DatabaseTransaction,
    source: &Source,
    active: &Active,
    triggers: &[Trigger<'_>],
) -> Result<Vec<RuleOutcome>, ApiError> {
    let now = Utc::now();
    let mut raised = Vec::new();
    for trigger in triggers {
        for firing in active.set.evaluate(trigger.change, &trigger.facts) {
            let action = &firing.action;
            let subject_kind = trigger.kind.as_str();
            let open_key = format!(
                "{}|{}|{}|{}",
                firing.rule_id,
                action.case_type(),
                subject_kind,
                trigger.key
            );
            let id = Uuid::now_v7();
            let model = case::ActiveModel {
                id: Set(id),
                rule_id: Set(firing.rule_id.clone()),
                rule_version: Set(active.version),
                case_type: Set(action.case_type().into()),
                action: Set(action.kind().into()),
                recipient: Set(action.recipient().into()),
                subject_kind: Set(subject_kind.into()),
                subject_key: Set(trigger.key.into()),
                grid_code: Set(trigger.grid.to_string()),
                status: Set("open".into()),
                open_key: Set(Some(open_key)),
                created_at: Set(now),
                closed_at: Set(None),
                closed_by: Set(None),
                note: Set(None),
            };
            raised.push((trigger, firing, id, model));
        }
    }
    // Which of them are new: a rule whose case for the subject is still open raises none.
    let mut inserted = HashSet::with_capacity(raised.len());
    for chunk in raised.chunks(CASES_PER_STATEMENT) {
        let mut stmt = case::Entity::insert_many(chunk.iter().map(|(_, _, _, m)| m.clone()))
            .on_conflict(
                OnConflict::column(case::Column::OpenKey)
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        stmt.returning_col(case::Column::Id);
        for row in txn.query_all(&stmt).await? {
            inserted.insert(row.try_get::<Uuid>("", "id")?);
        }
    }
    let mut outcomes = Vec::with_capacity(inserted.len());
    let mut evidence = Vec::with_capacity(inserted.len());
    let mut events = Vec::with_capacity(inserted.len());
    for (trigger, firing, id, _) in raised {
        if !inserted.contains(&id) {
            continue;
        }
        let action = &firing.action;
        let subject_kind = trigger.kind.as_str();
        evidence.push((
            format!("case/{id}"),
            serde_json::json!({
                "rule_id": firing.rule_id,
                "rule_version": active.version,
                "action": action.kind(),
                "case_type": action.case_type(),
                "recipient": action.recipient(),
                "subject": format!("{subject_kind}/{}", trigger.key),
                "grid_code": trigger.grid.to_string(),
                "change": trigger.change,
                "source": source,
            }),
        ));
        let event = Event::CaseRaised(CaseRaised {
            case_id: id,
            rule_id: firing.rule_id.clone(),
            rule_version: active.version,
            case_type: action.case_type().into(),
            recipient: action.recipient().into(),
            subject_kind: subject_kind.into(),
            subject_key: trigger.key.into(),
        });
        events.push((event, trigger.grid));
        outcomes.push(RuleOutcome {
            rule_id: firing.rule_id,
            rule_version: active.version,
            action: action.kind().into(),
            id,
        });
    }
    let entries: Vec<zw_evidence::NewEvidence> = evidence
        .iter()
        .map(|(object, payload)| zw_evidence::NewEvidence {
            actor: &source.actor,
            action: "case.raised",
            object,
            payload,
        })
        .collect();
    zw_evidence::append_many(txn, &entries).await?;
    crate::ledger::enqueue_many(txn, &events, source).await?;
    Ok(outcomes)
}

/// Cases per INSERT statement (fifteen values each; SQLite takes 32,766 per statement).
const CASES_PER_STATEMENT: usize = 500;

/// Classify a house from its facts with the active classification set (the default stored
/// first if there is none); `None` only if the active set cannot classify.
pub async fn classify(
    txn: &impl sea_orm::ConnectionTrait,
    facts: &serde_json::Value,
) -> Result<Option<Classification>, ApiError> {
    Ok(active(txn, Kind::Classification)
        .await?
        .classification(facts))
}

impl Active {
    /// The class this (classification) rule set gives a house with `facts`.
    pub fn classification(&self, facts: &serde_json::Value) -> Option<Classification> {
        self.set.classify(facts).map(|c| Classification {
            level: c.level,
            colour: c.colour.as_str().into(),
            rules_version: self.version,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

pub mod rule_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "rule_sets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub document: Json,
        pub digest: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rule_sets_are_valid_and_pass_their_examples() {
        for kind in Kind::ALL {
            let set = RuleSet::parse(default_document(kind))
                .unwrap_or_else(|e| panic!("{}: {}", kind.as_str(), joined(&e)));
            assert_eq!(set.kind(), kind);
            assert!(!set.examples().is_empty());
        }
    }
}
