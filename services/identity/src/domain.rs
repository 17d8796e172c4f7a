//! Inputs parsed once at the edge: usernames, passwords, display names, client ids, data-set
//! names, the rule that a role's scope has the level of its office, and the rule that a citizen's
//! account is bound to his own resident ID number.
//!
//! Each type has a private field and is built only by `parse`; its error is a sentence fit for a
//! 400 response.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use zw_auth::Role;
use zw_domain::{IdNumber, JurisdictionCode};

/// A login name: 3–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit. Upper-case
/// letters are folded to lower case, so `Alice` and `alice` are one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Parse (and lower-case) a username.
    pub fn parse(s: &str) -> Result<Username, String> {
        parse_name(s, "username").map(Username)
    }

    /// The canonical (lower-case) name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A service account's client id: the same rules as a [`Username`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// Parse (and lower-case) a client id.
    pub fn parse(s: &str) -> Result<ClientId, String> {
        parse_name(s, "client_id").map(ClientId)
    }

    /// The canonical (lower-case) id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_name(s: &str, what: &str) -> Result<String, String> {
    let s = s.to_ascii_lowercase();
    let len = s.chars().count();
    if !(3..=64).contains(&len) {
        return Err(format!("{what} must have 3 to 64 characters, not {len}"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(format!(
            "{what} may contain only letters a-z, digits and . _ -"
        ));
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(format!("{what} must start with a letter or a digit"));
    }
    Ok(s)
}

/// A new password: 8 to 128 characters, not only spaces. `Debug` never shows it.
pub struct Password(SecretString);

impl Password {
    /// Fewest characters a password may have.
    pub const MIN: usize = 8;
    /// Most characters a password may have (hashing cost is bounded by the body limit anyway).
    pub const MAX: usize = 128;

    /// Check a new password's length.
    pub fn parse(s: &str) -> Result<Password, String> {
        let len = s.chars().count();
        if len < Self::MIN {
            return Err(format!(
                "password must have at least {} characters",
                Self::MIN
            ));
        }
        if len > Self::MAX {
            return Err(format!(
                "password may have at most {} characters",
                Self::MAX
            ));
        }
        if s.trim().is_empty() {
            return Err("password cannot be only spaces".into());
        }
        Ok(Password(SecretString::from(s.to_owned())))
    }

    /// The password itself, to hash it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// A display name: trimmed, 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parse a display name; `None` and blank give `None`.
    pub fn parse_optional(s: Option<&str>) -> Result<Option<DisplayName>, String> {
        let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if s.chars().count() > 64 {
            return Err("name may have at most 64 characters".into());
        }
        if s.chars().any(char::is_control) {
            return Err("name cannot contain control characters".into());
        }
        Ok(Some(DisplayName(s.to_owned())))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The data sets a department is entitled to: 0–100 names of 1–64 characters of
/// `a-z 0-9 . _ -`, starting with a letter or digit; sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datasets(Vec<String>);

impl Datasets {
    /// Most data sets one account may hold.
    pub const MAX: usize = 100;

    /// Parse the list.
    pub fn parse(names: &[String]) -> Result<Datasets, String> {
        if names.len() > Self::MAX {
            return Err(format!("at most {} data sets", Self::MAX));
        }
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let ok_chars = n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
            let ok_start = n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
            if n.len() > 64 || !ok_chars || !ok_start {
                return Err(format!(
                    "data set {n:?}: 1 to 64 characters of a-z, 0-9, . _ -, starting with a letter or digit"
                ));
            }
            out.push(n.clone());
        }
        out.sort();
        out.dedup();
        Ok(Datasets(out))
    }

    /// The names.
    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

/// Roles with a scope that fits them: at least one role, every role's office at the scope's level
/// (grid worker → grid, community officer → community, street officer → street, the others →
/// district), and the scope inside this deployment's district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    roles: Vec<Role>,
    scope: JurisdictionCode,
}

impl Assignment {
    /// Check `roles` against `scope` within `district`.
    pub fn parse(
        roles: &[Role],
        scope: &JurisdictionCode,
        district: &JurisdictionCode,
    ) -> Result<Assignment, String> {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err("at least one role is required".into());
        }
        if !district.contains(scope) {
            return Err(format!(
                "scope {scope} is outside this district ({district})"
            ));
        }
        for role in &roles {
            let level = role.scope_level();
            if scope.level() != level {
                return Err(format!(
                    "a {role} is scoped to a {level} code ({} digits), but {scope} is a {} code",
                    level.digits(),
                    scope.level()
                ));
            }
        }
        Ok(Assignment {
            roles,
            scope: scope.clone(),
        })
    }

    /// The roles, sorted, without duplicates.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The scope.
    pub fn scope(&self) -> &JurisdictionCode {
        &self.scope
    }
}

/// The resident ID number an account is bound to (real-name registration, 实名): required for a
/// citizen — it is who he may declare himself to be — and refused for every other account (staff
/// and departments act in their office, not as residents). Checked with GB 11643 (check
/// character, region, a birth date that is a date) and the holder must be born by `today`.
pub fn bound_id_number(
    roles: &[Role],
    id_number: Option<&str>,
    today: chrono::NaiveDate,
) -> Result<Option<IdNumber>, String> {
    let id_number = id_number.map(str::trim).filter(|s| !s.is_empty());
    match (roles.contains(&Role::Citizen), id_number) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err("only a citizen's account is bound to an ID number".into()),
        (true, None) => Err(
            "a citizen's account is bound to his resident ID number: id_number is required".into(),
        ),
        (true, Some(s)) => IdNumber::parse_on(s, today)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> JurisdictionCode {
        JurisdictionCode::parse(s).expect("code")
    }

    #[test]
    fn usernames_are_folded_to_lower_case_and_restricted_to_a_safe_alphabet() {
        assert_eq!(
            Username::parse("Li.Lei_01").expect("ok").as_str(),
            "li.lei_01"
        );
        for bad in [
            "ab",
            "has space",
            "_leading",
            "émile",
            "a/b",
            &"x".repeat(65),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_eight_characters_and_never_print() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("        ").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse").expect("ok");
        assert_eq!(format!("{p:?}"), "Password([redacted])");
        assert_eq!(p.expose(), "correct horse");
    }

    #[test]
    fn a_role_needs_a_scope_at_the_level_of_its_office() {
        let district = code("440304");
        let ok = Assignment::parse(&[Role::GridWorker], &code("440304008001003"), &district);
        assert!(ok.is_ok());
        let err = Assignment::parse(&[Role::GridWorker], &code("440304008"), &district)
            .expect_err("street code for a grid worker");
        assert!(err.contains("grid_worker"), "{err}");
        assert!(Assignment::parse(&[Role::StreetOfficer], &code("440304008"), &district).is_ok());
        assert!(Assignment::parse(&[Role::Admin], &code("440304008"), &district).is_err());
        assert!(
            Assignment::parse(&[Role::Admin, Role::DistrictOfficer], &district, &district).is_ok()
        );
        assert!(Assignment::parse(&[], &district, &district).is_err());
        assert!(Assignment::parse(&[Role::Admin], &code("440305"), &district).is_err());
    }

    #[test]
    fn a_citizen_needs_a_valid_id_number_and_nobody_else_may_have_one() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 10).expect("date");
        let id = bound_id_number(&[Role::Citizen], Some(" 11010519491231002x "), today)
            .expect("valid")
            .expect("bound");
        assert_eq!(id.as_str(), "11010519491231002X");
        for bad in [
            None,
            Some(""),
            Some("110105194912310021"),
            Some("11010519491231"),
        ] {
            assert!(
                bound_id_number(&[Role::Citizen], bad, today).is_err(),
                "{bad:?}"
            );
        }
        // Born 2004-12-18: not yet born on 2004-12-01.
        let before_birth = chrono::NaiveDate::from_ymd_opt(2004, 12, 1).expect("date");
        assert!(bound_id_number(&[Role::Citizen], Some("440304200412180010"), today).is_ok());
        assert!(
            bound_id_number(&[Role::Citizen], Some("440304200412180010"), before_birth).is_err()
        );
        assert_eq!(bound_id_number(&[Role::GridWorker], None, today), Ok(None));
        assert!(
            bound_id_number(&[Role::StreetOfficer], Some("11010519491231002X"), today).is_err()
        );
    }

    #[test]
    fn data_sets_are_sorted_and_deduplicated() {
        let d = Datasets::parse(&[
            "police.cases".into(),
            "civil.marriages".into(),
            "police.cases".into(),
        ])
        .expect("ok");
        assert_eq!(
            d.into_inner(),
            vec!["civil.marriages".to_owned(), "police.cases".to_owned()]
        );
        assert!(Datasets::parse(&["".into()]).is_err());
        assert!(Datasets::parse(&["Police".into()]).is_err());
    }
}
