//! Photos and scans, stored by content hash (SHA-256) with size and type limits.
//!
//! A mobile client uploads each photo once (`POST /api/v1/grid/media`, the raw bytes with their
//! `Content-Type`) and refers to it by hash in the records it collects. The same bytes uploaded
//! twice are stored once. Only JPEG, PNG, WebP and PDF are taken, and the bytes must be what the
//! content type says (checked by their signature), so a renamed file is refused.
//! The bytes live in the grid's database, which keeps them in its backups and transactions; a
//! district that outgrows that moves them to an object store behind the same routes.
//!
//! A photo belongs to the jurisdiction of the records it is attached to (a collected record's
//! `photos`, an incident's `media_url`), wherever they live now: whoever may read one of those
//! records may fetch it, and so may whoever uploaded the same bytes. Anyone else is told there is
//! no such photo (404): knowing its hash does not make it his (see [`crate::access`]).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use zw_auth::{Principal, Role};
use zw_platform::Problem;

use crate::access;
use crate::error::ApiError;
use crate::model::{media, media_upload};
use crate::state::Grid;
use crate::write::Write;

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
async fn upload(w: Write, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    w.principal.require_role(&[
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
    let sha256 = check(content_type, &body, w.grid().settings.media_max_bytes)?;
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
    let size = stored.size;
    let created = w
        .run(async |tx| {
            let now = Utc::now();
            let inserted = media::Entity::insert(media::ActiveModel {
                sha256: Set(sha256.clone()),
                content_type: Set(content_type),
                size: Set(size),
                bytes: Set(body.to_vec()),
                uploaded_by: Set(tx.principal.subject.clone()),
                grid_code: Set(None),
                created_at: Set(now),
            })
            // The same bytes stored before, or at the same moment by someone else: stored once.
            .on_conflict(
                OnConflict::column(media::Column::Sha256)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(tx.txn)
            .await?;
            // Whoever uploads the bytes may fetch them back: he holds them anyway.
            media_upload::Entity::insert(media_upload::ActiveModel {
                sha256: Set(sha256.clone()),
                uploaded_by: Set(tx.principal.subject.clone()),
                uploaded_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    media_upload::Column::Sha256,
                    media_upload::Column::UploadedBy,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(tx.txn)
            .await?;
            Ok(inserted > 0)
        })
        .await?;
    if created {
        Ok(HttpResponse::Created().json(stored))
    } else {
        Ok(HttpResponse::Ok().json(stored))
    }
}

/// A stored photo or scan, for whoever may read a record it is attached to and whoever uploaded
/// it (404 for anyone else). Immutable: its name is its hash.
#[utoipa::path(
    get,
    path = "/api/v1/grid/media/{sha256}",
    params(("sha256" = String, Path, description = "Lower-case hex SHA-256")),
    responses(
        (status = 200, description = "The bytes, with their content type"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo that you may fetch", body = Problem, content_type = "application/problem+json"),
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
    let row = access::media(&grid.db, &principal, &sha256).await?;
    Ok(HttpResponse::Ok()
        .content_type(row.content_type)
        .insert_header(("ETag", format!("\"{sha256}\"")))
        .insert_header(("Cache-Control", "private, max-age=31536000, immutable"))
        .body(row.bytes))
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
