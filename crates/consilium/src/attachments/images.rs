//! Image re-encoding: decode (with the header's dimensions already checked, and the
//! decoder's own limits as a second guard), apply the EXIF orientation, re-encode without
//! any metadata (EXIF, GPS, XMP, ICC comments are not carried over), and make a thumbnail.
//! HEIC/HEIF is not decoded here (no pure-Rust decoder): `heif.rs` erases its metadata items.

use super::model::{Kind, MAX_PIXELS, MAX_SIDE, THUMB_SIDE};
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;

pub struct Reencoded {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
}

/// Re-encodes a JPEG, PNG or WebP. JPEG and WebP photos become JPEG (quality 90); PNG stays
/// PNG (screenshots, scans: lossless).
pub fn reencode(kind: Kind, data: &[u8]) -> Result<Reencoded, String> {
    let mut reader = ImageReader::new(Cursor::new(data));
    reader.set_format(match kind {
        Kind::Jpeg => image::ImageFormat::Jpeg,
        Kind::Png => image::ImageFormat::Png,
        Kind::Webp => image::ImageFormat::WebP,
        _ => return Err("not a re-encodable image".into()),
    });
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("the image cannot be read: {e}"))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("the image cannot be decoded: {e}"))?;
    img.apply_orientation(orientation);
    let (width, height) = (img.width(), img.height());
    let (bytes, media_type) = match kind {
        Kind::Png => (encode_png(&img)?, "image/png"),
        _ => (encode_jpeg(&img, 90)?, "image/jpeg"),
    };
    let thumb = img.thumbnail(THUMB_SIDE, THUMB_SIDE);
    let thumbnail = encode_jpeg(&thumb, 80)?;
    Ok(Reencoded {
        bytes,
        media_type,
        width,
        height,
        thumbnail,
    })
}

fn encode_jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, String> {
    let rgb = img.to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&rgb)
        .map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(out)
}

fn encode_png(img: &DynamicImage) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let img = if img.color().has_alpha() {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
    };
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG with an APP1 EXIF segment carrying a GPS marker string.
    pub fn jpeg_with_exif() -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
            .encode_image(&img)
            .expect("encode");
        let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 48.8566 N Paris secret";
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(payload);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn reencoding_strips_metadata_and_makes_a_thumbnail() {
        let jpeg = jpeg_with_exif();
        assert!(jpeg.windows(11).any(|w| w == b"GPSLatitude"));
        let r = reencode(Kind::Jpeg, &jpeg).expect("re-encodes");
        assert!(!r.bytes.windows(11).any(|w| w == b"GPSLatitude"));
        assert!(!r.bytes.windows(4).any(|w| w == b"Exif"));
        assert_eq!((r.width, r.height), (64, 48));
        assert_eq!(r.media_type, "image/jpeg");
        let t = image::load_from_memory(&r.thumbnail).expect("thumbnail decodes");
        assert!(t.width() <= THUMB_SIDE && t.height() <= THUMB_SIDE);
    }

    #[test]
    fn garbage_after_a_valid_header_is_refused() {
        let mut bad = jpeg_with_exif();
        bad.truncate(200);
        assert!(reencode(Kind::Jpeg, &bad).is_err());
    }
}
