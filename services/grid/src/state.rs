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
}
