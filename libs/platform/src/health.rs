//! Readiness: each service lists what must be reachable for it to take traffic.
//!
//! A check is *required* ([`Readiness::with`]): while it fails `/readyz` answers 503 and the
//! replica is taken out of rotation. Or it is *optional* ([`Readiness::with_optional`]): the
//! service still serves without it, only worse (e.g. the gateway without Redis counts no rate
//! limits), so a failure is named in the report under `degraded` and `/readyz` stays 200 —
//! taking every replica out of rotation for it would stop the service that still works.

use std::sync::Arc;

use serde::Serialize;

/// One dependency check.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &str;
    async fn check(&self) -> Result<(), String>;
}

/// The checks of one service; `/readyz` runs them all.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Listed>,
}

#[derive(Clone)]
struct Listed {
    check: Arc<dyn ReadinessCheck>,
    required: bool,
}

#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    /// Every required check passed (`/readyz` answers 200).
    pub ready: bool,
    /// The optional checks that failed: the service serves, only worse.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    /// Whether the service is ready only while this check passes.
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// A required check: while it fails the service is not ready.
    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Listed {
            check: Arc::new(check),
            required: true,
        });
        self
    }

    /// An optional check: while it fails the service is ready but reported degraded.
    pub fn with_optional(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Listed {
            check: Arc::new(check),
            required: false,
        });
        self
    }

    /// Whether a check of this name is listed (e.g. [`DatabaseCheck::NAME`]).
    pub fn includes(&self, name: &str) -> bool {
        self.checks.iter().any(|c| c.check.name() == name)
    }

    pub async fn check(&self) -> ReadinessReport {
        let mut checks = Vec::with_capacity(self.checks.len());
        for Listed { check, required } in &self.checks {
            let res = tokio::time::timeout(std::time::Duration::from_secs(3), check.check())
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()));
            checks.push(CheckResult {
                name: check.name().to_owned(),
                ok: res.is_ok(),
                required: *required,
                error: res.err(),
            });
        }
        ReadinessReport {
            ready: checks.iter().all(|c| c.ok || !c.required),
            degraded: checks
                .iter()
                .filter(|c| !c.ok && !c.required)
                .map(|c| c.name.clone())
                .collect(),
            checks,
        }
    }
}

/// The service's database.
pub struct DatabaseCheck(pub sea_orm::DatabaseConnection);

impl DatabaseCheck {
    /// The check's name in the readiness report.
    pub const NAME: &'static str = "database";
}

#[async_trait::async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &str {
        Self::NAME
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// Any other dependency, as a closure (e.g. the bus: `FnCheck::new("bus", move || …)`).
pub struct FnCheck {
    name: String,
    f: Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

impl FnCheck {
    pub fn new<F, Fut>(name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name: name.to_owned(),
            f: Box::new(move || Box::pin(f())),
        }
    }
}

#[async_trait::async_trait]
impl ReadinessCheck for FnCheck {
    fn name(&self) -> &str {
        &self.name
    }
    async fn check(&self) -> Result<(), String> {
        (self.f)().await
    }
}

/// The bus.
pub struct BusCheck(pub zw_bus::Bus);

#[async_trait::async_trait]
impl ReadinessCheck for BusCheck {
    fn name(&self) -> &str {
        "bus"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.check().await.map_err(|e| e.to_string())
    }
}

impl Readiness {
    /// What most services need: their database and the bus.
    pub fn database_and_bus(db: sea_orm::DatabaseConnection, bus: zw_bus::Bus) -> Self {
        Self::new().with(DatabaseCheck(db)).with(BusCheck(bus))
    }
}
