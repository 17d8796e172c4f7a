//! The one JSON body parser. [`JsonBody`] takes the body of a JSON route as it was sent and
//! refuses any other content type (415 `unsupported-media-type`): `application/json` or an
//! `application/…+json` type, or no content type with an empty body (a route whose body is
//! optional). [`parse`] reads the bytes into the route's request type (400 saying what the body
//! must hold). A record collected in the field is parsed by [`parse`] too, its `data` being the
//! body of the REST route it stands for. [`clean_text`] and [`clean_phone`] check the free-text
//! and phone fields several bodies share.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, web};

use crate::error::ApiError;

/// A JSON request body, its content type checked; the bytes as sent (an `Idempotency-Key`
/// hashes them).
pub struct JsonBody(pub web::Bytes);

impl std::ops::Deref for JsonBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// What the `Content-Type` header says of a body.
enum Declared {
    Json,
    Nothing,
    Other(String),
}

fn declared(req: &HttpRequest) -> Declared {
    let Some(value) = req.headers().get(CONTENT_TYPE) else {
        return Declared::Nothing;
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Declared::Json
    } else {
        Declared::Other(essence)
    }
}

impl FromRequest for JsonBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<JsonBody, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = declared(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            match declared {
                Declared::Json => Ok(JsonBody(bytes)),
                Declared::Nothing if bytes.is_empty() => Ok(JsonBody(bytes)),
                Declared::Nothing => Err(unsupported("no Content-Type").into()),
                Declared::Other(t) => Err(unsupported(&format!("Content-Type {t:?}")).into()),
            }
        })
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::UnsupportedMediaType(format!(
        "this route takes a JSON body: send it with Content-Type: application/json, not {what}"
    ))
}

/// `body` as `T`; 400 naming `what` the body must hold when it does not parse.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidInput(format!("the body must be JSON with {what}: {e}")))
}

/// [`parse`] for a route whose body may be left out (nothing but white space): `T::default()`.
pub fn parse_or_default<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    Ok(parse::<Option<T>>(body, what)?.unwrap_or_default())
}

/// A free-text field, trimmed: `None` when absent, 400 when empty or longer than `max`
/// characters.
pub fn clean_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.chars().count() > max => Err(ApiError::InvalidInput(format!(
            "{field} must be 1 to {max} characters"
        ))),
        Some(v) => Ok(Some(v)),
    }
}

/// A phone number field, parsed (400 when it is not one).
pub fn clean_phone(value: Option<String>) -> Result<Option<String>, ApiError> {
    value
        .map(|p| {
            zw_domain::Phone::parse(&p)
                .map(|p| p.as_str().to_owned())
                .map_err(|e| ApiError::invalid("phone", e))
        })
        .transpose()
}

/// Fuzz tests of the body readers and the field checks bodies share: arbitrary bytes give the
/// value or a 400, never a panic; what a check lets through keeps its promise.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        name: String,
        #[serde(default)]
        size: Option<u16>,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn is_400<T>(r: &Result<T, ApiError>) -> bool {
        match r {
            Ok(_) => true,
            Err(e) => matches!(e, ApiError::InvalidInput(_)) && e.problem().status_code() == 400,
        }
    }

    proptest! {
        #![proptest_config(zw_testkit::fuzz::config(256))]

        #[test]
        fn fuzz_arbitrary_bytes_are_the_body_or_a_400(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                "[ \\n{}\\[\\]\":,0-9a-z]{0,40}".prop_map(String::into_bytes),
                ("[a-z]{0,6}", prop::option::of(any::<u16>()), prop::collection::vec("\\PC{0,4}", 0..3))
                    .prop_map(|(name, size, tags)| serde_json::json!({"name": name, "size": size, "tags": tags}).to_string().into_bytes()),
            ],
        ) {
            prop_assert!(is_400(&parse::<Shape>(&bytes, "a shape")));
            prop_assert!(is_400(&parse::<serde_json::Value>(&bytes, "anything")));
            prop_assert!(is_400(&parse_or_default::<Shape>(&bytes, "a shape")));
            if bytes.iter().all(u8::is_ascii_whitespace) {
                prop_assert!(parse_or_default::<Shape>(&bytes, "a shape").is_ok());
            }
        }

        #[test]
        fn fuzz_clean_text_keeps_its_promise(value in prop::option::of("\\PC{0,40}|[ \\t\\n\u{3000}]{0,3}"), max in 1usize..30) {
            match clean_text("field", value.clone(), max) {
                Ok(None) => prop_assert!(value.is_none()),
                Ok(Some(v)) => {
                    prop_assert_eq!(v.trim(), v.as_str());
                    prop_assert!(!v.is_empty() && v.chars().count() <= max);
                    prop_assert_eq!(Some(v.as_str()), value.as_deref().map(str::trim));
                }
                Err(e) => prop_assert_eq!(e.problem().status_code(), 400),
            }
        }

        #[test]
        fn fuzz_clean_phone_gives_the_normal_form(value in prop::option::of("[0-9 +\\-]{0,16}|\\PC{0,16}")) {
            match clean_phone(value.clone()) {
                Ok(None) => prop_assert!(value.is_none()),
                Ok(Some(p)) => {
                    let parsed = zw_domain::Phone::parse(&p).expect("the normal form parses");
                    prop_assert_eq!(parsed.as_str(), p.as_str());
                }
                Err(e) => prop_assert_eq!(e.problem().status_code(), 400),
            }
        }
    }
}
