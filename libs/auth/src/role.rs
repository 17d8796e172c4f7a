//! Roles: what a principal may do. Where it may do it is its scope (a jurisdiction code).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zw_domain::Level;

/// A role carried in an access token (`roles` claim), serialised in snake_case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A resident: self-declares residence, applies for matters, reads his own records.
    Citizen,
    /// The one worker of a grid: collects and verifies in the field.
    GridWorker,
    /// An officer of a community centre.
    CommunityOfficer,
    /// An officer of a street operations centre.
    StreetOfficer,
    /// An officer of the district operations centre.
    DistrictOfficer,
    /// A department's service account (police station, civil affairs, …).
    Department,
    /// Administers identity: users, service accounts, signing keys.
    Admin,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 7] = [
        Role::Citizen,
        Role::GridWorker,
        Role::CommunityOfficer,
        Role::StreetOfficer,
        Role::DistrictOfficer,
        Role::Department,
        Role::Admin,
    ];

    /// The wire name (`"grid_worker"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::GridWorker => "grid_worker",
            Role::CommunityOfficer => "community_officer",
            Role::StreetOfficer => "street_officer",
            Role::DistrictOfficer => "district_officer",
            Role::Department => "department",
            Role::Admin => "admin",
        }
    }

    /// The level a scope of this role has: a grid worker is scoped to a grid, a community officer
    /// to a community, a street officer to a street; everyone else to the district.
    pub const fn scope_level(self) -> Level {
        match self {
            Role::GridWorker => Level::Grid,
            Role::CommunityOfficer => Level::Community,
            Role::StreetOfficer => Level::Street,
            Role::Citizen | Role::DistrictOfficer | Role::Department | Role::Admin => {
                Level::District
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a known role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}: expected one of citizen, grid_worker, community_officer, street_officer, district_officer, department, admin"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_snake_case_names() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).expect("serialise");
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(
                serde_json::from_str::<Role>(&json).expect("deserialise"),
                role
            );
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("GridWorker".parse::<Role>().is_err());
    }

    #[test]
    fn each_role_has_the_scope_level_of_its_office() {
        assert_eq!(Role::GridWorker.scope_level(), Level::Grid);
        assert_eq!(Role::CommunityOfficer.scope_level(), Level::Community);
        assert_eq!(Role::StreetOfficer.scope_level(), Level::Street);
        assert_eq!(Role::Admin.scope_level(), Level::District);
        assert_eq!(Role::Citizen.scope_level(), Level::District);
    }
}
