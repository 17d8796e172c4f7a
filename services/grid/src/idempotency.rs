//! `Idempotency-Key` on creating POSTs: the first response is stored with the key in the same
//! transaction as the change, and a retry with the same key and body gets that response again.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::idempotency;

/// A validated key plus the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

impl IdempotencyKey {
    /// The key `req` carries in its `Idempotency-Key` header, with the hash of `body`; `None`
    /// without the header.
    pub fn from_request(req: &HttpRequest, body: &[u8]) -> Result<Option<Self>, ApiError> {
        req.headers()
            .get("idempotency-key")
            .map(|v| Self::parse(v.to_str().unwrap_or(""), body))
            .transpose()
    }

    /// Parse the header value (1–255 visible ASCII characters) and hash the request body.
    pub fn parse(header: &str, body: &[u8]) -> Result<Self, ApiError> {
        if header.is_empty() || header.len() > 255 || !header.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::InvalidInput(
                "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            ));
        }
        Ok(Self {
            key: header.to_owned(),
            request_hash: hex::encode(Sha256::digest(body)),
        })
    }
}

/// The stored response for this key, if the same request was already processed.
pub async fn replay(
    conn: &impl ConnectionTrait,
    principal: &str,
    key: &IdempotencyKey,
) -> Result<Option<(StatusCode, serde_json::Value)>, ApiError> {
    let Some(row) = idempotency::Entity::find_by_id((principal.to_owned(), key.key.clone()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if row.request_hash != key.request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let body = serde_json::from_str(&row.body).unwrap_or_default();
    let status = u16::try_from(row.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    Ok(Some((status, body)))
}

/// Store the response (in the caller's transaction).
pub async fn store(
    conn: &impl ConnectionTrait,
    principal: &str,
    key: &IdempotencyKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    idempotency::ActiveModel {
        principal: Set(principal.to_owned()),
        key: Set(key.key.clone()),
        request_hash: Set(key.request_hash.clone()),
        status: Set(i16::try_from(status).unwrap_or(200)),
        body: Set(body.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Fuzz tests of the `Idempotency-Key` header and the page cursor: any text is accepted as
/// promised or refused with a 400, never a panic.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(zw_testkit::fuzz::config(256))]

        #[test]
        fn fuzz_idempotency_keys_are_visible_ascii_or_a_400(
            header in prop_oneof!["\\PC{0,300}", "[!-~]{0,300}", "[ -~]{0,10}"],
            body in prop::collection::vec(any::<u8>(), 0..50),
        ) {
            match IdempotencyKey::parse(&header, &body) {
                Ok(key) => {
                    prop_assert_eq!(&key.key, &header);
                    prop_assert!((1..=255).contains(&header.len()));
                    prop_assert!(header.bytes().all(|b| b.is_ascii_graphic()));
                    prop_assert_eq!(key.request_hash.len(), 64);
                    // The same request hashes the same; another body does not.
                    let again = IdempotencyKey::parse(&header, &body).expect("accepted once");
                    prop_assert_eq!(&again.request_hash, &key.request_hash);
                    let mut other = body.clone();
                    other.push(0);
                    let other = IdempotencyKey::parse(&header, &other).expect("accepted once");
                    prop_assert_ne!(&other.request_hash, &key.request_hash);
                }
                Err(e) => prop_assert_eq!(e.problem().status_code(), 400),
            }
        }

        #[test]
        fn fuzz_cursors_are_ids_or_a_400(
            cursor in prop_oneof![
                "\\PC{0,50}",
                any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
                any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).simple().to_string()),
            ],
        ) {
            match crate::error::parse_cursor(Some(&cursor)) {
                Ok(Some(id)) => prop_assert_eq!(uuid::Uuid::parse_str(&cursor).ok(), Some(id)),
                Ok(None) => prop_assert!(false, "a cursor given is never no cursor"),
                Err(e) => prop_assert_eq!(e.problem().status_code(), 400),
            }
            prop_assert!(matches!(crate::error::parse_cursor(None), Ok(None)));
            match crate::paging::open_or_closed(Some(&cursor)) {
                Ok(_) => prop_assert!(["open", "closed", "all"].contains(&cursor.as_str())),
                Err(e) => prop_assert_eq!(e.problem().status_code(), 400),
            }
        }
    }
}
