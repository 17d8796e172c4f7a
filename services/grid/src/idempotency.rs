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
