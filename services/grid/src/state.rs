//! [`Grid`]: what every handler of the service shares (its database, the bus, the outbox relay,
//! its evidence log and its settings). Built once by `build()`; nothing else lives here.

use sea_orm::DatabaseConnection;
use zw_domain::JurisdictionCode;

/// What the grid service's handlers share.
pub struct Grid {
    pub db: DatabaseConnection,
    pub bus: zw_bus::Bus,
    pub relay: zw_bus::RelayHandle,
    /// The evidence log: sealing and proofs (its records are appended in each write's
    /// transaction through `zw_evidence::append`).
    pub evidence: zw_evidence::EvidenceLog,
    /// The `[grid]` settings.
    pub settings: zw_platform::config::GridSettings,
    /// `http.max_upload_bytes`: the body limit of upload routes.
    pub upload_max_bytes: usize,
    /// `district.code`: every jurisdiction this grid database keeps lies under it.
    pub district: JurisdictionCode,
    /// PostgreSQL only: the connections imports stage their chunks on (`imports::store`), a pool
    /// of their own. A chunk's transaction waits for one while it holds a connection of `db`;
    /// taken from `db`'s pool, enough concurrent imports (or requests queued behind their locks)
    /// would hold every connection and wait for one more.
    pub import_staging: Option<sea_orm::sqlx::PgPool>,
}
