//! The district service on a bus of its own, typed events to publish on that bus as a grid
//! would, and typed calls of its API.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;
use zw_auth::Role;
use zw_bus::{BusError, OutgoingMessage};
use zw_contracts::events::{DeclarationStatusChanged, DeclarationSubmitted};
use zw_contracts::rpc::{PopulationLookup, PopulationLookupRequest, PopulationRecord};
use zw_contracts::{Actor, DeclarationStatus, Envelope, Event};
use zw_domain::{HouseCode, IdNumber, JurisdictionCode};
use zw_platform::Settings;
use zw_testkit::{RunningApp, TestEnv};

/// The district of the default settings, one of its streets, a community and two of its grids,
/// and a grid of a sibling street.
pub const DISTRICT: &str = "440304";
pub const STREET: &str = "440304001";
pub const COMMUNITY: &str = "440304001001";
pub const GRID: &str = "440304001001001";
pub const NEIGHBOUR_GRID: &str = "440304001001002";
pub const SIBLING_STREET: &str = "440304002";
pub const SIBLING_STREET_GRID: &str = "440304002001001";

/// How long the projection may take to catch up with what was published.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The district service, running, with its own database and the bus it listens on.
pub struct District {
    pub env: TestEnv,
    pub app: RunningApp,
    /// The service's own database (for loading the register, as `zhiwang seed` does).
    pub db: DatabaseConnection,
    pub settings: Settings,
}

pub async fn spawn_district() -> District {
    let mut env = TestEnv::nats().await;
    let settings = env.settings().await;
    let db = zw_district::connect(&settings).await.expect("district db");
    let app = zw_district::build(
        &settings,
        env.bus.clone(),
        env.verifier(),
        RunningApp::listener(),
    )
    .await
    .expect("the district builds");
    District {
        env,
        app: RunningApp::start(app),
        db,
        settings,
    }
}

impl District {
    /// Ask the register about `id_number` over the bus, as the grid service does.
    pub async fn lookup(&self, id_number: &str) -> Result<Option<PopulationRecord>, BusError> {
        let reply = self
            .env
            .bus
            .request::<PopulationLookup>(&PopulationLookupRequest {
                id_number: id_number.to_owned(),
            })
            .await?;
        Ok(reply.record)
    }

    /// Publish `env` on the bus as the grid's outbox relay does.
    pub async fn publish(&self, env: &Envelope) {
        self.publish_message(OutgoingMessage::event(env, Vec::new()).expect("encode"))
            .await;
    }

    pub async fn publish_message(&self, msg: OutgoingMessage) {
        self.env.bus.publish(msg).await.expect("publish");
    }

    pub fn token(&self, role: Role, scope: &str) -> String {
        self.env
            .token(role, scope, &format!("{}-{scope}", role.as_str()))
    }

    /// `GET /api/v1/district/stats?under=<under>`, with `token` if any.
    pub async fn stats(&self, token: Option<&str>, under: &str) -> (StatusCode, Value) {
        let mut req = self.app.client.get(
            self.app
                .url(&format!("/api/v1/district/stats?under={}", encode(under))),
        );
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        decode(req.send().await.expect("stats request")).await
    }

    /// Wait until the counts a district officer reads under `under` are `expected`.
    pub async fn counts_reach(&self, under: &str, expected: Value) {
        let token = self.token(Role::DistrictOfficer, DISTRICT);
        let what = format!("district counts under {under} to reach {expected}");
        zw_testkit::eventually(PATIENCE, &what, || async {
            let (status, body) = self.stats(Some(&token), under).await;
            (status == StatusCode::OK && body["declarations"] == expected).then_some(())
        })
        .await;
    }
}

/// `value` percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `{"pending": …, "accepted": …, "rejected": …, "total": …}` as the stats endpoint returns it.
pub fn counts(pending: i64, accepted: i64, rejected: i64) -> Value {
    json!({
        "pending": pending,
        "accepted": accepted,
        "rejected": rejected,
        "total": pending + accepted + rejected,
    })
}

/// Status and JSON body; every error response must be problem+json.
pub async fn decode(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let is_problem = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(
            is_problem,
            "error responses are problem+json: {status} {body}"
        );
    }
    (status, body)
}

/// One declaration, as the grid service reports it on the bus.
#[derive(Clone, Copy)]
pub struct Declaration {
    pub id: Uuid,
    grid: &'static str,
}

impl Declaration {
    pub fn in_grid(grid: &'static str) -> Declaration {
        Declaration {
            id: Uuid::now_v7(),
            grid,
        }
    }

    /// `declaration.submitted` with `status`, version 1.
    pub fn submitted(&self, status: DeclarationStatus) -> Envelope {
        self.envelope(Event::DeclarationSubmitted(DeclarationSubmitted {
            declaration_id: self.id,
            house_code: house_in(self.grid, 17).to_string(),
            status,
            version: 1,
            reasons: Vec::new(),
        }))
    }

    /// `declaration.status_changed` from `from` to `to`, reaching `version`.
    pub fn changed(
        &self,
        from: DeclarationStatus,
        to: DeclarationStatus,
        version: i64,
    ) -> Envelope {
        self.envelope(Event::DeclarationStatusChanged(DeclarationStatusChanged {
            declaration_id: self.id,
            from,
            to,
            version,
            reason: None,
        }))
    }

    fn envelope(&self, event: Event) -> Envelope {
        Envelope::new(&event, code(self.grid), Actor::system("test-grid"))
    }
}

pub fn code(code: &str) -> JurisdictionCode {
    JurisdictionCode::parse(code).expect("a valid code")
}

pub fn house_in(grid: &str, serial: u16) -> HouseCode {
    HouseCode::new(&code(grid), serial).expect("a valid house code")
}

/// A valid resident ID number (check digit included), different for each `sequence`.
pub fn id_number(sequence: u16) -> IdNumber {
    let birth = chrono::NaiveDate::from_ymd_opt(1984, 2, 29).expect("a date");
    IdNumber::from_parts("440304", birth, sequence).expect("a valid ID number")
}
