//! Mainland China mobile numbers.
//!
//! Input is forgiving (spaces, dashes, a `+86` or `86` country prefix), storage is not: a
//! `Phone` holds exactly 11 digits starting `13`-`19`. The number is personal data: `Debug`
//! prints it masked so it never reaches a log.

use std::fmt;

/// Why a string is not a mainland China mobile number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("a mobile number may contain only digits, spaces, dashes and an optional +86 prefix")]
    NotDigits,
    #[error("a mainland China mobile number has 11 digits, this one has {0}")]
    Length(usize),
    #[error("a mainland China mobile number starts with 13 to 19")]
    Prefix,
}

/// A validated mainland China mobile number, stored as 11 digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phone(String);

impl Phone {
    /// Parse a mobile number, dropping spaces, dashes and a `+86`/`86` prefix.
    pub fn parse(s: &str) -> Result<Self, PhoneError> {
        let compact: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let digits = match compact.strip_prefix("+86") {
            Some(rest) => rest,
            // An 11-digit mobile number starts with 1, so a leading 86 is always the country code.
            None if compact.len() == 13 => compact.strip_prefix("86").unwrap_or(&compact),
            None => &compact,
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotDigits);
        }
        if digits.len() != 11 {
            return Err(PhoneError::Length(digits.len()));
        }
        if !matches!(digits.as_bytes(), [b'1', b'3'..=b'9', ..]) {
            return Err(PhoneError::Prefix);
        }
        Ok(Self(digits.to_owned()))
    }

    /// The 11 digits. Personal data: prefer [`Phone::masked`] unless the full value is needed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with the middle four digits hidden: `138****5678`. Safe for logs and for
    /// responses to roles that do not need the full number.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// Masked: a phone number must never appear in a log.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

string_type!(
    Phone,
    PhoneError,
    pattern: r"^1[3-9]\d{9}$",
    description: "Mainland China mobile number, 11 digits. Input may contain spaces, dashes and \
                  a +86 prefix; it is stored and returned as 11 digits. Personal data: responses \
                  may carry it masked as 138****5678.",
    example: "13800138000",
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn separators_and_country_prefix_are_dropped() {
        for input in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "8613812345678",
            "86-138-1234-5678",
            " 13812345678 ",
        ] {
            let phone = Phone::parse(input).expect(input);
            assert_eq!(phone.as_str(), "13812345678", "{input}");
        }
    }

    #[test]
    fn masked_hides_the_middle_four_digits() {
        let phone = Phone::parse("13812345678").expect("valid");
        assert_eq!(phone.masked(), "138****5678");
        assert_eq!(format!("{phone:?}"), "Phone(138****5678)");
        assert_eq!(phone.to_string(), "13812345678");
    }

    #[test]
    fn malformed_numbers_are_rejected_with_the_reason() {
        use PhoneError::*;
        assert_eq!(Phone::parse(""), Err(Length(0)));
        assert_eq!(Phone::parse("1381234567"), Err(Length(10)));
        assert_eq!(Phone::parse("138123456789"), Err(Length(12)));
        assert_eq!(Phone::parse("+85213812345678"), Err(NotDigits));
        assert_eq!(Phone::parse("+86 138 1234 567"), Err(Length(10)));
        assert_eq!(Phone::parse("+1 415 555 0100"), Err(NotDigits));
        assert_eq!(Phone::parse("(138)12345678"), Err(NotDigits));
        assert_eq!(Phone::parse("1381234567a"), Err(NotDigits));
        assert_eq!(Phone::parse("12812345678"), Err(Prefix));
        assert_eq!(Phone::parse("02812345678"), Err(Prefix));
        assert_eq!(Phone::parse("+8602812345678"), Err(Prefix));
    }

    #[test]
    fn serde_uses_the_normalised_string_and_reports_the_parse_error() {
        let phone: Phone = serde_json::from_str(r#""+86 138-1234-5678""#).expect("valid");
        assert_eq!(
            serde_json::to_string(&phone).expect("serialise"),
            r#""13812345678""#
        );
        let err = serde_json::from_str::<Phone>(r#""12812345678""#).expect_err("bad");
        assert!(err.to_string().contains("13 to 19"), "{err}");
    }

    fn phone_digits() -> impl Strategy<Value = String> {
        (3u8..=9, 0u64..=999_999_999).prop_map(|(second, rest)| format!("1{second}{rest:09}"))
    }

    proptest! {
        #[test]
        fn any_formatting_parses_to_the_same_number(
            digits in phone_digits(),
            prefix in prop::sample::select(vec!["", "+86", "86", "+86 ", "86-"]),
            sep in prop::sample::select(vec!["", " ", "-"]),
        ) {
            let formatted = format!("{prefix}{}{sep}{}{sep}{}", &digits[..3], &digits[3..7], &digits[7..]);
            let phone = Phone::parse(&formatted).expect("valid");
            prop_assert_eq!(phone.as_str(), digits.as_str());
            prop_assert_eq!(Phone::parse(phone.as_str()), Ok(phone.clone()));
        }

        #[test]
        fn serde_round_trips(digits in phone_digits()) {
            let phone = Phone::parse(&digits).expect("valid");
            let json = serde_json::to_string(&phone).expect("serialise");
            let back: Phone = serde_json::from_str(&json).expect("deserialise");
            prop_assert_eq!(back, phone);
        }

        #[test]
        fn debug_never_shows_the_middle_digits(digits in phone_digits()) {
            let phone = Phone::parse(&digits).expect("valid");
            let debug = format!("{phone:?} {:?}", Some(vec![phone.clone()]));
            // The only digits Debug shows are the first three and the last four, each time.
            let shown: String = debug.chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(shown, format!("{0}{1}{0}{1}", &digits[..3], &digits[7..]));
            prop_assert_eq!(phone.masked(), format!("{}****{}", &digits[..3], &digits[7..]));
        }
    }
}
