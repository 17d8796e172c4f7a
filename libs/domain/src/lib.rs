//! Domain types parsed once at the edge, then trusted everywhere.
//!
//! Every type here has private fields and is built only by `parse` (and `FromStr`,
//! `TryFrom<String>`, serde's `Deserialize`, which all call `parse`). A value of one of these
//! types is therefore always valid.
//!
//! - [`jurisdiction`]: the four-level jurisdiction code (district, street, community, grid).

pub mod jurisdiction;

pub use jurisdiction::{JurisdictionCode, JurisdictionError, Level};
