//! Typed events. Each variant is `<aggregate>.<event>`; its payload is the variant's struct.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::EnvelopeError;

/// Status of a residence self-declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclarationStatus {
    /// Waiting for the grid worker's verification.
    Pending,
    /// In the grid database.
    Accepted,
    /// Rejected by the grid worker, with a reason.
    Rejected,
}

impl DeclarationStatus {
    pub const ALL: [DeclarationStatus; 3] = [
        DeclarationStatus::Pending,
        DeclarationStatus::Accepted,
        DeclarationStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeclarationStatus::Pending => "pending",
            DeclarationStatus::Accepted => "accepted",
            DeclarationStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A declaration was received (accepted straight away, or pending verification).
/// Carries no personal data: upper tiers keep counts, not people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationSubmitted {
    pub declaration_id: Uuid,
    pub house_code: String,
    pub status: DeclarationStatus,
    /// Starts at 1; each status change increments it, so consumers can ignore stale updates.
    pub version: i64,
    /// Why it is pending (empty when accepted).
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// A pending declaration was confirmed or rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationStatusChanged {
    pub declaration_id: Uuid,
    pub from: DeclarationStatus,
    pub to: DeclarationStatus,
    pub version: i64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Every event in the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    DeclarationSubmitted(DeclarationSubmitted),
    DeclarationStatusChanged(DeclarationStatusChanged),
}

impl Event {
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::DeclarationSubmitted(_) => "declaration.submitted",
            Event::DeclarationStatusChanged(_) => "declaration.status_changed",
        }
    }

    pub fn schema_version(&self) -> u16 {
        1
    }

    pub fn payload(&self) -> serde_json::Value {
        // Serialising these plain structs cannot fail.
        match self {
            Event::DeclarationSubmitted(p) => serde_json::to_value(p),
            Event::DeclarationStatusChanged(p) => serde_json::to_value(p),
        }
        .unwrap_or(serde_json::Value::Null)
    }

    pub fn from_parts(event_type: &str, payload: serde_json::Value) -> Result<Self, EnvelopeError> {
        Ok(match event_type {
            "declaration.submitted" => {
                Event::DeclarationSubmitted(serde_json::from_value(payload)?)
            }
            "declaration.status_changed" => {
                Event::DeclarationStatusChanged(serde_json::from_value(payload)?)
            }
            other => return Err(EnvelopeError::UnknownType(other.to_owned())),
        })
    }
}
