//! Printable QR codes (PNG and SVG) that open the declaration page with the house code filled in:
//! `{grid.public_url}/declare?house={code}`. Public, like the label on the door. The PNG is
//! written from the module matrix (greyscale, 4-module quiet zone) so no image library is needed.

use actix_web::{HttpResponse, web};
use qrcode::{EcLevel, QrCode};
use sea_orm::EntityTrait;
use serde::Deserialize;
use utoipa::OpenApi;
use zw_domain::HouseCode;
use zw_platform::Problem;

use crate::error::ApiError;
use crate::model::house;
use crate::state::Grid;

/// The OpenAPI paths of this module, merged into the service's document.
#[derive(OpenApi)]
#[openapi(paths(qr_svg, qr_png))]
pub struct Api;

/// Register this module's routes (full paths under `/api/v1/grid`, as resources).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/grid/houses/{code}/qr.svg").route(web::get().to(qr_svg)))
        .service(web::resource("/api/v1/grid/houses/{code}/qr.png").route(web::get().to(qr_png)));
}

/// The quiet zone around the code, in modules (ISO/IEC 18004 asks for 4).
const QUIET: usize = 4;
/// Bounds and default of `size` (pixels).
const MIN_SIZE: u32 = 64;
const MAX_SIZE: u32 = 2048;
const DEFAULT_SIZE: u32 = 400;

/// Size of the image.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrQuery {
    /// Approximate width and height in pixels (64–2048, default 400); each module is a whole
    /// number of pixels, so the image may be a little smaller.
    pub size: Option<u32>,
}

/// The URL printed in the code of `house`.
pub fn declaration_url(public_url: &str, house: &HouseCode) -> String {
    format!("{}/declare?house={house}", public_url.trim_end_matches('/'))
}

/// The code of a registered house and the pixels per module for `size`.
async fn prepare(grid: &Grid, code: &str, query: &QrQuery) -> Result<(QrCode, u32), ApiError> {
    let code = HouseCode::parse(code.trim()).map_err(|e| ApiError::invalid("house code", e))?;
    let size = query.size.unwrap_or(DEFAULT_SIZE);
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(ApiError::InvalidInput(format!(
            "size must be between {MIN_SIZE} and {MAX_SIZE} pixels, not {size}"
        )));
    }
    house::Entity::find_by_id(code.as_str())
        .one(&grid.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no house {code}")))?;
    let url = declaration_url(&grid.settings.public_url, &code);
    // Medium error correction: a label survives some dirt and scratches.
    let qr = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("QR encoding: {e}")))?;
    let modules = u32::try_from(qr.width() + 2 * QUIET).unwrap_or(u32::MAX);
    Ok((qr, (size / modules).max(1)))
}

/// The house's QR code as SVG.
#[utoipa::path(
    get,
    path = "/api/v1/grid/houses/{code}/qr.svg",
    params(("code" = String, Path, description = "House code (20 digits)"), QrQuery),
    responses(
        (status = 200, description = "SVG image", content_type = "image/svg+xml"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn qr_svg(
    grid: web::Data<Grid>,
    code: web::Path<String>,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, ApiError> {
    let (qr, scale) = prepare(&grid, &code, &query).await?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(scale, scale)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(svg))
}

/// The house's QR code as PNG.
#[utoipa::path(
    get,
    path = "/api/v1/grid/houses/{code}/qr.png",
    params(("code" = String, Path, description = "House code (20 digits)"), QrQuery),
    responses(
        (status = 200, description = "PNG image", content_type = "image/png"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn qr_png(
    grid: web::Data<Grid>,
    code: web::Path<String>,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, ApiError> {
    let (qr, scale) = prepare(&grid, &code, &query).await?;
    let png = png_of(&qr, scale as usize)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("PNG encoding: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(png))
}

/// An 8-bit greyscale PNG of `qr`, `scale` pixels per module, with the quiet zone.
fn png_of(qr: &QrCode, scale: usize) -> Result<Vec<u8>, png::EncodingError> {
    let width = qr.width();
    let colors = qr.to_colors();
    let side = (width + 2 * QUIET) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for y in my * scale..(my + 1) * scale {
            let row = y * side;
            pixels[row + mx * scale..row + (mx + 1) * scale].fill(0);
        }
    }
    let side = u32::try_from(side).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}
