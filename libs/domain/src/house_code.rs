//! House codes (一户一码): one code per house, our own format.
//!
//! 20 digits: the 15-digit code of the grid where the house was first registered, a 4-digit
//! serial `0001`-`9999` within that grid, and a Luhn check digit over the first 19 digits. The
//! code never changes, even if grid boundaries are redrawn later, so the grid part records where
//! the house was registered, not where it lies today.

use std::fmt;

use crate::jurisdiction::{JurisdictionCode, JurisdictionError, Level};

/// Why a string (or a grid and serial) is not a house code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HouseCodeError {
    #[error("a house code has 20 digits, this one has {0} characters")]
    Length(usize),
    #[error("a house code contains only the digits 0-9")]
    NotDigits,
    #[error("the first 15 digits of a house code must be a grid code: {0}")]
    Grid(JurisdictionError),
    #[error("a house code is issued under a grid (15-digit) code, not a {0} code")]
    NotGridLevel(Level),
    #[error("the serial number of a house code (digits 16 to 19) must be between 0001 and 9999")]
    Serial,
    #[error(
        "the last digit of this house code does not match the first 19 (it is a check digit); \
         one of the digits is probably mistyped"
    )]
    CheckDigit,
}

/// A validated 20-digit house code.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HouseCode {
    code: String,
    /// The first 15 digits of `code`, parsed once.
    grid: JurisdictionCode,
}

impl HouseCode {
    /// Parse and validate a house code.
    pub fn parse(s: &str) -> Result<Self, HouseCodeError> {
        let len = s.chars().count();
        if len != 20 {
            return Err(HouseCodeError::Length(len));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HouseCodeError::NotDigits);
        }
        let grid = JurisdictionCode::parse(&s[..15]).map_err(HouseCodeError::Grid)?;
        if &s[15..19] == "0000" {
            return Err(HouseCodeError::Serial);
        }
        if luhn_digit(&s[..19]) != s.as_bytes()[19] {
            return Err(HouseCodeError::CheckDigit);
        }
        Ok(Self {
            code: s.to_owned(),
            grid,
        })
    }

    /// The code of house number `serial` (1..=9999) registered in `grid`, with its check digit.
    pub fn new(grid: &JurisdictionCode, serial: u16) -> Result<HouseCode, HouseCodeError> {
        if grid.level() != Level::Grid {
            return Err(HouseCodeError::NotGridLevel(grid.level()));
        }
        if !(1..=9999).contains(&serial) {
            return Err(HouseCodeError::Serial);
        }
        let mut code = format!("{grid}{serial:04}");
        code.push(char::from(luhn_digit(&code)));
        Ok(Self {
            code,
            grid: grid.clone(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The grid where the house was first registered.
    pub fn origin_grid(&self) -> JurisdictionCode {
        self.grid.clone()
    }

    /// The serial number within the origin grid, 1..=9999.
    pub fn serial(&self) -> u16 {
        self.code[15..19]
            .bytes()
            .fold(0, |acc, b| acc * 10 + u16::from(b - b'0'))
    }
}

impl fmt::Debug for HouseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HouseCode({})", self.code)
    }
}

string_type!(
    HouseCode,
    HouseCodeError,
    pattern: r"^\d{20}$",
    description: "House code (one code per house): the 15-digit grid code where the house was \
                  first registered, a 4-digit serial 0001-9999, and a Luhn check digit.",
    example: "44030400800100300015",
);

/// The Luhn check digit (as an ASCII byte) for a run of ASCII digits.
fn luhn_digit(payload: &str) -> u8 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            // Double every second digit, starting with the rightmost of the payload.
            if i % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    b'0' + ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grid() -> JurisdictionCode {
        JurisdictionCode::parse("440304008001003").expect("valid grid")
    }

    #[test]
    fn the_luhn_digit_matches_the_textbook_example() {
        assert_eq!(luhn_digit("7992739871"), b'3');
    }

    #[test]
    fn new_builds_a_code_that_parses_back() {
        let code = HouseCode::new(&grid(), 1).expect("valid");
        assert_eq!(code.as_str(), "44030400800100300015");
        assert_eq!(code.origin_grid(), grid());
        assert_eq!(code.serial(), 1);
        assert_eq!(HouseCode::parse(code.as_str()), Ok(code.clone()));
        assert_eq!(format!("{code:?}"), "HouseCode(44030400800100300015)");
        let last = HouseCode::new(&grid(), 9999).expect("valid");
        assert_eq!(last.serial(), 9999);
    }

    #[test]
    fn new_rejects_codes_above_grid_level_and_out_of_range_serials() {
        let community = JurisdictionCode::parse("440304008001").expect("valid");
        assert_eq!(
            HouseCode::new(&community, 1),
            Err(HouseCodeError::NotGridLevel(Level::Community))
        );
        assert_eq!(HouseCode::new(&grid(), 0), Err(HouseCodeError::Serial));
        assert_eq!(HouseCode::new(&grid(), 10000), Err(HouseCodeError::Serial));
    }

    #[test]
    fn malformed_codes_are_rejected_with_the_reason() {
        use HouseCodeError::*;
        assert_eq!(HouseCode::parse("4403040080010030001"), Err(Length(19)));
        assert_eq!(HouseCode::parse("4403040080010030001é"), Err(NotDigits));
        assert_eq!(HouseCode::parse("4403040080010030001a"), Err(NotDigits));
        assert_eq!(
            HouseCode::parse("44030400800100000015"),
            Err(Grid(JurisdictionError::ZeroSegment(Level::Grid)))
        );
        assert_eq!(HouseCode::parse("44030400800100300000"), Err(Serial));
        assert_eq!(HouseCode::parse("44030400800100300016"), Err(CheckDigit));
        let msg = HouseCode::parse("44030400800100000015")
            .expect_err("bad")
            .to_string();
        assert!(msg.contains("grid code") && msg.contains("000"), "{msg}");
    }

    #[test]
    fn serde_uses_the_plain_string_and_reports_the_parse_error() {
        let code = HouseCode::new(&grid(), 42).expect("valid");
        let json = serde_json::to_string(&code).expect("serialise");
        assert_eq!(json, format!("\"{code}\""));
        let err = serde_json::from_str::<HouseCode>(r#""44030400800100300016""#).expect_err("bad");
        assert!(err.to_string().contains("check digit"), "{err}");
    }

    fn grid_code() -> impl Strategy<Value = JurisdictionCode> {
        (
            11u32..=82,
            1u32..=99,
            1u32..=99,
            1u32..=999,
            1u32..=999,
            1u32..=999,
        )
            .prop_map(|(p, c, d, s, m, g)| {
                JurisdictionCode::parse(&format!("{p:02}{c:02}{d:02}{s:03}{m:03}{g:03}"))
                    .expect("valid grid")
            })
    }

    proptest! {
        #[test]
        fn parse_round_trips_new(grid in grid_code(), serial in 1u16..=9999) {
            let code = HouseCode::new(&grid, serial).expect("valid parts");
            prop_assert_eq!(HouseCode::parse(code.as_str()), Ok(code.clone()));
            prop_assert_eq!(code.origin_grid(), grid);
            prop_assert_eq!(code.serial(), serial);
        }

        #[test]
        fn every_single_digit_substitution_is_caught(
            grid in grid_code(),
            serial in 1u16..=9999,
            pos in 0usize..20,
            replacement in b'0'..=b'9',
        ) {
            let code = HouseCode::new(&grid, serial).expect("valid parts");
            prop_assume!(replacement != code.as_str().as_bytes()[pos]);
            let mut mutated = code.as_str().as_bytes().to_vec();
            mutated[pos] = replacement;
            let mutated = String::from_utf8(mutated).expect("ascii");
            prop_assert_ne!(luhn_digit(&mutated[..19]), mutated.as_bytes()[19]);
            prop_assert!(HouseCode::parse(&mutated).is_err());
        }

        #[test]
        fn serde_round_trips(grid in grid_code(), serial in 1u16..=9999) {
            let code = HouseCode::new(&grid, serial).expect("valid parts");
            let json = serde_json::to_string(&code).expect("serialise");
            let back: HouseCode = serde_json::from_str(&json).expect("deserialise");
            prop_assert_eq!(back, code);
        }
    }
}
