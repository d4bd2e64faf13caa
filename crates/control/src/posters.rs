//! Posters: a seller's image, decoded within bounds, turned upright, fitted into
//! [`WIDTH`] x [`HEIGHT`] and written again as a JPEG, so a page only ever loads an image the
//! platform wrote; kept by the digest of those bytes and served as immutable.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::*;

/// Largest image a seller may upload: a phone's photo, well above what a page shows.
const MAX_POSTER_BYTES: usize = 16 << 20;
/// The largest poster kept, in pixels: twice what a show page draws it at.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 1800;
/// Larger images are refused before they are decoded, so no upload can ask for gigabytes.
const MAX_SIDE: u32 = 12_000;
const MAX_DECODED: u64 = 512 << 20;
const QUALITY: u8 = 85;
/// Where a poster is served: by digest, immutable.
const PATH: &str = "/api/v1/posters/";

/// A poster as kept.
struct Poster {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

/// Decodes an upload and writes it again as the poster a page shows, or says why it cannot.
fn prepare(upload: &[u8]) -> Result<Poster, String> {
    let unreadable = |e: image::ImageError| format!("the image cannot be read: {e}");
    let mut reader = ImageReader::new(Cursor::new(upload)).with_guessed_format().map_err(|e| e.to_string())?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) {
        return Err("send a JPEG, PNG or WebP image".into());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let orientation = decoder.orientation().map_err(unreadable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    if image.width() > WIDTH || image.height() > HEIGHT {
        image = image.resize(WIDTH, HEIGHT, image::imageops::FilterType::Lanczos3);
    }
    let rgb = on_white(&image);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, QUALITY).encode_image(&rgb).map_err(|e| e.to_string())?;
    Ok(Poster { bytes, width: rgb.width(), height: rgb.height() })
}

/// The image over a white page: a JPEG has no transparency, and black is what dropping it shows.
fn on_white(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// Uploads a poster (seller, admin): `{digest, url, width, height, size}`; set it on a
/// performance as `params.poster`. Counts toward the seller's deploys.
pub(crate) async fn upload_poster(State(app): State<AppState>, caller: Caller, headers: http::HeaderMap, body: axum::body::Body) -> ApiResult {
    let account = caller.require_role(&[Role::Seller, Role::Admin])?;
    // An image type, which no cross-site form can send.
    let typed = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| ["image/jpeg", "image/png", "image/webp"].contains(&v.split(';').next().unwrap_or("").trim()));
    if !typed {
        let message = "send the image's bytes as Content-Type: image/jpeg, image/png or image/webp";
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::UnsupportedMediaType, message).into());
    }
    if !caller.is_admin() {
        app.limits.check(Limit::DeployBySeller, &account.sub).await.map_err(ApiError::too_many)?;
    }
    let body = read_bounded(body, MAX_POSTER_BYTES, UPLOAD_TIMEOUT, || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, Code::TooLarge, format!("a poster may be at most {} MiB", MAX_POSTER_BYTES >> 20))
    })
    .await?;
    let poster = tokio::task::spawn_blocking(move || prepare(&body))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|message| ApiError::bad_request(Code::InvalidImage, message))?;
    let digest = auth::sha256_hex(&poster.bytes);
    app.shared.catalog.put_poster(&digest, &poster.bytes, marquee_deployments::clock::now_secs()).await?;
    let answer = json!({
        "digest": digest,
        "url": format!("{PATH}{digest}"),
        "width": poster.width,
        "height": poster.height,
        "size": poster.bytes.len(),
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A poster's bytes (anyone: it is on a public page), cached for good: its digest names them.
pub(crate) async fn poster(State(app): State<AppState>, Path(digest): Path<String>, headers: http::HeaderMap) -> ApiResult {
    use http::header;
    let etag = format!("\"{digest}\"");
    let named = digest.len() == 64 && digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let bytes = match named {
        true => app.shared.catalog.poster(&digest).await?,
        false => None,
    };
    let Some(bytes) = bytes else {
        return Err(ApiError::not_found("no poster has this digest").into());
    };
    let cache = [(header::CACHE_CONTROL, "public, max-age=31536000, immutable".to_owned()), (header::ETAG, etag.clone())];
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, [(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response())
}
