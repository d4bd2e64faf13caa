//! Posters: an upload is decoded, fitted and written again as a JPEG kept by its digest, served
//! to anyone as immutable, and shown by the performances that name it.

use serde_json::json;

use crate::testkit::{DataDir, Server, gala_params};

/// A PNG of `width` x `height`, red and half transparent: it must come back on white.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(width, height, image::Rgba([255, 0, 0, 128]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

/// The CRC-32 a PNG chunk ends with.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_seller_s_poster_is_fitted_kept_by_digest_and_shown_on_the_page() {
    let dir = DataDir::new();
    let server = Server::start(&dir);
    let seller = server.account("seller@example.com", "seller");
    let ann = server.account("ann@example.com", "buyer");

    let kept = server.upload("/api/v1/posters", Some(&seller), "image/png", &png(3000, 1000)).expect(201).json();
    let digest = kept["digest"].as_str().unwrap().to_owned();
    assert_eq!((&kept["width"], &kept["height"]), (&json!(1200), &json!(400)), "fitted into 1200 x 1800, its shape kept");
    assert_eq!(kept["url"], format!("/api/v1/posters/{digest}"));

    // Anyone may fetch it; it never changes under its name.
    let served = server.get(&format!("/api/v1/posters/{digest}"), None).expect(200);
    assert_eq!(served.header("content-type"), Some("image/jpeg"));
    assert_eq!(served.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(served.bytes.len() as u64, kept["size"].as_u64().unwrap());
    let image = image::load_from_memory_with_format(&served.bytes, image::ImageFormat::Jpeg).expect("a JPEG").to_rgb8();
    assert_eq!(image.dimensions(), (1200, 400));
    let [r, g, b] = image.get_pixel(600, 200).0;
    assert!(r > 240 && (110..150).contains(&g) && (110..150).contains(&b), "half-transparent red over white is pink: {r},{g},{b}");
    let etag = served.header("etag").unwrap().to_owned();
    assert_eq!(server.get_with(&format!("/api/v1/posters/{digest}"), None, &[("If-None-Match", &etag)]).status, 304);
    // The same picture again is the same poster.
    let again = server.upload("/api/v1/posters", Some(&seller), "image/png", &png(3000, 1000)).expect(201).json();
    assert_eq!(again["digest"], digest);

    // A performance shows it; one naming a poster nobody uploaded is refused.
    let mut params = gala_params();
    params["poster"] = json!(digest);
    server.deploy(&seller, "gala", "seated", params.clone());
    assert_eq!(server.get("/p/gala/api/info", None).expect(200).json()["poster"], format!("/api/v1/posters/{digest}"));
    for (poster, why) in [(json!("0".repeat(64)), "not uploaded"), (json!("../../etc/passwd"), "not a digest"), (json!(7), "not text")] {
        params["poster"] = poster;
        let refused = server.post("/api/v1/performances", Some(&seller), &json!({"namespace": "bad", "template": "seated", "params": params})).expect(400).json();
        assert_eq!(refused["field"], "params.poster", "{why}: {refused}");
    }
    // The seller changes it and takes it away.
    let small = server.upload("/api/v1/posters", Some(&seller), "image/png", &png(300, 450)).expect(201).json();
    assert_eq!((&small["width"], &small["height"]), (&json!(300), &json!(450)), "a small one is kept at its size");
    server.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": {"poster": small["digest"]}})).expect(200);
    assert_eq!(server.get("/p/gala/api/info", None).expect(200).json()["poster"], small["url"]);
    server.patch("/api/v1/performances/gala", Some(&seller), &json!({"params": {"poster": null}})).expect(200);
    assert!(server.get("/p/gala/api/info", None).expect(200).json().get("poster").is_none());

    // What is refused, each in the error shape.
    server.upload("/api/v1/posters", Some(&ann), "image/png", &png(10, 10)).expect(403);
    server.upload("/api/v1/posters", None, "image/png", &png(10, 10)).expect(401);
    assert_eq!(server.upload("/api/v1/posters", Some(&seller), "text/plain", &png(10, 10)).expect(415).json()["error"], "unsupported_media_type");
    for (body, why) in [(b"not an image".to_vec(), "garbage"), (Vec::new(), "empty"), (png(10, 10)[..40].to_vec(), "cut off")] {
        let refused = server.upload("/api/v1/posters", Some(&seller), "image/png", &body).expect(400).json();
        assert_eq!(refused["error"], "invalid_image", "{why}");
    }
    // A GIF is an image, but not one a poster may be.
    let gif = server.upload("/api/v1/posters", Some(&seller), "image/png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").expect(400).json();
    assert!(gif["message"].as_str().unwrap().contains("JPEG, PNG or WebP"), "{gif}");
    // A PNG whose (well-formed) header claims 20,000 px a side is refused before a pixel is
    // decoded.
    let mut huge = png(1, 1);
    huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let crc = crc32(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    let refused = server.upload("/api/v1/posters", Some(&seller), "image/png", &huge).expect(400).json();
    assert!(refused["message"].as_str().unwrap().contains("limit"), "{refused}");
    let too_big = vec![0u8; 17 << 20];
    server.upload("/api/v1/posters", Some(&seller), "image/jpeg", &too_big).expect(413);
    server.get("/api/v1/posters/nope", None).expect(404);
    server.get(&format!("/api/v1/posters/{}", "0".repeat(64)), None).expect(404);
}
