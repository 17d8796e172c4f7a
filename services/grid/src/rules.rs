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
//! "house.legal": true, "house.category": "residential"}`.

use actix_web::web;
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use zw_domain::JurisdictionCode;

use crate::error::ApiError;
use crate::ledger::{Source, SubjectKind};

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi()]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(_cfg: &mut web::ServiceConfig) {}

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

/// Evaluate the collection rules on `trigger` and carry out what fires, inside `txn`.
pub async fn on_change(
    _txn: &DatabaseTransaction,
    _source: &Source,
    _trigger: Trigger<'_>,
) -> Result<Vec<RuleOutcome>, ApiError> {
    Ok(Vec::new())
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

/// Classify a house from its facts; `None` when no classification rule set is loaded.
pub async fn classify(
    _txn: &impl sea_orm::ConnectionTrait,
    _facts: &serde_json::Value,
) -> Result<Option<Classification>, ApiError> {
    Ok(None)
}
