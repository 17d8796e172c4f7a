//! The string plumbing every code type shares, written once.
//!
//! A code type is a newtype over its canonical string with `parse(&str) -> Result<Self, E>` and
//! `as_str(&self) -> &str`. [`string_type!`] gives it `Display` (the full value), `FromStr`,
//! `TryFrom<String>`, `AsRef<str>`, serde as a plain string (deserialising calls `parse`, so a bad
//! value fails with the parse error's sentence) and an OpenAPI string schema. `Debug` is left to
//! each type, because personal data must print masked.

/// Implement the string conversions, serde and the OpenAPI schema for a code type.
macro_rules! string_type {
    (
        $ty:ident, $err:ty,
        pattern: $pattern:expr,
        description: $description:expr,
        example: $example:expr $(,)?
    ) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $err;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // `String`, not `&str`: JSON with escapes and most other formats cannot borrow.
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }

        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .description(Some($description))
                    .examples([$example])
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $ty {}
    };
}
