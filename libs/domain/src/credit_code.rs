//! Unified social credit codes (统一社会信用代码), GB 32100-2015.
//!
//! 18 characters from a 31-character alphabet (digits and capital letters without I, O, Z, S,
//! V): registration authority (1), entity category (2), region code (3-8, digits), organization
//! code (9-17), check character (18). The code identifies companies, social organisations and
//! public bodies; it is public data, so it prints in full everywhere.

use std::fmt;

/// The code alphabet; a character's index is its value in the check computation.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 characters (3^(i-1) mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a string is not a unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("a unified social credit code has 18 characters, this one has {0}")]
    Length(usize),
    #[error(
        "the first part of a unified social credit code has 17 characters (the 18th is computed), \
         this one has {0}"
    )]
    PartsLength(usize),
    #[error(
        "character {position} of a unified social credit code is '{found}', which is not used: \
         codes contain only digits and the letters A-Y except I, O, Z, S and V"
    )]
    Character { position: usize, found: char },
    #[error(
        "characters 3 to 8 of a unified social credit code are a region code and must be digits"
    )]
    Region,
    #[error(
        "the last character of this unified social credit code does not match the first 17 (it \
         is a check character); one of the characters is probably mistyped"
    )]
    CheckCharacter,
}

/// A validated unified social credit code, stored upper-case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parse and validate a code; lower-case letters are accepted and stored upper-case.
    pub fn parse(s: &str) -> Result<Self, CreditCodeError> {
        let len = s.chars().count();
        if len != 18 {
            return Err(CreditCodeError::Length(len));
        }
        let code = normalise(s)?;
        if check_char(&code[..17]) != code.as_bytes()[17] {
            return Err(CreditCodeError::CheckCharacter);
        }
        Ok(Self(code))
    }

    /// Build a valid code from its first 17 characters, computing the check character. For
    /// generating demo and test data.
    pub fn from_parts(first17: &str) -> Result<CreditCode, CreditCodeError> {
        let len = first17.chars().count();
        if len != 17 {
            return Err(CreditCodeError::PartsLength(len));
        }
        let mut code = normalise(first17)?;
        code.push(char::from(check_char(&code)));
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registration authority (position 1), e.g. `9` for market regulation.
    pub fn registration_authority(&self) -> char {
        char::from(self.0.as_bytes()[0])
    }

    /// The entity category within the authority (position 2), e.g. `1` for a company.
    pub fn entity_category(&self) -> char {
        char::from(self.0.as_bytes()[1])
    }

    /// The 6-digit region code (GB/T 2260) of the registering authority (positions 3-8).
    pub fn region(&self) -> &str {
        &self.0[2..8]
    }

    /// The organization code (positions 9-17).
    pub fn organization_code(&self) -> &str {
        &self.0[8..17]
    }
}

impl fmt::Debug for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CreditCode({})", self.0)
    }
}

string_type!(
    CreditCode,
    CreditCodeError,
    pattern: r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
    description: "Unified social credit code (GB 32100-2015): 18 characters from 0-9 and A-Y \
                  without I, O, Z, S, V; registration authority, entity category, 6-digit region \
                  code, 9-character organization code, check character. Lower-case input is \
                  accepted.",
    example: "91350100M000100Y43",
);

/// Upper-case `s` and check every character is in the alphabet and the region part is digits.
fn normalise(s: &str) -> Result<String, CreditCodeError> {
    let mut code = String::with_capacity(18);
    for (i, c) in s.chars().enumerate() {
        let upper = c.to_ascii_uppercase();
        if !upper.is_ascii() || !CHARSET.contains(&(upper as u8)) {
            return Err(CreditCodeError::Character {
                position: i + 1,
                found: c,
            });
        }
        if (2..8).contains(&i) && !upper.is_ascii_digit() {
            return Err(CreditCodeError::Region);
        }
        code.push(upper);
    }
    Ok(code)
}

/// The value of an alphabet character (the caller checked membership).
fn value(b: u8) -> u32 {
    CHARSET.iter().position(|&c| c == b).unwrap_or(0) as u32
}

/// The check character for 17 alphabet characters.
fn check_char(first17: &str) -> u8 {
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| value(b) * w)
        .sum();
    // 31 - (sum mod 31), with 31 written as 0.
    CHARSET[((31 - sum % 31) % 31) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_codes_are_valid() {
        for s in [
            "91350100M000100Y43",
            "91110000802100433B",
            "9144030071526726XG",
        ] {
            let code = CreditCode::parse(s).expect(s);
            assert_eq!(code.as_str(), s);
        }
        let code = CreditCode::parse("9144030071526726XG").expect("valid");
        assert_eq!(code.registration_authority(), '9');
        assert_eq!(code.entity_category(), '1');
        assert_eq!(code.region(), "440300");
        assert_eq!(code.organization_code(), "71526726X");
    }

    #[test]
    fn lower_case_is_accepted_and_normalised() {
        let code = CreditCode::parse("91350100m000100y43").expect("valid");
        assert_eq!(code.as_str(), "91350100M000100Y43");
    }

    #[test]
    fn from_parts_computes_the_check_character() {
        let code = CreditCode::from_parts("91350100M000100Y4").expect("valid");
        assert_eq!(code.as_str(), "91350100M000100Y43");
        // A weighted sum that is a multiple of 31 gives check value 0.
        let zero = CreditCode::from_parts("00000000000000000").expect("valid");
        assert_eq!(zero.as_str(), "000000000000000000");
    }

    #[test]
    fn malformed_codes_are_rejected_with_the_reason() {
        use CreditCodeError::*;
        assert_eq!(CreditCode::parse(""), Err(Length(0)));
        assert_eq!(CreditCode::parse("91350100M000100Y4"), Err(Length(17)));
        assert_eq!(
            CreditCode::parse("91350100I000100Y43"),
            Err(Character {
                position: 9,
                found: 'I'
            })
        );
        assert_eq!(
            CreditCode::parse("91350100M000100Y4é"),
            Err(Character {
                position: 18,
                found: 'é'
            })
        );
        assert_eq!(CreditCode::parse("9135A100M000100Y43"), Err(Region));
        assert_eq!(CreditCode::parse("91350100M000100Y44"), Err(CheckCharacter));
        assert_eq!(
            CreditCode::from_parts("91350100M000100Y43"),
            Err(PartsLength(18))
        );
        assert_eq!(
            CreditCode::from_parts("91350100M0001O0Y4"),
            Err(Character {
                position: 14,
                found: 'O'
            })
        );
    }

    #[test]
    fn serde_uses_the_plain_string_and_reports_the_parse_error() {
        let code = CreditCode::parse("91350100M000100Y43").expect("valid");
        assert_eq!(
            serde_json::to_string(&code).expect("serialise"),
            r#""91350100M000100Y43""#
        );
        let err = serde_json::from_str::<CreditCode>(r#""91350100M000100Y44""#).expect_err("bad");
        assert!(err.to_string().contains("check character"), "{err}");
        assert_eq!(format!("{code:?}"), "CreditCode(91350100M000100Y43)");
    }

    fn first17() -> impl Strategy<Value = String> {
        let any = || prop::sample::select(CHARSET.to_vec());
        (
            prop::collection::vec(any(), 2),
            0u32..=999_999,
            prop::collection::vec(any(), 9),
        )
            .prop_map(|(head, region, org)| {
                format!(
                    "{}{region:06}{}",
                    String::from_utf8(head).expect("ascii"),
                    String::from_utf8(org).expect("ascii")
                )
            })
    }

    proptest! {
        #[test]
        fn parse_round_trips_from_parts(first in first17()) {
            let code = CreditCode::from_parts(&first).expect("valid parts");
            prop_assert!(code.as_str().starts_with(&first));
            prop_assert_eq!(CreditCode::parse(code.as_str()), Ok(code.clone()));
            prop_assert_eq!(CreditCode::parse(&code.as_str().to_lowercase()), Ok(code.clone()));
        }

        #[test]
        fn every_single_character_substitution_is_caught(
            first in first17(),
            pos in 0usize..18,
            replacement in prop::sample::select(CHARSET.to_vec()),
        ) {
            let code = CreditCode::from_parts(&first).expect("valid parts");
            prop_assume!(replacement != code.as_str().as_bytes()[pos]);
            let mut mutated = code.as_str().as_bytes().to_vec();
            mutated[pos] = replacement;
            let mutated = String::from_utf8(mutated).expect("ascii");
            prop_assert_ne!(check_char(&mutated[..17]), mutated.as_bytes()[17]);
            prop_assert!(CreditCode::parse(&mutated).is_err());
        }

        #[test]
        fn serde_round_trips(first in first17()) {
            let code = CreditCode::from_parts(&first).expect("valid parts");
            let json = serde_json::to_string(&code).expect("serialise");
            let back: CreditCode = serde_json::from_str(&json).expect("deserialise");
            prop_assert_eq!(back, code);
        }
    }
}
