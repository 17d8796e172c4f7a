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

/// A step in the life of a grid record: a house (planned … demolished), a person (born, moved
/// in, moved out, died) or a legal entity (registered, changed, deregistered).
/// Carries no personal data: a person is named by the grid's opaque id, never an ID number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChanged {
    /// The house code, the person's opaque id (UUID) or the entity's credit code.
    pub key: String,
    /// What happened, e.g. `built`, `rented`, `moved_in`, `died`, `deregistered`.
    pub change: String,
    /// The record's state after the change, e.g. `rented`, `alive`, `deregistered`.
    pub state: String,
    /// The house the change concerns, if any (where a person moved in, an entity's premises).
    #[serde(default)]
    pub house_code: Option<String>,
    /// Starts at 1 and increments with every change, so consumers can ignore stale updates.
    pub version: i64,
}

/// An incident (dispute, hazard, complaint) was reported, moved on in its life, or escalated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentChanged {
    pub incident_id: Uuid,
    /// `reported`, `accepted`, `assigned`, `resolved`, `verified`, `closed` or `escalated`.
    pub change: String,
    pub status: String,
    /// Who handles it now: `grid`, `community`, `street` or `district`.
    pub level: String,
    pub category: String,
    pub version: i64,
}

/// A rule embedded in collection raised a case for a department (e.g. an elderly allowance for
/// civil affairs) or a reminder. Carries the grid's opaque reference, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRaised {
    pub case_id: Uuid,
    pub rule_id: String,
    pub rule_version: i64,
    /// e.g. `elderly_allowance`, `declare_tenants`.
    pub case_type: String,
    /// The department (or party, e.g. `landlord`) the case is for.
    pub recipient: String,
    /// `house`, `person` or `entity`, and its key.
    pub subject_kind: String,
    pub subject_key: String,
}

/// A signing key was retired (identity): every token it signed is refused from now on, by every
/// verifier, whatever its cached key set says. Published at the district's level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SigningKeyRetired {
    /// The key id (`kid`), as in token headers and the JWKS.
    pub kid: String,
    /// Until when a verifier must remember it, seconds since the Unix epoch: the retirement plus
    /// the longest token lifetime and the clock leeway, after which no token it signed is valid
    /// anyway.
    pub until: i64,
}

/// One access token was revoked (identity, RFC 7009): refused from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessTokenRevoked {
    /// Lower-case hex SHA-256 of the token's `jti` (the list of revocations is public, so it
    /// names tokens only by a fingerprint their holders can compute).
    pub jti_sha256: String,
    /// The token's expiry plus the clock leeway (seconds since the Unix epoch): after that the
    /// revocation can be forgotten.
    pub until: i64,
}

/// Every token of one subject (user or service account) issued before `issued_before` was
/// revoked (identity): the account was disabled, or signed out everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubjectRevoked {
    /// Lower-case hex SHA-256 of the subject (`sub`).
    pub sub_sha256: String,
    /// Tokens with an `iat` before this (seconds since the Unix epoch) are refused.
    pub issued_before: i64,
    /// When the last such token has expired (seconds since the Unix epoch): after that the
    /// revocation can be forgotten.
    pub until: i64,
}

/// The event types of token revocation, as `(aggregate, event)`: what every verifier follows.
pub const REVOCATION_EVENTS: [(&str, &str); 3] = [
    ("signing_key", "retired"),
    ("access_token", "revoked"),
    ("subject", "revoked"),
];

/// Every event in the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    DeclarationSubmitted(DeclarationSubmitted),
    DeclarationStatusChanged(DeclarationStatusChanged),
    HouseChanged(RecordChanged),
    PersonChanged(RecordChanged),
    EntityChanged(RecordChanged),
    IncidentChanged(IncidentChanged),
    CaseRaised(CaseRaised),
    SigningKeyRetired(SigningKeyRetired),
    AccessTokenRevoked(AccessTokenRevoked),
    SubjectRevoked(SubjectRevoked),
}

impl Event {
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::DeclarationSubmitted(_) => "declaration.submitted",
            Event::DeclarationStatusChanged(_) => "declaration.status_changed",
            Event::HouseChanged(_) => "house.changed",
            Event::PersonChanged(_) => "person.changed",
            Event::EntityChanged(_) => "entity.changed",
            Event::IncidentChanged(_) => "incident.changed",
            Event::CaseRaised(_) => "case.raised",
            Event::SigningKeyRetired(_) => "signing_key.retired",
            Event::AccessTokenRevoked(_) => "access_token.revoked",
            Event::SubjectRevoked(_) => "subject.revoked",
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
            Event::HouseChanged(p) | Event::PersonChanged(p) | Event::EntityChanged(p) => {
                serde_json::to_value(p)
            }
            Event::IncidentChanged(p) => serde_json::to_value(p),
            Event::CaseRaised(p) => serde_json::to_value(p),
            Event::SigningKeyRetired(p) => serde_json::to_value(p),
            Event::AccessTokenRevoked(p) => serde_json::to_value(p),
            Event::SubjectRevoked(p) => serde_json::to_value(p),
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
            "house.changed" => Event::HouseChanged(serde_json::from_value(payload)?),
            "person.changed" => Event::PersonChanged(serde_json::from_value(payload)?),
            "entity.changed" => Event::EntityChanged(serde_json::from_value(payload)?),
            "incident.changed" => Event::IncidentChanged(serde_json::from_value(payload)?),
            "case.raised" => Event::CaseRaised(serde_json::from_value(payload)?),
            "signing_key.retired" => Event::SigningKeyRetired(serde_json::from_value(payload)?),
            "access_token.revoked" => Event::AccessTokenRevoked(serde_json::from_value(payload)?),
            "subject.revoked" => Event::SubjectRevoked(serde_json::from_value(payload)?),
            other => return Err(EnvelopeError::UnknownType(other.to_owned())),
        })
    }
}
