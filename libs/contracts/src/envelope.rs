//! The event envelope and subjects.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zw_domain::JurisdictionCode;

use crate::events::{Event, REVOCATION_EVENTS};

/// Who caused an event: the subject of the verified token, or a system component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `sub` of the principal, or `system:<component>`.
    pub id: String,
    /// The roles the actor held when acting.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Actor {
    pub fn system(component: &str) -> Self {
        Self {
            id: format!("system:{component}"),
            roles: vec![],
        }
    }
}

/// The envelope every event travels in (JSON on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7: time-ordered, also the JetStream `Nats-Msg-Id` and the inbox key.
    pub id: Uuid,
    /// `<aggregate>.<event>`, e.g. `declaration.submitted`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u16,
    pub occurred_at: DateTime<Utc>,
    /// The jurisdiction the event belongs to; it decides the subject.
    pub jurisdiction: JurisdictionCode,
    pub actor: Actor,
    pub payload: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("event payload could not be encoded or decoded: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
}

impl Envelope {
    /// Wrap a typed event.
    pub fn new(event: &Event, jurisdiction: JurisdictionCode, actor: Actor) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            occurred_at: Utc::now(),
            jurisdiction,
            actor,
            payload: event.payload(),
        }
    }

    /// `zw.evt.<district>.<street>.<community>.<grid>.<aggregate>.<event>`.
    pub fn subject(&self) -> String {
        format!(
            "zw.evt.{}.{}",
            self.jurisdiction.subject_tokens(),
            self.event_type
        )
    }

    /// Decode the typed event.
    pub fn event(&self) -> Result<Event, EnvelopeError> {
        Event::from_parts(&self.event_type, self.payload.clone())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(serde_json::to_vec(self)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Subject filter for every event under a jurisdiction, e.g. `zw.evt.440304.008.>`.
pub fn events_under(scope: &JurisdictionCode) -> String {
    let mut s = String::from("zw.evt.");
    s.push_str(scope.district());
    for level in [
        zw_domain::Level::Street,
        zw_domain::Level::Community,
        zw_domain::Level::Grid,
    ] {
        match scope.segment(level) {
            Some(seg) => {
                s.push('.');
                s.push_str(seg);
            }
            None => break,
        }
    }
    s.push_str(".>");
    s
}

/// Subject filter for one event type anywhere under a district,
/// e.g. `zw.evt.440304.*.*.*.declaration.*`.
pub fn event_type_filter(district: &JurisdictionCode, aggregate: &str, event: &str) -> String {
    format!("zw.evt.{}.*.*.*.{aggregate}.{event}", district.district())
}

/// Subject filters for the token revocation events of a district ([`REVOCATION_EVENTS`]).
pub fn revocation_filters(district: &JurisdictionCode) -> Vec<String> {
    REVOCATION_EVENTS
        .iter()
        .map(|(aggregate, event)| event_type_filter(district, aggregate, event))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{DeclarationStatus, DeclarationSubmitted};

    #[test]
    fn subject_follows_the_contract() {
        let grid = JurisdictionCode::parse("440304008001003").expect("valid");
        let ev = Event::DeclarationSubmitted(DeclarationSubmitted {
            declaration_id: Uuid::now_v7(),
            house_code: "44030400800100300017".into(),
            status: DeclarationStatus::Accepted,
            version: 1,
            reasons: vec![],
        });
        let env = Envelope::new(&ev, grid.clone(), Actor::system("test"));
        assert_eq!(
            env.subject(),
            "zw.evt.440304.008.001.003.declaration.submitted"
        );
        let back = Envelope::from_bytes(&env.to_bytes().expect("encode")).expect("decode");
        assert_eq!(back.event().expect("typed"), ev);
        let street = JurisdictionCode::parse("440304008").expect("valid");
        assert_eq!(events_under(&street), "zw.evt.440304.008.>");
    }

    #[test]
    fn revocation_events_travel_at_the_district_level_and_match_their_filters() {
        use crate::events::SubjectRevoked;
        let district = JurisdictionCode::parse("440304").expect("valid");
        let ev = Event::SubjectRevoked(SubjectRevoked {
            sub_sha256: "ab".repeat(32),
            issued_before: 1_700_000_000,
            until: 1_700_000_960,
        });
        let env = Envelope::new(&ev, district.clone(), Actor::system("test"));
        assert_eq!(env.subject(), "zw.evt.440304._._._.subject.revoked");
        assert_eq!(
            revocation_filters(&district),
            vec![
                "zw.evt.440304.*.*.*.signing_key.retired",
                "zw.evt.440304.*.*.*.access_token.revoked",
                "zw.evt.440304.*.*.*.subject.revoked",
            ]
        );
        let back = Envelope::from_bytes(&env.to_bytes().expect("encode")).expect("decode");
        assert_eq!(back.event().expect("typed"), ev);
    }
}
