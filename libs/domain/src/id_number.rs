//! Resident identity numbers (居民身份证号码), GB 11643-1999.
//!
//! 18 characters: a 6-digit region code, the birth date `YYYYMMDD`, a 3-digit sequence whose last
//! digit is odd for men and even for women, and a check character (`0`-`9` or `X`) computed
//! ISO 7064 MOD 11-2 style over the first 17 digits. A birth date that has not come yet (in China
//! Standard Time, where every such number is issued) is refused like an impossible one: nobody
//! holds that number yet. The number is personal data: `Debug` prints it masked so it never
//! reaches a log; `Display` and `as_str` give the full value for the few places that
//! deliberately need it.

use std::fmt;

use chrono::{Datelike, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Weights of the first 17 digits (2^(18-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character, indexed by the weighted sum mod 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// Sex as encoded in the 17th digit of a resident ID number.
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
pub enum Sex {
    Male,
    Female,
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "male",
            Sex::Female => "female",
        })
    }
}

/// Why a string is not a resident ID number. The messages never quote the number itself: they
/// reach API responses and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error(
        "this looks like an old 15-digit resident ID number, which is no longer accepted; \
         please enter the 18-character number printed on the second-generation ID card"
    )]
    FifteenDigits,
    #[error("a resident ID number has 18 characters, this one has {0}")]
    Length(usize),
    #[error("the first 17 characters of a resident ID number must be digits 0-9")]
    NotDigits,
    #[error("the last character of a resident ID number must be a digit 0-9 or the letter X")]
    LastCharacter,
    #[error(
        "the region code of a resident ID number (its first 6 characters) must be 6 digits \
         starting with a province code from 11 to 82"
    )]
    Region,
    #[error(
        "characters 7 to 14 of a resident ID number are the birth date (YYYYMMDD) and must be a \
         real calendar date"
    )]
    BirthDate,
    #[error("the birth year in a resident ID number must be between 1900 and 9999")]
    BirthYear,
    #[error(
        "characters 7 to 14 of a resident ID number are the birth date, and this one lies in the \
         future: the number cannot belong to anyone yet"
    )]
    BirthInFuture,
    #[error("the sequence number of a resident ID number must be between 0 and 999, not {0}")]
    Sequence(u16),
    #[error(
        "the last character of this resident ID number does not match the first 17 (it is a \
         check character); one of the characters is probably mistyped"
    )]
    CheckCharacter,
}

/// A validated 18-character resident ID number, stored with an upper-case `X`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdNumber {
    value: String,
    /// Decoded once by `parse`; always the date in `value[6..14]`.
    birth: NaiveDate,
}

impl IdNumber {
    /// Parse and validate an ID number. A lower-case `x` check character is accepted and stored
    /// as `X`. A birth date after today (China Standard Time) is [`IdNumberError::BirthInFuture`].
    pub fn parse(s: &str) -> Result<Self, IdNumberError> {
        Self::parse_on(s, today())
    }

    /// [`IdNumber::parse`] as of `today`.
    pub fn parse_on(s: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let len = s.chars().count();
        if len == 15 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdNumberError::FifteenDigits);
        }
        if len != 18 {
            return Err(IdNumberError::Length(len));
        }
        let mut chars = s.chars();
        let last = chars.next_back().ok_or(IdNumberError::Length(0))?;
        let body = chars.as_str();
        if !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdNumberError::NotDigits);
        }
        let last = match last {
            '0'..='9' => last,
            'X' | 'x' => 'X',
            _ => return Err(IdNumberError::LastCharacter),
        };
        check_region(&body[..6])?;
        let year = digits_value(&body[6..10]);
        if year < 1900 {
            return Err(IdNumberError::BirthYear);
        }
        let birth = NaiveDate::from_ymd_opt(
            // At most 9999: four digits.
            year as i32,
            digits_value(&body[10..12]),
            digits_value(&body[12..14]),
        )
        .ok_or(IdNumberError::BirthDate)?;
        if check_char(body) != last {
            return Err(IdNumberError::CheckCharacter);
        }
        if birth > today {
            return Err(IdNumberError::BirthInFuture);
        }
        Ok(Self {
            value: format!("{body}{last}"),
            birth,
        })
    }

    /// Build a valid ID number from its parts, computing the check character. For generating demo
    /// and test data; `region` is 6 digits, `birth` not after today, `sequence` 0..=999 (odd for a
    /// man, even for a woman).
    pub fn from_parts(
        region: &str,
        birth: NaiveDate,
        sequence: u16,
    ) -> Result<IdNumber, IdNumberError> {
        if region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdNumberError::Region);
        }
        check_region(region)?;
        if !(1900..=9999).contains(&birth.year()) {
            return Err(IdNumberError::BirthYear);
        }
        if birth > today() {
            return Err(IdNumberError::BirthInFuture);
        }
        if sequence > 999 {
            return Err(IdNumberError::Sequence(sequence));
        }
        let body = format!(
            "{region}{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            birth.month(),
            birth.day()
        );
        let check = check_char(&body);
        Ok(Self {
            value: format!("{body}{check}"),
            birth,
        })
    }

    /// The full number. Personal data: prefer [`IdNumber::masked`] unless the full value is
    /// needed.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The 6-digit region code (GB/T 2260) of the place the number was issued.
    pub fn region(&self) -> &str {
        &self.value[..6]
    }

    /// The holder's date of birth.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    /// The holder's sex: the 17th digit is odd for a man, even for a woman.
    pub fn sex(&self) -> Sex {
        if self.value.as_bytes()[16] % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Whether the holder was born on or before `date`. A number whose birth date lies in the
    /// future is well-formed but cannot belong to anyone yet.
    pub fn is_born_by(&self, date: NaiveDate) -> bool {
        self.birth <= date
    }

    /// Age in whole years on `date` (0 if `date` is before the birth date). Someone born on
    /// 29 February turns a year older on 1 March in common years.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        if date < self.birth {
            return 0;
        }
        let mut years = date.year() - self.birth.year();
        if (date.month(), date.day()) < (self.birth.month(), self.birth.day()) {
            years -= 1;
        }
        u32::try_from(years).unwrap_or(0)
    }

    /// The number with the birth date hidden: region code, eight `*`, the last four characters
    /// (`440304********123X`). Safe for logs and for responses to roles that do not need the
    /// full number.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.value[..6], &self.value[14..])
    }
}

/// Masked: a resident ID number must never appear in a log.
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

string_type!(
    IdNumber,
    IdNumberError,
    pattern: r"^[1-8]\d{16}[0-9X]$",
    description: "Resident identity number (GB 11643-1999): 6-digit region code, birth date \
                  YYYYMMDD, 3-digit sequence, check character 0-9 or X (a lower-case x is \
                  accepted). Personal data: responses may carry it masked as 440304********123X.",
    example: "11010519491231002X",
);

/// Today in China Standard Time (UTC+8, no daylight saving), where resident ID numbers are issued:
/// a child born there just after midnight is already born.
fn today() -> NaiveDate {
    let now = Utc::now();
    match FixedOffset::east_opt(8 * 3600) {
        Some(cst) => now.with_timezone(&cst).date_naive(),
        None => now.date_naive(),
    }
}

/// The province part (first two digits) of a region code is 11 to 82.
fn check_region(region: &str) -> Result<(), IdNumberError> {
    if (11..=82).contains(&digits_value(&region[..2])) {
        Ok(())
    } else {
        Err(IdNumberError::Region)
    }
}

/// The value of a short run of ASCII digits (checked by the caller).
fn digits_value(digits: &str) -> u32 {
    digits
        .bytes()
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// The check character for 17 ASCII digits.
fn check_char(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    char::from(CHECK_CHARS[(sum % 11) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn the_standard_sample_number_is_valid() {
        let id = IdNumber::parse("11010519491231002X").expect("valid");
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.region(), "110105");
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.masked(), "110105********002X");
    }

    #[test]
    fn a_lower_case_x_is_accepted_and_stored_upper_case() {
        let id = IdNumber::parse("11010519491231002x").expect("valid");
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id, IdNumber::parse("11010519491231002X").expect("valid"));
    }

    #[test]
    fn from_parts_computes_the_check_character() {
        let id = IdNumber::from_parts("440304", date(1990, 1, 1), 123).expect("valid");
        assert_eq!(id.as_str(), "440304199001011233");
        assert_eq!(id.sex(), Sex::Male);
        assert_eq!(id.masked(), "440304********1233");
        assert_eq!(IdNumber::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn old_fifteen_digit_numbers_are_rejected_with_their_own_error() {
        let err = IdNumber::parse("110105491231002").expect_err("15 digits");
        assert_eq!(err, IdNumberError::FifteenDigits);
        assert!(err.to_string().contains("15-digit"));
    }

    #[test]
    fn malformed_numbers_are_rejected_with_the_reason() {
        use IdNumberError::*;
        assert_eq!(IdNumber::parse(""), Err(Length(0)));
        assert_eq!(IdNumber::parse("11010519491231002"), Err(Length(17)));
        assert_eq!(IdNumber::parse("11010519491231002XX"), Err(Length(19)));
        assert_eq!(IdNumber::parse(" 11010519491231002X"), Err(Length(19)));
        assert_eq!(IdNumber::parse("1101051949123100AX"), Err(NotDigits));
        assert_eq!(IdNumber::parse("11010519491231002é"), Err(LastCharacter));
        assert_eq!(IdNumber::parse("1101051949123100é2"), Err(NotDigits));
        assert_eq!(IdNumber::parse("11010519491231002Y"), Err(LastCharacter));
        assert_eq!(IdNumber::parse("010105194912310025"), Err(Region));
        assert_eq!(IdNumber::parse("910105194912310025"), Err(Region));
        assert_eq!(IdNumber::parse("110105194902300025"), Err(BirthDate));
        assert_eq!(IdNumber::parse("110105194913010025"), Err(BirthDate));
        assert_eq!(IdNumber::parse("110105194900000025"), Err(BirthDate));
        // The sample in GB 11643 itself: valid check character, but born in 1880.
        assert_eq!(IdNumber::parse("440524188001010014"), Err(BirthYear));
        assert_eq!(IdNumber::parse("110105194912310021"), Err(CheckCharacter));
    }

    #[test]
    fn a_birth_date_in_the_future_is_refused_and_today_is_accepted() {
        // The number an outside probe got accepted: well-formed, check character right, born 2099.
        assert_eq!(
            IdNumber::parse("440304209901010013"),
            Err(IdNumberError::BirthInFuture)
        );
        let today = date(2026, 12, 3);
        let born_on = |birth: NaiveDate| {
            let body = format!("440304{}013", birth.format("%Y%m%d"));
            format!("{body}{}", check_char(&body))
        };
        assert!(IdNumber::parse_on(&born_on(today), today).is_ok());
        assert_eq!(
            IdNumber::parse_on(&born_on(today + chrono::Duration::days(1)), today),
            Err(IdNumberError::BirthInFuture)
        );
        assert_eq!(
            IdNumber::from_parts("440304", today + chrono::Duration::days(400), 1),
            Err(IdNumberError::BirthInFuture)
        );
        assert!(IdNumber::from_parts("440304", super::today(), 1).is_ok());
    }

    #[test]
    fn from_parts_rejects_bad_parts() {
        use IdNumberError::*;
        let d = date(1990, 1, 1);
        assert_eq!(IdNumber::from_parts("44030", d, 1), Err(Region));
        assert_eq!(IdNumber::from_parts("44030a", d, 1), Err(Region));
        assert_eq!(IdNumber::from_parts("004403", d, 1), Err(Region));
        assert_eq!(
            IdNumber::from_parts("440304", date(1899, 12, 31), 1),
            Err(BirthYear)
        );
        assert_eq!(
            IdNumber::from_parts("440304", date(10000, 1, 1), 1),
            Err(BirthYear)
        );
        assert_eq!(
            IdNumber::from_parts("440304", date(9999, 1, 1), 1),
            Err(BirthInFuture)
        );
        assert_eq!(IdNumber::from_parts("440304", d, 1000), Err(Sequence(1000)));
        assert!(IdNumber::from_parts("440304", d, 999).is_ok());
        assert!(IdNumber::from_parts("440304", date(1900, 1, 1), 0).is_ok());
    }

    #[test]
    fn age_counts_whole_years() {
        let id = IdNumber::from_parts("440304", date(1990, 6, 15), 12).expect("valid");
        assert_eq!(id.age_on(date(1990, 6, 15)), 0);
        assert_eq!(id.age_on(date(2020, 6, 14)), 29);
        assert_eq!(id.age_on(date(2020, 6, 15)), 30);
        assert_eq!(id.age_on(date(1980, 1, 1)), 0);
        assert!(id.is_born_by(date(1990, 6, 15)));
        assert!(!id.is_born_by(date(1990, 6, 14)));
    }

    #[test]
    fn someone_born_on_29_february_ages_on_1_march_in_common_years() {
        let id = IdNumber::from_parts("440304", date(2000, 2, 29), 12).expect("valid");
        assert_eq!(id.age_on(date(2001, 2, 28)), 0);
        assert_eq!(id.age_on(date(2001, 3, 1)), 1);
        assert_eq!(id.age_on(date(2004, 2, 29)), 4);
    }

    #[test]
    fn debug_is_masked_and_display_is_full() {
        let id = IdNumber::parse("11010519491231002X").expect("valid");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
        assert_eq!(
            format!("{:?}", Some(&id)),
            "Some(IdNumber(110105********002X))"
        );
        assert_eq!(id.to_string(), "11010519491231002X");
    }

    #[test]
    fn serde_uses_the_plain_string_and_reports_the_parse_error() {
        let id = IdNumber::parse("11010519491231002X").expect("valid");
        assert_eq!(
            serde_json::to_string(&id).expect("serialise"),
            r#""11010519491231002X""#
        );
        let back: IdNumber = serde_json::from_str(r#""11010519491231002x""#).expect("parse");
        assert_eq!(back, id);
        let err = serde_json::from_str::<IdNumber>(r#""110105491231002""#).expect_err("bad");
        assert!(err.to_string().contains("15-digit"), "{err}");
    }

    #[test]
    fn conversions_all_go_through_parse() {
        let id: IdNumber = "11010519491231002X".parse().expect("valid");
        assert_eq!(
            IdNumber::try_from("11010519491231002X".to_owned()),
            Ok(id.clone())
        );
        assert_eq!(id.as_ref() as &str, "11010519491231002X");
        assert!(IdNumber::try_from("11010519491231002".to_owned()).is_err());
    }

    #[test]
    fn error_messages_never_quote_the_number() {
        for bad in [
            "11010519491231002Y",
            "110105194912310021",
            "110105194902300025",
        ] {
            let msg = IdNumber::parse(bad).expect_err("bad").to_string();
            assert!(!msg.contains("1949"), "{msg}");
        }
    }

    /// Parts of numbers people hold: born from 1900 to today.
    fn id_parts() -> impl Strategy<Value = (String, NaiveDate, u16)> {
        let first = date(1900, 1, 1);
        let span = (today() - first).num_days();
        (11u32..=82, 0u32..=9999, 0..=span, 0u16..=999).prop_map(move |(p, rest, days, seq)| {
            let birth = first + chrono::Duration::days(days);
            (format!("{p:02}{rest:04}"), birth, seq)
        })
    }

    fn valid_id() -> impl Strategy<Value = IdNumber> {
        id_parts().prop_map(|(region, birth, seq)| {
            IdNumber::from_parts(&region, birth, seq).expect("valid parts")
        })
    }

    proptest! {
        #[test]
        fn parse_round_trips_from_parts((region, birth, seq) in id_parts()) {
            let id = IdNumber::from_parts(&region, birth, seq).expect("valid parts");
            prop_assert_eq!(IdNumber::parse(id.as_str()), Ok(id.clone()));
            prop_assert_eq!(IdNumber::parse(&id.as_str().to_lowercase()), Ok(id.clone()));
            prop_assert_eq!(id.region(), region.as_str());
            prop_assert_eq!(id.birth_date(), birth);
            prop_assert_eq!(id.sex(), if seq % 2 == 1 { Sex::Male } else { Sex::Female });
            prop_assert_eq!(id.age_on(birth), 0);
            prop_assert!(id.is_born_by(birth));
        }

        #[test]
        fn every_birth_date_after_today_is_refused(days in 1i64..=3_000_000, region in 11u32..=82) {
            let today = date(2026, 12, 3);
            let birth = today + chrono::Duration::days(days);
            prop_assume!(birth.year() <= 9999);
            let body = format!(
                "{region:02}0304{:04}{:02}{:02}013",
                birth.year(),
                birth.month(),
                birth.day()
            );
            let number = format!("{body}{}", check_char(&body));
            prop_assert_eq!(IdNumber::parse_on(&number, today), Err(IdNumberError::BirthInFuture));
        }

        #[test]
        fn every_single_character_substitution_is_caught(
            id in valid_id(),
            pos in 0usize..18,
            replacement in prop::sample::select(b"0123456789X".to_vec()),
        ) {
            let original = id.as_str().as_bytes()[pos];
            let allowed = pos == 17 || replacement != b'X';
            prop_assume!(allowed && replacement != original);
            let mut mutated = id.as_str().as_bytes().to_vec();
            mutated[pos] = replacement;
            let mutated = String::from_utf8(mutated).expect("ascii");
            // The check character alone catches it, whatever the other rules say.
            prop_assert_ne!(check_char(&mutated[..17]), char::from(mutated.as_bytes()[17]));
            prop_assert!(IdNumber::parse(&mutated).is_err());
        }

        #[test]
        fn serde_round_trips(id in valid_id()) {
            let json = serde_json::to_string(&id).expect("serialise");
            prop_assert_eq!(&json, &format!("\"{}\"", id.as_str()));
            let back: IdNumber = serde_json::from_str(&json).expect("deserialise");
            prop_assert_eq!(back, id);
        }

        #[test]
        fn debug_never_shows_the_birth_date(id in valid_id()) {
            let middle = &id.as_str()[6..14];
            let debug = format!("{id:?} {:?}", vec![id.clone()]);
            prop_assert!(!debug.contains(middle), "{}", debug);
            // The only characters Debug shows are the region and the last four, each time.
            let shown: String = debug.chars().filter(|c| c.is_ascii_digit() || *c == 'X').collect();
            prop_assert_eq!(shown, format!("{0}{1}{0}{1}", id.region(), &id.as_str()[14..]));
            prop_assert_eq!(id.masked().len(), 18);
            prop_assert!(id.masked().starts_with(id.region()));
            prop_assert!(id.masked().ends_with(&id.as_str()[14..]));
        }
    }
}
