//! The decision on a declaration: pure logic, so it is tested without a database.
//!
//! Consistent and unremarkable → accepted straight into the grid database. Otherwise pending,
//! with the reasons a grid worker checks at the door. A citizen's declaration of someone outside
//! his household, and any declaration but the person's own of someone whose record another grid
//! keeps, always wait for the grid worker.

use serde::{Deserialize, Serialize};

/// Why a declaration waits for the grid worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PendingReason {
    /// The historical register has no record of this ID number.
    UnknownId,
    /// The register could not be asked (the district did not answer in time).
    RegisterUnavailable,
    /// The register has this person at another house.
    HouseMismatch,
    /// The house already has as many residents as it is registered for.
    HouseFull,
    /// This person already has a declaration waiting for verification.
    DuplicatePending,
    /// A citizen declared someone outside his household (a tenant, say): the register does not
    /// decide it.
    NotHousehold,
    /// Another grid keeps this person's record: only his own declaration, the worker of that
    /// grid or an officer whose scope holds both grids moves him.
    RecordedElsewhere,
}

impl PendingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingReason::UnknownId => "unknown_id",
            PendingReason::RegisterUnavailable => "register_unavailable",
            PendingReason::HouseMismatch => "house_mismatch",
            PendingReason::HouseFull => "house_full",
            PendingReason::DuplicatePending => "duplicate_pending",
            PendingReason::NotHousehold => "not_household",
            PendingReason::RecordedElsewhere => "recorded_elsewhere",
        }
    }
}

/// Whom a declaration is of, as its declarant stands to him.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredAs {
    /// A citizen declaring himself (his account's real-name ID number).
    Himself,
    /// A citizen declaring a member of his household: the register has both at one registered
    /// house.
    Household,
    /// A citizen declaring anyone else.
    Other,
    /// A grid worker recording a declaration at the door.
    Staff,
}

impl DeclaredAs {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclaredAs::Himself => "self",
            DeclaredAs::Household => "household",
            DeclaredAs::Other => "other",
            DeclaredAs::Staff => "staff",
        }
    }

    /// The stored value; anything unknown is read as the one a citizen is shown least of.
    pub fn parse(s: &str) -> DeclaredAs {
        match s {
            "self" => DeclaredAs::Himself,
            "household" => DeclaredAs::Household,
            "staff" => DeclaredAs::Staff,
            _ => DeclaredAs::Other,
        }
    }
}

/// What the register said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterAnswer {
    Found { registered_house: Option<String> },
    NotFound,
    Unavailable,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub declared_house: &'a str,
    pub register: RegisterAnswer,
    /// Residents the house has now (not counting this person).
    pub residents_in_house: u64,
    pub registered_size: u64,
    pub has_pending_declaration: bool,
    pub declared_as: DeclaredAs,
    /// Another grid keeps this person's record.
    pub recorded_elsewhere: bool,
}

/// The reasons to hold the declaration; empty means accept.
pub fn decide(f: &Facts<'_>) -> Vec<PendingReason> {
    let mut reasons = Vec::new();
    match &f.register {
        RegisterAnswer::NotFound => reasons.push(PendingReason::UnknownId),
        RegisterAnswer::Unavailable => reasons.push(PendingReason::RegisterUnavailable),
        RegisterAnswer::Found {
            registered_house: Some(h),
        } if h != f.declared_house => reasons.push(PendingReason::HouseMismatch),
        RegisterAnswer::Found { .. } => {}
    }
    if f.residents_in_house >= f.registered_size {
        reasons.push(PendingReason::HouseFull);
    }
    if f.has_pending_declaration {
        reasons.push(PendingReason::DuplicatePending);
    }
    if f.declared_as == DeclaredAs::Other {
        reasons.push(PendingReason::NotHousehold);
    }
    if f.recorded_elsewhere && f.declared_as != DeclaredAs::Himself {
        reasons.push(PendingReason::RecordedElsewhere);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(register: RegisterAnswer) -> Facts<'static> {
        Facts {
            declared_house: "H1",
            register,
            residents_in_house: 1,
            registered_size: 4,
            has_pending_declaration: false,
            declared_as: DeclaredAs::Himself,
            recorded_elsewhere: false,
        }
    }

    #[test]
    fn a_consistent_declaration_is_accepted() {
        assert!(
            decide(&facts(RegisterAnswer::Found {
                registered_house: Some("H1".into())
            }))
            .is_empty()
        );
        assert!(
            decide(&facts(RegisterAnswer::Found {
                registered_house: None
            }))
            .is_empty()
        );
    }

    #[test]
    fn each_doubt_holds_the_declaration_with_its_reason() {
        assert_eq!(
            decide(&facts(RegisterAnswer::NotFound)),
            [PendingReason::UnknownId]
        );
        assert_eq!(
            decide(&facts(RegisterAnswer::Unavailable)),
            [PendingReason::RegisterUnavailable]
        );
        assert_eq!(
            decide(&facts(RegisterAnswer::Found {
                registered_house: Some("H2".into())
            })),
            [PendingReason::HouseMismatch]
        );
        let mut full = facts(RegisterAnswer::Found {
            registered_house: None,
        });
        full.residents_in_house = 4;
        assert_eq!(decide(&full), [PendingReason::HouseFull]);
        let mut dup = facts(RegisterAnswer::Found {
            registered_house: None,
        });
        dup.has_pending_declaration = true;
        assert_eq!(decide(&dup), [PendingReason::DuplicatePending]);
    }

    #[test]
    fn only_his_own_declaration_brings_a_person_from_another_grid_and_a_stranger_waits() {
        let found = RegisterAnswer::Found {
            registered_house: Some("H1".into()),
        };
        let mut own = facts(found.clone());
        own.recorded_elsewhere = true;
        assert!(decide(&own).is_empty());
        for declared_as in [DeclaredAs::Household, DeclaredAs::Staff] {
            let mut f = facts(found.clone());
            f.recorded_elsewhere = true;
            f.declared_as = declared_as;
            assert_eq!(decide(&f), [PendingReason::RecordedElsewhere]);
        }
        let mut tenant = facts(found);
        tenant.declared_as = DeclaredAs::Other;
        assert_eq!(decide(&tenant), [PendingReason::NotHousehold]);
        assert_eq!(DeclaredAs::parse("self"), DeclaredAs::Himself);
        assert_eq!(DeclaredAs::parse("from before"), DeclaredAs::Other);
    }
}
