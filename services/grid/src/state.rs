//! [`Grid`]: what every handler of the service shares (its database, the bus, the outbox relay,
//! the evidence signer and its settings). Built once by `build()`; nothing else lives here.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use zw_domain::JurisdictionCode;
use zw_evidence::EvidenceSigner;

/// What the grid service's handlers share.
pub struct Grid {
    pub db: DatabaseConnection,
    pub bus: zw_bus::Bus,
    pub relay: zw_bus::RelayHandle,
    pub signer: Arc<EvidenceSigner>,
    /// The `[grid]` settings.
    pub settings: zw_platform::config::GridSettings,
    /// `http.max_upload_bytes`: the body limit of upload routes.
    pub upload_max_bytes: usize,
    /// `district.code`: every jurisdiction this grid database keeps lies under it.
    pub district: JurisdictionCode,
}
