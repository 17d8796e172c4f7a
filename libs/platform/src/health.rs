//! Readiness: each service lists what must be reachable for it to take traffic.

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
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Whether a check of this name is listed (e.g. [`DatabaseCheck::NAME`]).
    pub fn includes(&self, name: &str) -> bool {
        self.checks.iter().any(|c| c.name() == name)
    }

    pub async fn check(&self) -> ReadinessReport {
        let mut checks = Vec::with_capacity(self.checks.len());
        for c in &self.checks {
            let res = tokio::time::timeout(std::time::Duration::from_secs(3), c.check())
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()));
            checks.push(CheckResult {
                name: c.name().to_owned(),
                ok: res.is_ok(),
                error: res.err(),
            });
        }
        ReadinessReport {
            ready: checks.iter().all(|c| c.ok),
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
