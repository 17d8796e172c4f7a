//! Projections of the tier below, built from events, that the community, street and district
//! centres each keep in their own database.
//!
//! - [`declarations`]: the declaration tally — one small row per declaration (id, grid, status,
//!   version; no personal data: upper tiers keep counts, not people), the consumer that maintains
//!   it ([`declarations::DeclarationTally`]), and the counts under any jurisdiction code.
//! - [`stats`]: the `GET …/stats?under=<code>` endpoint each centre serves over its projection.
//! - [`migration`]: the tables, for each centre's own migrator.
//! - [`centre`]: a centre as a service — database, consumers, the stats endpoint — which the
//!   community, street and district services each build, adding only their own parts.

pub mod centre;
pub mod declarations;
pub mod migration;
pub mod stats;

pub use declarations::{DeclarationCounts, DeclarationTally, counts_under, tally_consumer};
