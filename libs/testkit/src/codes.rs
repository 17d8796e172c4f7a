//! The codes of a small district every test that publishes declarations or reads statistics
//! uses: the district of the default settings, one of its streets with two communities, the
//! grids in them, and a sibling street with a grid.
//!
//! ```text
//! 440304 DISTRICT
//! ├── 440304001 STREET
//! │   ├── 440304001001 COMMUNITY
//! │   │   ├── 440304001001001 GRID
//! │   │   └── 440304001001002 NEIGHBOUR_GRID
//! │   └── 440304001002 SIBLING_COMMUNITY
//! │       └── 440304001002001 SIBLING_COMMUNITY_GRID
//! └── 440304002 SIBLING_STREET
//!     └── 440304002001001 SIBLING_STREET_GRID (in community 440304002001)
//! 440305 OTHER_DISTRICT
//! ```

use zw_domain::JurisdictionCode;

/// The district of the default settings (`district.code`).
pub const DISTRICT: &str = "440304";
/// A street of [`DISTRICT`].
pub const STREET: &str = "440304001";
/// A community of [`STREET`].
pub const COMMUNITY: &str = "440304001001";
/// A grid of [`COMMUNITY`].
pub const GRID: &str = "440304001001001";
/// The other grid of [`COMMUNITY`].
pub const NEIGHBOUR_GRID: &str = "440304001001002";
/// Another community of [`STREET`].
pub const SIBLING_COMMUNITY: &str = "440304001002";
/// A grid of [`SIBLING_COMMUNITY`].
pub const SIBLING_COMMUNITY_GRID: &str = "440304001002001";
/// Another street of [`DISTRICT`].
pub const SIBLING_STREET: &str = "440304002";
/// A grid of [`SIBLING_STREET`].
pub const SIBLING_STREET_GRID: &str = "440304002001001";
/// A district beside [`DISTRICT`], which no centre of the default settings serves.
pub const OTHER_DISTRICT: &str = "440305";

/// `code` as a [`JurisdictionCode`].
///
/// # Panics
/// When `code` is not a valid jurisdiction code (a mistake in the test).
pub fn code(code: &str) -> JurisdictionCode {
    JurisdictionCode::parse(code).unwrap_or_else(|e| panic!("{code:?} is not a code: {e}"))
}
