//! The street centre on a bus of its own, typed events to publish on it as a grid would, and
//! typed calls of its stats API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use zw_auth::Role;
use zw_bus::OutgoingMessage;
use zw_contracts::events::{DeclarationStatusChanged, DeclarationSubmitted};
use zw_contracts::{Actor, DeclarationStatus, Envelope, Event};
use zw_domain::JurisdictionCode;
use zw_platform::Settings;
use zw_testkit::{RunningApp, TestEnv};

/// The district of the default settings, one of its streets with a community and two grids, a
/// grid of another community of that street, and a sibling street with a grid.
pub const DISTRICT: &str = "440304";
pub const STREET: &str = "440304001";
pub const COMMUNITY: &str = "440304001001";
pub const GRID: &str = "440304001001001";
pub const NEIGHBOUR_GRID: &str = "440304001001002";
pub const SIBLING_COMMUNITY_GRID: &str = "440304001002001";
pub const SIBLING_STREET: &str = "440304002";
pub const SIBLING_STREET_GRID: &str = "440304002001001";

/// How long the projection may take to catch up with what was published.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The street centre, running, with its settings (its own database) and the bus it listens on.
pub struct World {
    pub env: TestEnv,
    pub settings: Settings,
    pub street: RunningApp,
}

pub async fn spawn_street() -> World {
    let mut env = TestEnv::nats().await;
    let settings = env.settings().await;
    let street = start_street(&env, &settings).await;
    World {
        env,
        settings,
        street,
    }
}

/// Build and start the street centre on `env`'s bus with `settings` (and so its database).
pub async fn start_street(env: &TestEnv, settings: &Settings) -> RunningApp {
    let app = zw_street::build(
        settings,
        env.bus.clone(),
        env.verifier(),
        RunningApp::listener(),
    )
    .await
    .expect("the street centre builds");
    RunningApp::start(app)
}

impl World {
    pub fn token(&self, role: Role, scope: &str) -> String {
        self.env
            .token(role, scope, &format!("{}-{scope}", role.as_str()))
    }

    /// Publish `envelope` on the bus as the grid's outbox relay does.
    pub async fn publish(&self, envelope: &Envelope) {
        self.publish_message(OutgoingMessage::event(envelope, Vec::new()).expect("encode"))
            .await;
    }

    pub async fn publish_message(&self, msg: OutgoingMessage) {
        self.env.bus.publish(msg).await.expect("publish");
    }

    /// `GET /api/v1/street/stats?under=<under>`, with `token` if any.
    pub async fn stats(&self, token: Option<&str>, under: &str) -> (StatusCode, Value) {
        let url = self
            .street
            .url(&format!("/api/v1/street/stats?under={}", encode(under)));
        let mut req = self.street.client.get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        decode(req.send().await.expect("stats request")).await
    }

    /// Wait until the counts the street's officer reads under `under` are `expected`.
    pub async fn counts_reach(&self, under: &str, expected: Value) {
        let officer = self.token(Role::StreetOfficer, STREET);
        let what = format!("street counts under {under} to reach {expected}");
        zw_testkit::eventually(PATIENCE, &what, || async {
            let (status, body) = self.stats(Some(&officer), under).await;
            (status == StatusCode::OK && body["declarations"] == expected).then_some(())
        })
        .await;
    }
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
            house_code: format!("{}00017", self.grid),
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
        let grid = JurisdictionCode::parse(self.grid).expect("a valid grid code");
        Envelope::new(&event, grid, Actor::system("test-grid"))
    }
}
