//! Domain types parsed once at the edge, then trusted everywhere.
//!
//! Every type here has private fields and is built only by `parse` (and `FromStr`,
//! `TryFrom<String>`, serde's `Deserialize`, which all call `parse`) or by a constructor that is
//! valid by construction. A value of one of these types is therefore always valid. Each type
//! serialises as a plain string, documents itself in OpenAPI as a string with a pattern, and has
//! its own `thiserror` enum whose messages are fit for a 4xx response.
//!
//! - [`jurisdiction`]: the four-level jurisdiction code (district, street, community, grid).
//! - [`id_number`]: resident identity number (GB 11643), with its check character, birth date,
//!   sex and masking; `Debug` is masked.
//! - [`credit_code`]: unified social credit code of an organisation (GB 32100).
//! - [`house_code`]: one code per house: origin grid, serial, Luhn check digit.
//! - [`phone`]: mainland China mobile number, normalised to 11 digits; `Debug` is masked.
//! - [`redact`]: client-chosen text (paths, queries, user names) with ID and mobile numbers
//!   masked, for logs.
//! - `db` (feature `db`): every type above as a sea-orm string column, implemented once.
//! - `macros` (private): the string, serde and OpenAPI plumbing the code types share.
//! - `fuzz` (tests): every parser over arbitrary and mutated input.

#[macro_use]
mod macros;

pub mod credit_code;
#[cfg(feature = "db")]
pub mod db;
#[cfg(test)]
mod fuzz;
pub mod house_code;
pub mod id_number;
pub mod jurisdiction;
pub mod phone;
pub mod redact;

pub use credit_code::{CreditCode, CreditCodeError};
pub use house_code::{HouseCode, HouseCodeError};
pub use id_number::{IdNumber, IdNumberError, Sex};
pub use jurisdiction::{JurisdictionCode, JurisdictionError, Level};
pub use phone::{Phone, PhoneError};
pub use redact::redact;

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    /// The OpenAPI schema of `T` as JSON.
    fn schema<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).expect("schema serialises")
    }

    fn check_schema<T, E>(parse: fn(&str) -> Result<T, E>)
    where
        T: PartialSchema,
        E: std::fmt::Debug,
    {
        let s = schema::<T>();
        assert_eq!(s["type"], "string", "{s}");
        assert!(
            s["pattern"].as_str().is_some_and(|p| p.starts_with('^')),
            "{s}"
        );
        assert!(
            s["description"].as_str().is_some_and(|d| d.len() > 20),
            "{s}"
        );
        let example = s["examples"][0].as_str().expect("an example");
        parse(example).expect("the documented example is valid");
    }

    #[test]
    fn every_type_documents_itself_as_a_string_with_a_valid_example() {
        check_schema(JurisdictionCode::parse);
        check_schema(IdNumber::parse);
        check_schema(CreditCode::parse);
        check_schema(HouseCode::parse);
        check_schema(Phone::parse);
    }
}
