//! Fuzz tests of every parser of this crate: arbitrary text and bytes never panic, whatever is
//! accepted is canonical (it displays, serialises and re-parses to itself), and a single-character
//! mutation of a valid code with a check character is refused unless it spells the same code
//! (a lower-case letter). The number of cases is bounded; `ZW_FUZZ_CASES` runs more.

use std::fmt::{Debug, Display};

use chrono::NaiveDate;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CreditCode, HouseCode, IdNumber, JurisdictionCode, Phone};

/// What every code type offers, so that one set of properties covers them all.
trait Code: Sized + Clone + PartialEq + Debug + Display + Serialize + DeserializeOwned {
    fn parse_str(s: &str) -> Result<Self, String>;
    fn text(&self) -> &str;
    /// Whether the canonical spelling is well formed (what the OpenAPI pattern says).
    fn canonical(s: &str) -> bool;
}

fn digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

impl Code for JurisdictionCode {
    fn parse_str(s: &str) -> Result<Self, String> {
        JurisdictionCode::parse(s).map_err(|e| e.to_string())
    }
    fn text(&self) -> &str {
        self.as_str()
    }
    fn canonical(s: &str) -> bool {
        matches!(s.len(), 6 | 9 | 12 | 15) && digits(s)
    }
}

impl Code for IdNumber {
    fn parse_str(s: &str) -> Result<Self, String> {
        IdNumber::parse(s).map_err(|e| e.to_string())
    }
    fn text(&self) -> &str {
        self.as_str()
    }
    fn canonical(s: &str) -> bool {
        s.len() == 18
            && matches!(s.as_bytes()[0], b'1'..=b'8')
            && digits(&s[..17])
            && matches!(s.as_bytes()[17], b'0'..=b'9' | b'X')
    }
}

impl Code for CreditCode {
    fn parse_str(s: &str) -> Result<Self, String> {
        CreditCode::parse(s).map_err(|e| e.to_string())
    }
    fn text(&self) -> &str {
        self.as_str()
    }
    fn canonical(s: &str) -> bool {
        s.len() == 18 && digits(&s[2..8]) && s.bytes().all(|b| CREDIT_CHARSET.contains(&b))
    }
}

impl Code for HouseCode {
    fn parse_str(s: &str) -> Result<Self, String> {
        HouseCode::parse(s).map_err(|e| e.to_string())
    }
    fn text(&self) -> &str {
        self.as_str()
    }
    fn canonical(s: &str) -> bool {
        s.len() == 20 && digits(s)
    }
}

impl Code for Phone {
    fn parse_str(s: &str) -> Result<Self, String> {
        Phone::parse(s).map_err(|e| e.to_string())
    }
    fn text(&self) -> &str {
        self.as_str()
    }
    fn canonical(s: &str) -> bool {
        s.len() == 11 && digits(s) && matches!(s.as_bytes(), [b'1', b'3'..=b'9', ..])
    }
}

const CREDIT_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Whatever `T` accepts is canonical and stable: `Display` is the canonical text, which parses
/// (directly, through `FromStr`-like conversions and through serde) back to the same value.
fn accepted_is_canonical<T: Code>(input: &str) -> Result<(), TestCaseError> {
    let Ok(value) = T::parse_str(input) else {
        return Ok(());
    };
    let text = value.text().to_owned();
    prop_assert!(T::canonical(&text), "{input:?} accepted as {text:?}");
    prop_assert_eq!(value.to_string(), text.clone());
    prop_assert_eq!(T::parse_str(&text), Ok(value.clone()));
    let json = serde_json::to_string(&value).expect("a code serialises");
    prop_assert_eq!(&json, &format!("\"{text}\""));
    prop_assert_eq!(serde_json::from_str::<T>(&json).ok(), Some(value));
    Ok(())
}

/// Every parse path of `T` on `input`: none may panic, and whatever is accepted is canonical.
fn never_panics<T: Code>(input: &str) -> Result<(), TestCaseError> {
    accepted_is_canonical::<T>(input)?;
    let _ = serde_json::from_str::<T>(input);
    let _ = serde_json::from_value::<T>(serde_json::Value::String(input.to_owned()));
    Ok(())
}

fn all_types(input: &str) -> Result<(), TestCaseError> {
    never_panics::<JurisdictionCode>(input)?;
    never_panics::<IdNumber>(input)?;
    never_panics::<CreditCode>(input)?;
    never_panics::<HouseCode>(input)?;
    never_panics::<Phone>(input)?;
    Ok(())
}

/// Characters a parser has to think about: every alphabet, separators, the `+` of a country
/// prefix, look-alike digits (full-width, Arabic-Indic), letters of more than one byte.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range('0', '9'),
        2 => prop::sample::select(CREDIT_CHARSET.iter().map(|&b| char::from(b)).collect::<Vec<_>>()),
        1 => prop::sample::select(vec![
            'x', 'X', 'i', 'o', 'z', 's', 'v', 'I', 'O', 'Z', 'S', 'V', ' ', '-', '+', '\t', '\n',
            '\u{3000}', '\u{a0}', '０', '９', '١', 'é', '中', '\u{0}', '\u{ff10}', '🏠',
        ]),
        1 => any::<char>(),
    ]
}

/// Strings of tricky characters with lengths near every valid length.
fn tricky_text() -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..24).prop_map(|cs| cs.into_iter().collect())
}

/// Valid codes of every type, as their canonical text.
fn valid_id() -> impl Strategy<Value = IdNumber> {
    let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date");
    // Up to the start of 2024: born, whatever today is.
    (11u32..=82, 0u32..=9999, 0i64..45_000, 0u16..=999).prop_map(move |(p, rest, days, seq)| {
        let birth = first + chrono::Duration::days(days);
        IdNumber::from_parts(&format!("{p:02}{rest:04}"), birth, seq).expect("valid parts")
    })
}

fn valid_credit() -> impl Strategy<Value = CreditCode> {
    let any = || prop::sample::select(CREDIT_CHARSET.to_vec());
    (
        prop::collection::vec(any(), 2),
        0u32..=999_999,
        prop::collection::vec(any(), 9),
    )
        .prop_map(|(head, region, org)| {
            let first = format!(
                "{}{region:06}{}",
                String::from_utf8(head).expect("ascii"),
                String::from_utf8(org).expect("ascii")
            );
            CreditCode::from_parts(&first).expect("valid parts")
        })
}

fn valid_jurisdiction() -> impl Strategy<Value = JurisdictionCode> {
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

fn valid_house() -> impl Strategy<Value = HouseCode> {
    (valid_jurisdiction(), 1u16..=9999).prop_filter_map("a grid", |(code, serial)| {
        let mut s = code.as_str().to_owned();
        while s.len() < 15 {
            s.push_str("001");
        }
        let grid = JurisdictionCode::parse(&s).ok()?;
        HouseCode::new(&grid, serial).ok()
    })
}

fn valid_phone() -> impl Strategy<Value = Phone> {
    (3u8..=9, 0u64..=999_999_999)
        .prop_map(|(second, rest)| Phone::parse(&format!("1{second}{rest:09}")).expect("valid"))
}

/// One character of `s` changed: replaced, deleted, or one inserted (positions and characters
/// chosen by `pos` and `c`).
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, char),
    Delete(usize),
    Insert(usize, char),
    /// Two neighbours swapped.
    Swap(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), tricky_char()).prop_map(|(p, c)| Mutation::Replace(p, c)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => (any::<usize>(), tricky_char()).prop_map(|(p, c)| Mutation::Insert(p, c)),
        1 => any::<usize>().prop_map(Mutation::Swap),
    ]
}

impl Mutation {
    fn apply(&self, s: &str) -> String {
        let mut cs: Vec<char> = s.chars().collect();
        let n = cs.len();
        match *self {
            Mutation::Replace(p, c) => cs[p % n] = c,
            Mutation::Delete(p) => {
                cs.remove(p % n);
            }
            Mutation::Insert(p, c) => cs.insert(p % (n + 1), c),
            Mutation::Swap(p) => cs.swap(p % (n - 1), p % (n - 1) + 1),
        }
        cs.into_iter().collect()
    }
}

/// A code with a check character: a mutation is refused, or it is the same code (a letter in
/// lower case); a transposition is caught by the checks that catch every one (`transpositions`).
fn mutation_is_caught<T: Code>(
    value: &T,
    m: &Mutation,
    transpositions: bool,
) -> Result<(), TestCaseError> {
    let mutated = m.apply(value.text());
    if mutated == value.text() {
        return Ok(());
    }
    accepted_is_canonical::<T>(&mutated)?;
    match (T::parse_str(&mutated), m) {
        (Err(_), _) => {}
        (Ok(_), Mutation::Swap(_)) if !transpositions => {}
        (Ok(other), _) => prop_assert_eq!(
            &other,
            value,
            "{:?} of {} gives another valid code {}",
            m,
            value,
            other
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(zw_testkit::fuzz::config(256))]

    #[test]
    fn fuzz_arbitrary_text_never_panics_and_accepted_text_is_canonical(s in any::<String>()) {
        all_types(&s)?;
    }

    #[test]
    fn fuzz_text_near_every_format_never_panics_and_accepted_text_is_canonical(s in tricky_text()) {
        all_types(&s)?;
    }

    #[test]
    fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        all_types(&String::from_utf8_lossy(&bytes))?;
        let _ = serde_json::from_slice::<IdNumber>(&bytes);
        let _ = serde_json::from_slice::<CreditCode>(&bytes);
        let _ = serde_json::from_slice::<HouseCode>(&bytes);
        let _ = serde_json::from_slice::<JurisdictionCode>(&bytes);
        let _ = serde_json::from_slice::<Phone>(&bytes);
    }

    #[test]
    fn fuzz_a_mutated_id_number_is_refused(id in valid_id(), m in mutation()) {
        // MOD 11-2 catches every swap of neighbours among the first 17; a swap with the check
        // character itself is not always caught.
        let transposition_caught = !matches!(m, Mutation::Swap(p) if p % 17 == 16);
        mutation_is_caught(&id, &m, transposition_caught)?;
    }

    #[test]
    fn fuzz_a_mutated_credit_code_is_refused(code in valid_credit(), m in mutation()) {
        // Weights 3^i mod 31 catch every swap of neighbours among the first 17; a swap with the
        // check character itself is not always caught.
        let transposition_caught = !matches!(m, Mutation::Swap(p) if p % 17 == 16);
        mutation_is_caught(&code, &m, transposition_caught)?;
    }

    #[test]
    fn fuzz_a_mutated_house_code_is_refused(code in valid_house(), m in mutation()) {
        // Luhn does not catch every transposition (09 and 90).
        mutation_is_caught(&code, &m, false)?;
    }

    #[test]
    fn fuzz_a_mutated_jurisdiction_or_phone_is_canonical_when_accepted(
        code in valid_jurisdiction(),
        phone in valid_phone(),
        m in mutation(),
    ) {
        // No check character: a mutation may well be another code, but never a malformed one.
        accepted_is_canonical::<JurisdictionCode>(&m.apply(code.as_str()))?;
        accepted_is_canonical::<Phone>(&m.apply(phone.as_str()))?;
        let formatted = format!("+86 {}-{}-{}", &phone.as_str()[..3], &phone.as_str()[3..7], &phone.as_str()[7..]);
        accepted_is_canonical::<Phone>(&m.apply(&formatted))?;
    }

    #[test]
    fn fuzz_id_number_and_phone_errors_never_quote_the_input(
        id in valid_id(),
        phone in valid_phone(),
        m in mutation(),
        s in tricky_text(),
    ) {
        // Personal data must not reach a response or a log through an error message: no message
        // holds a run of more digits than a year.
        let quotes = |msg: &str| msg.split(|c: char| !c.is_ascii_digit()).any(|run| run.len() > 4);
        for input in [m.apply(id.as_str()), m.apply(phone.as_str()), s] {
            if let Err(e) = IdNumber::parse(&input) {
                prop_assert!(!quotes(&e.to_string()), "{}", e);
            }
            if let Err(e) = Phone::parse(&input) {
                prop_assert!(!quotes(&e.to_string()), "{}", e);
            }
        }
    }
}
