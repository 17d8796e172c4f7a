//! Photos and scans, stored by content hash (SHA-256) with size and type limits.
//!
//! A mobile client uploads each photo once (`POST /api/v1/grid/media`, the raw bytes with their
//! `Content-Type`) and refers to it by hash in the records it collects. The same bytes uploaded
//! twice are stored once. Only JPEG, PNG, WebP and PDF are taken, and the bytes must be what the
//! content type says (checked by their signature), so a renamed file is refused.
//! The bytes live in the grid's database, which keeps them in its backups and transactions; a
//! district that outgrows that moves them to an object store behind the same routes.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use zw_auth::{Principal, Role};
use zw_platform::Problem;

use crate::declarations::{Grid, STAFF};
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(paths(upload, download), components(schemas(StoredMedia, Problem)))]
pub struct Api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/grid/media")
            // Larger than any accepted photo, so the handler answers with the real limit.
            .app_data(zw_platform::problem::extractors::payload_config(64 << 20))
            .route(web::post().to(upload)),
    )
    .service(web::resource("/api/v1/grid/media/{sha256}").route(web::get().to(download)));
}

/// The content types taken, with the signature their bytes start with.
const ACCEPTED: [(&str, &[u8]); 4] = [
    ("image/jpeg", &[0xFF, 0xD8, 0xFF]),
    (
        "image/png",
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
    ),
    ("image/webp", b"RIFF"),
    ("application/pdf", b"%PDF-"),
];

/// A stored photo or scan.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredMedia {
    /// Lower-case hex SHA-256 of the bytes: the name records use.
    pub sha256: String,
    pub content_type: String,
    pub size: i64,
    /// Where to fetch it.
    pub url: String,
}

/// Check `bytes` against the limits and the declared type; the hash they are stored under.
pub fn check(content_type: &str, bytes: &[u8], max: usize) -> Result<String, ApiError> {
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((_, signature)) = ACCEPTED.iter().find(|(t, _)| *t == content_type) else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "photos and scans must be one of {}; got {content_type:?}",
            ACCEPTED.map(|(t, _)| t).join(", ")
        )));
    };
    if bytes.is_empty() {
        return Err(ApiError::InvalidInput("the body is empty".into()));
    }
    if bytes.len() > max {
        return Err(ApiError::PayloadTooLarge { limit: max });
    }
    let webp_ok = content_type != "image/webp" || bytes.get(8..12) == Some(b"WEBP".as_slice());
    if !bytes.starts_with(signature) || !webp_ok {
        return Err(ApiError::unprocessable(
            "media-type-mismatch",
            format!("the bytes are not {content_type}"),
        ));
    }
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Whether every hash in `hashes` names stored media; the first that does not, if any.
pub async fn first_missing(
    conn: &impl ConnectionTrait,
    hashes: &[String],
) -> Result<Option<String>, ApiError> {
    for h in hashes {
        let found = model::Entity::find_by_id(h.clone())
            .select_only()
            .column(model::Column::Sha256)
            .into_tuple::<String>()
            .one(conn)
            .await?;
        if found.is_none() {
            return Ok(Some(h.clone()));
        }
    }
    Ok(None)
}

/// Upload a photo or scan (the raw bytes, with their `Content-Type`). 201 when stored, 200 when
/// the same bytes were already there.
#[utoipa::path(
    post,
    path = "/api/v1/grid/media",
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "JPEG, PNG, WebP or PDF bytes"),
    responses(
        (status = 201, description = "Stored", body = StoredMedia),
        (status = 200, description = "Already stored", body = StoredMedia),
        (status = 400, description = "Empty body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than `grid.media_max_bytes`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JPEG, PNG, WebP or PDF", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The bytes are not of the declared type", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn upload(
    grid: web::Data<Grid>,
    principal: Principal,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    principal.require_role(&[
        Role::GridWorker,
        Role::CommunityOfficer,
        Role::StreetOfficer,
        Role::DistrictOfficer,
        Role::Department,
        Role::Citizen,
    ])?;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let sha256 = check(content_type, &body, grid.settings.media_max_bytes)?;
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let stored = StoredMedia {
        url: format!("/api/v1/grid/media/{sha256}"),
        sha256: sha256.clone(),
        content_type: content_type.clone(),
        size: i64::try_from(body.len()).unwrap_or(i64::MAX),
    };
    if model::Entity::find_by_id(sha256.clone())
        .select_only()
        .column(model::Column::Sha256)
        .into_tuple::<String>()
        .one(&grid.db)
        .await?
        .is_some()
    {
        return Ok(HttpResponse::Ok().json(stored));
    }
    let inserted = model::ActiveModel {
        sha256: Set(sha256.clone()),
        content_type: Set(content_type),
        size: Set(stored.size),
        bytes: Set(body.to_vec()),
        uploaded_by: Set(principal.subject.clone()),
        grid_code: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(&grid.db)
    .await;
    match inserted {
        Ok(_) => Ok(HttpResponse::Created().json(stored)),
        // The same bytes uploaded at the same moment by someone else: stored once, all is well.
        Err(e) if zw_platform::db::is_unique_violation(&e, "") => {
            Ok(HttpResponse::Ok().json(stored))
        }
        Err(e) => Err(e.into()),
    }
}

/// A stored photo or scan (staff, and whoever uploaded it). Immutable: its name is its hash.
#[utoipa::path(
    get,
    path = "/api/v1/grid/media/{sha256}",
    params(("sha256" = String, Path, description = "Lower-case hex SHA-256")),
    responses(
        (status = 200, description = "The bytes, with their content type"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
async fn download(
    grid: web::Data<Grid>,
    principal: Principal,
    sha256: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sha256 = sha256.into_inner();
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::InvalidInput(
            "a media name is 64 lower-case hex characters (its SHA-256)".into(),
        ));
    }
    let row = model::Entity::find_by_id(sha256.clone())
        .one(&grid.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no media {sha256}")))?;
    // Photos show people and homes: staff, or the one who uploaded them.
    if row.uploaded_by != principal.subject {
        principal.require_role(&STAFF)?;
    }
    Ok(HttpResponse::Ok()
        .content_type(row.content_type)
        .insert_header(("ETag", format!("\"{sha256}\"")))
        .insert_header(("Cache-Control", "private, max-age=31536000, immutable"))
        .body(row.bytes))
}

pub mod model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "media")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub content_type: String,
        pub size: i64,
        pub bytes: Vec<u8>,
        pub uploaded_by: String,
        pub grid_code: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];

    #[test]
    fn accepts_what_the_signature_confirms() {
        let h = check("image/png", PNG, 100).expect("png");
        assert_eq!(h, hex::encode(Sha256::digest(PNG)));
        assert!(check("Image/PNG; charset=binary", PNG, 100).is_ok());
        assert!(check("application/pdf", b"%PDF-1.7 ...", 100).is_ok());
        assert!(check("image/webp", b"RIFF\0\0\0\0WEBPVP8 ", 100).is_ok());
    }

    #[test]
    fn refuses_wrong_types_sizes_and_disguises() {
        assert!(matches!(
            check("text/plain", b"hello", 100),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            check("image/png", PNG, 5),
            Err(ApiError::PayloadTooLarge { limit: 5 })
        ));
        assert!(matches!(
            check("image/jpeg", PNG, 100),
            Err(ApiError::Unprocessable {
                code: "media-type-mismatch",
                ..
            })
        ));
        assert!(matches!(
            check("image/webp", b"RIFF\0\0\0\0AVI LIST", 100),
            Err(ApiError::Unprocessable { .. })
        ));
        assert!(matches!(
            check("image/png", b"", 100),
            Err(ApiError::InvalidInput(_))
        ));
    }
}
