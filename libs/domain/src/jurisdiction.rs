//! Jurisdiction codes: district (6 digits, GB/T 2260), street (+3), community (+3), grid (+3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The level of a jurisdiction in the four-level hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    District,
    Street,
    Community,
    Grid,
}

impl Level {
    /// Number of digits a code of this level has.
    pub const fn digits(self) -> usize {
        match self {
            Level::District => 6,
            Level::Street => 9,
            Level::Community => 12,
            Level::Grid => 15,
        }
    }

    fn from_digits(len: usize) -> Option<Level> {
        match len {
            6 => Some(Level::District),
            9 => Some(Level::Street),
            12 => Some(Level::Community),
            15 => Some(Level::Grid),
            _ => None,
        }
    }

    /// The level directly below, if any.
    pub const fn child(self) -> Option<Level> {
        match self {
            Level::District => Some(Level::Street),
            Level::Street => Some(Level::Community),
            Level::Community => Some(Level::Grid),
            Level::Grid => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::District => "district",
            Level::Street => "street",
            Level::Community => "community",
            Level::Grid => "grid",
        })
    }
}

/// Why a string is not a jurisdiction code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JurisdictionError {
    #[error("a jurisdiction code has 6, 9, 12 or 15 digits, this one has {0} characters")]
    Length(usize),
    #[error("a jurisdiction code contains only the digits 0-9")]
    NotDigits,
    #[error("the province, city and county parts of a district code cannot be 00")]
    ZeroDistrict,
    #[error("the {0} part of a jurisdiction code cannot be 000")]
    ZeroSegment(Level),
}

/// A validated jurisdiction code. A principal whose scope is a code may act on that code and
/// everything under it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JurisdictionCode(String);

impl JurisdictionCode {
    /// Parse and validate a code.
    pub fn parse(s: &str) -> Result<Self, JurisdictionError> {
        let level =
            Level::from_digits(s.len()).ok_or(JurisdictionError::Length(s.chars().count()))?;
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(JurisdictionError::NotDigits);
        }
        if &s[0..2] == "00" || &s[2..4] == "00" || &s[4..6] == "00" {
            return Err(JurisdictionError::ZeroDistrict);
        }
        let mut lvl = Level::District;
        while let Some(next) = lvl.child() {
            if next > level {
                break;
            }
            if &s[lvl.digits()..next.digits()] == "000" {
                return Err(JurisdictionError::ZeroSegment(next));
            }
            lvl = next;
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> Level {
        // Length was checked by `parse`.
        Level::from_digits(self.0.len()).unwrap_or(Level::Grid)
    }

    /// The code one level up, or `None` for a district.
    pub fn parent(&self) -> Option<JurisdictionCode> {
        let parent_len = match self.level() {
            Level::District => return None,
            Level::Street => 6,
            Level::Community => 9,
            Level::Grid => 12,
        };
        Some(Self(self.0[..parent_len].to_owned()))
    }

    /// The ancestor (or self) at `level`, if this code is at that level or below.
    pub fn at_level(&self, level: Level) -> Option<JurisdictionCode> {
        (level <= self.level()).then(|| Self(self.0[..level.digits()].to_owned()))
    }

    /// Whether `other` is this code or lies under it.
    pub fn contains(&self, other: &JurisdictionCode) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The district part (6 digits).
    pub fn district(&self) -> &str {
        &self.0[..6]
    }

    /// The three-digit segment of `level` (`None` for a level below this code's, or district).
    pub fn segment(&self, level: Level) -> Option<&str> {
        match level {
            Level::District => Some(&self.0[..6]),
            _ if level > self.level() => None,
            _ => Some(&self.0[level.digits() - 3..level.digits()]),
        }
    }

    /// The subject tokens `<district>.<street>.<community>.<grid>` with `_` for a level that does
    /// not apply, as the messaging contract uses them.
    pub fn subject_tokens(&self) -> String {
        let seg = |l| self.segment(l).unwrap_or("_");
        format!(
            "{}.{}.{}.{}",
            self.district(),
            seg(Level::Street),
            seg(Level::Community),
            seg(Level::Grid)
        )
    }

    /// A child code built from this one and a three-digit segment.
    pub fn child(&self, segment: u16) -> Result<JurisdictionCode, JurisdictionError> {
        Self::parse(&format!("{}{:03}", self.0, segment))
    }
}

impl fmt::Display for JurisdictionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JurisdictionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JurisdictionCode({})", self.0)
    }
}

impl FromStr for JurisdictionCode {
    type Err = JurisdictionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for JurisdictionCode {
    type Error = JurisdictionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl AsRef<str> for JurisdictionCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for JurisdictionCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JurisdictionCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for JurisdictionCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d{6}(\d{3}){0,3}$"))
            .description(Some(
                "Jurisdiction code: district 6 digits (GB/T 2260), street 9, community 12, grid 15",
            ))
            .examples(["440304008001003"])
            .into()
    }
}

impl utoipa::ToSchema for JurisdictionCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_code_knows_its_level_parent_and_ancestors() {
        let g = JurisdictionCode::parse("440304008001003").expect("valid");
        assert_eq!(g.level(), Level::Grid);
        assert_eq!(
            g.parent().map(|p| p.to_string()).as_deref(),
            Some("440304008001")
        );
        assert_eq!(g.subject_tokens(), "440304.008.001.003");
        let street = JurisdictionCode::parse("440304008").expect("valid");
        assert!(street.contains(&g));
        assert!(!g.contains(&street));
        assert_eq!(street.subject_tokens(), "440304.008._._");
    }

    #[test]
    fn malformed_codes_are_rejected() {
        assert!(JurisdictionCode::parse("44030").is_err());
        assert!(JurisdictionCode::parse("44030400800a").is_err());
        assert!(JurisdictionCode::parse("440304000").is_err());
        assert!(JurisdictionCode::parse("000304").is_err());
    }

    #[test]
    fn serde_uses_the_plain_string_and_reports_the_parse_error() {
        let g = JurisdictionCode::parse("440304008001003").expect("valid");
        assert_eq!(
            serde_json::to_string(&g).expect("serialise"),
            r#""440304008001003""#
        );
        let err = serde_json::from_str::<JurisdictionCode>(r#""440304000""#).expect_err("bad");
        assert!(err.to_string().contains("cannot be 000"), "{err}");
    }

    use proptest::prelude::*;

    /// Any valid code: a district, then 0 to 3 non-zero three-digit segments.
    fn code() -> impl Strategy<Value = JurisdictionCode> {
        (
            1u32..=99,
            1u32..=99,
            1u32..=99,
            prop::collection::vec(1u32..=999, 0..=3),
        )
            .prop_map(|(p, c, d, segments)| {
                let mut s = format!("{p:02}{c:02}{d:02}");
                for seg in segments {
                    s.push_str(&format!("{seg:03}"));
                }
                JurisdictionCode::parse(&s).expect("valid code")
            })
    }

    fn level() -> impl Strategy<Value = Level> {
        prop::sample::select(vec![
            Level::District,
            Level::Street,
            Level::Community,
            Level::Grid,
        ])
    }

    proptest! {
        #[test]
        fn parse_round_trips(c in code()) {
            prop_assert_eq!(JurisdictionCode::parse(c.as_str()), Ok(c.clone()));
            prop_assert_eq!(c.as_str().len(), c.level().digits());
            let json = serde_json::to_string(&c).expect("serialise");
            let back: JurisdictionCode = serde_json::from_str(&json).expect("deserialise");
            prop_assert_eq!(back, c);
        }

        #[test]
        fn the_parent_is_one_level_up_and_contains_the_child(c in code()) {
            match c.parent() {
                None => prop_assert_eq!(c.level(), Level::District),
                Some(p) => {
                    prop_assert_eq!(p.level().child(), Some(c.level()));
                    prop_assert!(p.contains(&c));
                    prop_assert!(!c.contains(&p));
                    prop_assert_eq!(c.at_level(p.level()), Some(p));
                }
            }
        }

        #[test]
        fn contains_is_reflexive_and_follows_the_parent_chain(c in code()) {
            prop_assert!(c.contains(&c));
            let mut ancestor = c.parent();
            while let Some(a) = ancestor {
                prop_assert!(a.contains(&c));
                ancestor = a.parent();
            }
        }

        #[test]
        fn at_level_is_the_ancestor_at_that_level(c in code(), l in level()) {
            match c.at_level(l) {
                None => prop_assert!(l > c.level()),
                Some(a) => {
                    prop_assert!(l <= c.level());
                    prop_assert_eq!(a.level(), l);
                    prop_assert!(a.contains(&c));
                    prop_assert_eq!(a.at_level(l), Some(a.clone()));
                }
            }
            prop_assert_eq!(c.at_level(c.level()), Some(c.clone()));
            prop_assert_eq!(c.at_level(Level::District).map(|d| d.to_string()), Some(c.district().to_owned()));
        }

        #[test]
        fn contains_means_being_the_ancestor_at_ones_own_level(a in code(), b in code(), l in level()) {
            // A code shares every ancestor with a descendant; test both unrelated pairs and a
            // code against its own ancestor.
            prop_assert_eq!(a.contains(&b), b.at_level(a.level()) == Some(a.clone()));
            if let Some(anc) = b.at_level(l) {
                prop_assert!(anc.contains(&b));
                prop_assert_eq!(b.contains(&anc), anc == b);
            }
            if a.contains(&b) && b.contains(&a) {
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn a_child_has_this_code_as_parent(c in code(), seg in 1u16..=999) {
            match c.child(seg) {
                Ok(child) => {
                    prop_assert_eq!(child.parent(), Some(c.clone()));
                    let expected = format!("{seg:03}");
                    prop_assert_eq!(child.segment(child.level()), Some(expected.as_str()));
                }
                Err(e) => {
                    prop_assert_eq!(c.level(), Level::Grid);
                    prop_assert_eq!(e, JurisdictionError::Length(18));
                }
            }
            prop_assert!(c.child(0).is_err());
        }

        #[test]
        fn subject_tokens_have_four_parts(c in code()) {
            let tokens = c.subject_tokens();
            let parts: Vec<&str> = tokens.split('.').collect();
            prop_assert_eq!(parts.len(), 4);
            prop_assert_eq!(parts[0], c.district());
            let filled = parts.iter().filter(|p| **p != "_").count();
            prop_assert_eq!(filled, 1 + (c.level().digits() - 6) / 3);
            prop_assert_eq!(parts.concat().replace('_', ""), c.as_str());
        }
    }
}
