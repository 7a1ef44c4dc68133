//! Attachments through HTTP: upload, list, download (ranges, headers), images re-encoded,
//! D1 upload attacks, S1 encryption at rest (tampering, swaps, rotation, crypto-shredding,
//! no plaintext in the store), orphan sweep. Every test runs on SQLite and PostgreSQL, each
//! with the local folder store and with an S3 store (a real s3s-fs server on loopback).

/// Runs a test body four times: {SQLite, PostgreSQL} × {local folder, S3}.
macro_rules! suite {
    ($name:ident, |$app:ident| $body:block) => {
        suite!($name, |_c: &mut Config| {}, |$app| $body);
    };
    ($name:ident, $tweak:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: &TestApp) $body

            async fn run(backend: consilium::db::Backend, s3: bool) {
                let app = if s3 {
                    TestApp::start_s3(backend, $tweak).await
                } else {
                    TestApp::start_with(backend, $tweak).await
                };
                body(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(consilium::db::Backend::Sqlite, false).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(consilium::db::Backend::Postgres, false).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_s3() {
                run(consilium::db::Backend::Sqlite, true).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() {
                run(consilium::db::Backend::Postgres, true).await;
            }
        }
    };
}

use crate::harness::{TestApp, fake_heic, jpeg_with_gps, png_header, tiny_png};
use consilium::config::Config;
use consilium::platform::Ctx;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

const PETIT: &str = "csl_demo_petit";
const MOREAU: &str = "csl_demo_moreau";
const BERNARD: &str = "csl_demo_bernard";

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pdf(body: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R {body} >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n").into_bytes()
}

fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A PDF whose only object stream (compressed) holds the given objects.
fn pdf_with_object_stream(compressed: &[u8]) -> Vec<u8> {
    let mut v =
        b"%PDF-1.7\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length ".to_vec();
    v.extend_from_slice(compressed.len().to_string().as_bytes());
    v.extend_from_slice(b" >>\nstream\r\n");
    v.extend_from_slice(compressed);
    v.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 2 0 R >>\n%%EOF\n");
    v
}

fn dicom() -> Vec<u8> {
    let mut v = vec![0u8; 128];
    v.extend_from_slice(b"DICM");
    v.extend_from_slice(b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\0");
    v.extend_from_slice(&[0x42; 4096]);
    v
}

async fn draft(app: &TestApp, token: &str) -> String {
    let c = app.draft(token, json!({})).await;
    c["id"].as_str().unwrap().to_string()
}

fn files_path(case: &str) -> String {
    format!("/api/v1/cases/{case}/attachments")
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn blob_file(app: &TestApp, key: &str) -> PathBuf {
    app.raw_blob(key)
}

/// Where temp files (spools) are written.
fn temp_dir(app: &TestApp) -> PathBuf {
    if app.s3.is_some() {
        app.data_dir().join("blob-spool")
    } else {
        app.data_dir().join("blobs/tmp")
    }
}

fn is_uuid(n: &str) -> bool {
    n.len() == 36 && n.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

async fn blob_key(app: &TestApp, attachment: &str) -> String {
    let sql = "SELECT blob_key FROM attachments WHERE id = $1";
    crate::with_pool!(app.db(), |p| sqlx::query_scalar(sql)
        .bind(attachment)
        .fetch_one(p)
        .await)
    .unwrap()
}

/// Only ours in the data directory (the database, the key file, blobs named by UUID) and,
/// with S3, only blobs named by UUID in the bucket's folder.
fn assert_nothing_outside_the_store(app: &TestApp) {
    let root = app.data_dir();
    for f in walk(root) {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let ok = rel.starts_with("consilium.db")
            || rel == "keys/master.keys"
            || (rel.starts_with("blobs/blobs/") && rel.rsplit('/').next().is_some_and(is_uuid));
        assert!(ok, "unexpected file in the data directory: {rel}");
    }
    if let Some(s3) = &app.s3 {
        let root = s3.root.path();
        for f in walk(root) {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            // Blobs, and the server's own metadata files (`.bucket-….json`, at its root).
            let ok = (rel.starts_with(&format!("{}/blobs/", crate::harness::S3_BUCKET))
                && rel.rsplit('/').next().is_some_and(is_uuid))
                || (rel.starts_with(".bucket-") && rel.ends_with(".json") && !rel.contains('/'));
            assert!(ok, "unexpected file in the S3 store: {rel}");
        }
    }
    assert!(walk(&temp_dir(app)).is_empty(), "temp files left behind");
}

suite!(upload_list_download_round_trip, |app| {
    app.seed_demo().await;
    let case = draft(app, PETIT).await;
    let text = "Patient Testard, plaie chronique.\nÉvolution sur 3 mois.\n".repeat(4000); // ~200 KB: several chunks
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("photo.png", tiny_png()),
        ("IMG_0001.jpg", jpeg_with_gps()),
        ("compte rendu é.pdf", pdf("")),
        ("notes.txt", text.clone().into_bytes()),
        ("scanner.dcm", dicom()),
        ("IMG_0002.HEIC", fake_heic(4032, 3024)),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let (s, v) = app.upload(Some(PETIT), &files_path(&case), &refs).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let items = v.as_array().unwrap().clone();
    let types: Vec<&str> = items
        .iter()
        .map(|i| i["detected_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["png", "jpeg", "pdf", "text", "dicom", "heif"]);
    assert_eq!(items[2]["name"], "compte rendu é.pdf");
    // Streamed kinds are stored as sent; the answer's SHA-256 is the upload's.
    for i in [2, 3, 4] {
        assert_eq!(items[i]["sha256"], sha(&files[i].1), "{}", items[i]);
        assert_eq!(items[i]["size"], files[i].1.len() as i64);
    }
    // Images are re-encoded: the upload's hash is given too.
    assert_eq!(items[1]["uploaded_sha256"], sha(&files[1].1));
    assert_ne!(items[1]["sha256"], sha(&files[1].1));
    assert_eq!(
        (items[1]["width"].as_i64(), items[1]["height"].as_i64()),
        (Some(64), Some(48))
    );
    assert!(items[0]["has_thumbnail"].as_bool().unwrap());
    assert!(!items[5]["has_thumbnail"].as_bool().unwrap());
    // HEIC: same size, its EXIF and XMP items erased in place (checked on download below).
    assert_eq!(items[5]["size"], files[5].1.len() as i64);
    assert_eq!(items[5]["uploaded_sha256"], sha(&files[5].1));
    assert_ne!(items[5]["sha256"], sha(&files[5].1));
    assert!(
        items[5]["notes"].to_string().contains("metadata erased"),
        "HEIC says its metadata is erased: {}",
        items[5]
    );

    let (s, list) = app.get(PETIT, &files_path(&case)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get(MOREAU, &files_path(&case)).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another requester does not see them"
    );
    assert_eq!(list.as_array().unwrap().len(), 6);

    let downloads_before = app.audit_count("attachment.download", "success").await;
    for item in &items {
        let id = item["id"].as_str().unwrap();
        let (s, h, body) = app
            .fetch(PETIT, &format!("{}/{id}", files_path(&case)), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            sha(&body),
            item["sha256"].as_str().unwrap(),
            "N2 for {item}"
        );
        assert_eq!(h["content-length"], body.len().to_string().as_str());
        assert!(
            h["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["accept-ranges"], "bytes");
    }
    assert_eq!(
        app.audit_count("attachment.download", "success").await,
        downloads_before + 6,
        "every download audited"
    );
    // The JPEG and the HEIC lost their GPS blocks; the HEIC's coded pixels are intact.
    let heic_id = items[5]["id"].as_str().unwrap();
    let (_, h, heic) = app
        .fetch(PETIT, &format!("{}/{heic_id}", files_path(&case)), None)
        .await;
    assert_eq!(h["content-type"], "image/heif");
    assert!(!contains(&heic, b"GPSLatitude") && !contains(&heic, b"GPSLongitude"));
    assert!(!contains(&heic, b"SynthPhone"));
    assert!(contains(&heic, b"HEVC coded pixels (synthetic)"));
    let jpeg_id = items[1]["id"].as_str().unwrap();
    let (_, h, jpeg) = app
        .fetch(PETIT, &format!("{}/{jpeg_id}", files_path(&case)), None)
        .await;
    assert_eq!(h["content-type"], "image/jpeg");
    assert!(!contains(&jpeg, b"GPSLatitude") && !contains(&jpeg, b"Exif"));
    assert!(image::load_from_memory(&jpeg).is_ok());
    let pdf_id = items[2]["id"].as_str().unwrap();
    let (_, h, _) = app
        .fetch(PETIT, &format!("{}/{pdf_id}", files_path(&case)), None)
        .await;
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"compte rendu _.pdf\"; filename*=UTF-8''compte%20rendu%20%C3%A9.pdf"
    );

    // Thumbnails.
    let png_id = items[0]["id"].as_str().unwrap();
    let (s, h, thumb) = app
        .fetch(
            PETIT,
            &format!("{}/{png_id}/thumbnail", files_path(&case)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "image/jpeg");
    assert!(image::load_from_memory(&thumb).is_ok());
    let heic_id = items[5]["id"].as_str().unwrap();
    let (s, _, _) = app
        .fetch(
            PETIT,
            &format!("{}/{heic_id}/thumbnail", files_path(&case)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Ranges, across chunk boundaries (64 KiB chunks).
    let text_id = items[3]["id"].as_str().unwrap();
    let url = format!("{}/{text_id}", files_path(&case));
    let t = text.as_bytes();
    for (range, from, to) in [
        ("bytes=0-9", 0, 9),
        ("bytes=65530-65545", 65530, 65545),
        ("bytes=131000-", 131000, t.len() - 1),
        ("bytes=-5", t.len() - 5, t.len() - 1),
    ] {
        let (s, h, body) = app.fetch(PETIT, &url, Some(range)).await;
        assert_eq!(s, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(body, &t[from..=to], "{range}");
        assert_eq!(
            h["content-range"],
            format!("bytes {from}-{to}/{}", t.len()).as_str()
        );
    }
    let (s, h, _) = app.fetch(PETIT, &url, Some("bytes=99999999-")).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(h["content-range"], format!("bytes */{}", t.len()).as_str());
    // An unknown attachment of a visible case: 404, audited.
    let (s, _, _) = app
        .fetch(
            PETIT,
            &format!("{}/{}", files_path(&case), consilium::kernel::new_id()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let report = app.platform.check_store().await.unwrap();
    assert!(report.is_clean() && report.orphans.is_empty(), "{report:?}");
    assert_eq!(report.checked, 6 + 2, "6 blobs and 2 thumbnails");
    assert_nothing_outside_the_store(app);
});

suite!(
    d1_upload_attacks,
    |c: &mut Config| {
        c.attachment_max_file_bytes = 100_000;
        c.attachment_max_case_bytes = 250_000;
    },
    |app| {
        app.seed_demo().await;
        let case = draft(app, PETIT).await;
        let path = files_path(&case);
        let up = |name: &'static str, bytes: Vec<u8>| {
            let path = path.clone();
            async move { app.upload(Some(PETIT), &path, &[(name, &bytes)]).await }
        };
        // Size: the limit is accepted, one byte more is 413.
        let (s, v) = up("exact.txt", vec![b'a'; 100_000]).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, v) = up("plus-one.txt", vec![b'a'; 100_001]).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        // Per case: 100,000 used; another 100,000 fits, then 50,001 more does not.
        let (s, _) = up("second.txt", vec![b'b'; 100_000]).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = up("fits.txt", vec![b'c'; 50_000]).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = up("over.txt", vec![b'd'; 1]).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        // A body announced far beyond the room left: refused before it is read.
        let (s, v) = up("huge.txt", vec![b'e'; 400_000]).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");

        let case = draft(app, PETIT).await;
        let path = files_path(&case);
        let up = |name: &'static str, bytes: Vec<u8>| {
            let path = path.clone();
            async move { app.upload(Some(PETIT), &path, &[(name, &bytes)]).await }
        };
        // Spoofed types: the name and declared type do not count, the content does.
        let (s, _) = up("photo.jpg", b"PK\x03\x04\x14\x00\x00\x00zipzip".to_vec()).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (s, _) = up("setup.pdf", b"MZ\x90\x00\x03\x00\x00\x00".to_vec()).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (s, v) = up("scan.png", pdf("")).await;
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(v[0]["detected_type"], "pdf");
        assert_eq!(v[0]["media_type"], "application/pdf");
        let (s, _) = up("anim.gif", b"GIF89a\x01\x00\x01\x00".to_vec()).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (s, _) = up("empty.txt", Vec::new()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Polyglots: text that a PDF reader would open is refused; a JPEG carrying a ZIP is
        // re-encoded, which drops the ZIP.
        let (s, _) = up(
            "note.txt",
            b"hello\n%PDF-1.4\n1 0 obj << /JS (x) >>".to_vec(),
        )
        .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut jpeg_zip = jpeg_with_gps();
        jpeg_zip.extend_from_slice(b"PK\x03\x04\x14\x00payload.html<script>alert(1)</script>");
        let (s, v) = up("photo.jpg", jpeg_zip).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let id = v[0]["id"].as_str().unwrap();
        let (_, _, stored) = app.fetch(PETIT, &format!("{path}/{id}"), None).await;
        assert!(!contains(&stored, b"PK\x03\x04") && !contains(&stored, b"<script>"));
        // SVG and HTML with script.
        let (s, _) = up(
            "dessin.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>".to_vec(),
        )
        .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (s, _) = up(
            "page.txt",
            b"<!DOCTYPE html><html><script>alert(1)</script>".to_vec(),
        )
        .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // Path traversal in names: kept as display names only.
        for (name, shown) in [
            ("../../../../../etc/passwd", "passwd"),
            ("..\\..\\windows\\evil.txt", "evil.txt"),
            ("/tmp/abs.txt", "abs.txt"),
            ("..", "fichier"),
        ] {
            let (s, v) = up(name, b"contenu".to_vec()).await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
            assert_eq!(v[0]["name"], shown, "{name}");
        }
        // Pixel flood: 65,535 × 65,535 in a few bytes, refused from the header (PNG, HEIC).
        let (s, v) = up("flood.png", png_header(65_535, 65_535)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("65535"));
        let (s, _) = up("flood.heic", fake_heic(65_535, 65_535)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // A header that lies about a valid size, with garbage after it: refused at decoding.
        let (s, _) = up("broken.png", png_header(640, 480)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Zip bombs: archives are not accepted at all.
        let mut zip = b"PK\x03\x04\x14\x00\x08\x00\x08\x00".to_vec();
        zip.extend(deflate(&vec![0u8; 10_000_000], 9));
        let (s, _) = up("bomb.zip", zip).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // PDFs with scripts or automatic actions, in clear or in compressed object streams.
        for body in [
            "/OpenAction << /S /JavaScript /JS (app.alert(1)) >>",
            "/AA << /O << /S /Launch /F (calc.exe) >> >>",
            "/Names << /J#61vaScript 3 0 R >>",
        ] {
            let (s, v) = up("lettre.pdf", pdf(body)).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
            assert!(v["detail"].as_str().unwrap().contains("active content"));
        }
        let hidden = format!(
            "{} 2 0 << /Type /Catalog /OpenAction << /S /JavaScript /JS (x) >> >>",
            "3 0 << /Type /Page >> ".repeat(50)
        );
        let (s, _) = up(
            "objstm.pdf",
            pdf_with_object_stream(&deflate(hidden.as_bytes(), 6)),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Several files in one request: one refused, none stored.
        let before = app.get(PETIT, &path).await.1.as_array().unwrap().len();
        let ok = tiny_png();
        let (s, _) = app
            .upload(
                Some(PETIT),
                &path,
                &[("ok.png", &ok), ("bad.svg", b"<svg onload=alert(1)>")],
            )
            .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            app.get(PETIT, &path).await.1.as_array().unwrap().len(),
            before
        );

        // Nothing was written outside the store, no temp file or orphan blob remains.
        let report = app.platform.check_store().await.unwrap();
        assert!(report.is_clean() && report.orphans.is_empty(), "{report:?}");
        assert_nothing_outside_the_store(app);
    }
);

suite!(d1_pdf_compression_bomb, |app| {
    app.seed_demo().await;
    let case = draft(app, PETIT).await;
    // 300 MB of zeros in about 300 KB: it cannot be inspected, so it is refused.
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..300 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = pdf_with_object_stream(&e.finish().unwrap());
    let (s, v) = app
        .upload(Some(PETIT), &files_path(&case), &[("bomb.pdf", &bomb)])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("bomb"));
    assert_nothing_outside_the_store(app);
});

/// Takes a case from draft to closed (named expert Bernard), with one text attachment.
async fn closed_case_with_file(app: &TestApp, content: &[u8]) -> (String, String) {
    let bernard = app.me(BERNARD).await;
    let c = app.draft(PETIT, json!({"expert_id": bernard})).await;
    let case = c["id"].as_str().unwrap().to_string();
    let (s, v) = app
        .upload(Some(PETIT), &files_path(&case), &[("cr.txt", content)])
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let att = v[0]["id"].as_str().unwrap().to_string();
    app.consent(PETIT, &case).await;
    app.ok(PETIT, &format!("/api/v1/cases/{case}/submit"), json!({}))
        .await;
    app.ok(BERNARD, &format!("/api/v1/cases/{case}/accept"), json!({}))
        .await;
    app.ok(
        BERNARD,
        &format!("/api/v1/cases/{case}/answer"),
        json!({"kind": "advice", "answer": "RAS"}),
    )
    .await;
    app.ok(
        PETIT,
        &format!("/api/v1/cases/{case}/close"),
        json!({"outcome": "visit_avoided"}),
    )
    .await;
    (case, att)
}

suite!(s1_encryption_at_rest, |app| {
    app.seed_demo().await;
    let marker = "MARQUEUR-EN-CLAIR-4815162342";
    let text = format!("Patient Testard Paul, né le 15/01/1970. {marker}\n").repeat(5000); // ~300 KB
    let case_a = draft(app, PETIT).await;
    let case_b = draft(app, PETIT).await;
    let png = tiny_png();
    let (s, va) = app
        .upload(
            Some(PETIT),
            &files_path(&case_a),
            &[("a.txt", text.as_bytes()), ("p.png", &png)],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{va}");
    let (s, vb) = app
        .upload(
            Some(PETIT),
            &files_path(&case_b),
            &[("b.txt", b"petit texte du cas B")],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let att_a = va[0]["id"].as_str().unwrap().to_string();
    let att_b = vb[0]["id"].as_str().unwrap().to_string();
    let url_a = format!("{}/{att_a}", files_path(&case_a));
    let url_b = format!("{}/{att_b}", files_path(&case_b));

    // No plaintext in the raw store: not the text, not the patient's name, not the PNG.
    let blobs = walk(&app.raw_blob_dir());
    assert!(blobs.len() >= 4);
    let mut raw_files = walk(app.data_dir());
    if let Some(s3) = &app.s3 {
        raw_files.extend(walk(s3.root.path()));
    }
    let raw_files: Vec<_> = raw_files
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("consilium.db"))
        .collect();
    for f in &raw_files {
        let raw = std::fs::read(f).unwrap();
        for needle in [marker.as_bytes(), b"Testard", b"IHDR", b"petit texte"] {
            assert!(!contains(&raw, needle), "{} holds plaintext", f.display());
        }
    }
    // The key file is private.
    let kf = app.data_dir().join("keys/master.keys");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kf).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let fa = blob_file(app, &blob_key(app, &att_a).await);
    let fb = blob_file(app, &blob_key(app, &att_b).await);
    let good_a = std::fs::read(&fa).unwrap();
    let good_b = std::fs::read(&fb).unwrap();

    // A flipped byte in the first chunk: an error answer; in a later chunk: the stream breaks
    // and the client never gets the acknowledged content.
    let mut bad = good_b.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&fb, &bad).unwrap();
    let (s, _, _) = app.fetch(PETIT, &url_b, None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!app.platform.check_store().await.unwrap().is_clean());
    std::fs::write(&fb, &good_b).unwrap();
    let mut bad = good_a.clone();
    let at = bad.len() - 1000; // in the last chunk
    bad[at] ^= 0x80;
    std::fs::write(&fa, &bad).unwrap();
    let (_, _, body) = app.fetch(PETIT, &url_a, None).await;
    assert_ne!(
        sha(&body),
        sha(text.as_bytes()),
        "a corrupt blob is never served whole"
    );
    // Truncated by a whole chunk.
    std::fs::write(&fa, &good_a[..good_a.len() - 70_000]).unwrap();
    let (_, _, body) = app.fetch(PETIT, &url_a, None).await;
    assert_ne!(sha(&body), sha(text.as_bytes()));
    // Swapped between cases (and files): neither authenticates.
    std::fs::write(&fa, &good_b).unwrap();
    std::fs::write(&fb, &good_a).unwrap();
    let (s, _, _) = app.fetch(PETIT, &url_a, None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let (s, _, _) = app.fetch(PETIT, &url_b, None).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let report = app.platform.check_store().await.unwrap();
    assert_eq!(report.corrupt.len(), 2, "{report:?}");
    // Restored: served again, intact.
    std::fs::write(&fa, &good_a).unwrap();
    std::fs::write(&fb, &good_b).unwrap();
    let (s, _, body) = app.fetch(PETIT, &url_a, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sha(&body), sha(text.as_bytes()));

    // Rotation: a new key-encryption key; case keys rewrapped, blobs untouched.
    let keys_before = std::fs::read_to_string(&kf).unwrap();
    let blobs_before: Vec<Vec<u8>> = blobs.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let ctx = Ctx::system("test");
    let r = app.platform.rotate_keys(&ctx, true, false).await.unwrap();
    assert_eq!(r.rewrapped, 2);
    assert_eq!(r.by_key, vec![(r.current_key.clone(), 2)]);
    assert!(!keys_before.contains(&r.current_key));
    let after: Vec<Vec<u8>> = blobs.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(blobs_before, after, "rotation does not touch blobs");
    // Interrupted rotation, replayed: nothing left to do.
    let again = app.platform.rotate_keys(&ctx, false, false).await.unwrap();
    assert_eq!(again.rewrapped, 0);
    // Retire the old key: it leaves the file; everything still opens.
    let retired = app.platform.rotate_keys(&ctx, false, true).await.unwrap();
    assert_eq!(retired.retired.len(), 1);
    let keys_after = std::fs::read_to_string(&kf).unwrap();
    assert!(!keys_after.contains(&retired.retired[0]));
    assert_eq!(
        std::fs::metadata(&kf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for url in [&url_a, &url_b] {
        let (s, _, _) = app.fetch(PETIT, url, None).await;
        assert_eq!(s, StatusCode::OK);
    }
    assert!(app.platform.check_store().await.unwrap().is_clean());
    assert_eq!(app.audit_count("keys.rewrap", "success").await, 1);

    // Crypto-shredding: a closed case purged after its retention period.
    let (closed, att) =
        closed_case_with_file(app, format!("Compte rendu {marker}").as_bytes()).await;
    let url = format!("{}/{att}", files_path(&closed));
    let backup = std::fs::read(blob_file(app, &blob_key(app, &att).await)).unwrap();
    let err = app
        .platform
        .purge_case(&ctx, &closed, 30)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retention"), "{err}");
    let err = app.platform.purge_case(&ctx, &case_a, 0).await.unwrap_err();
    assert!(err.to_string().contains("ended case"), "{err}");
    app.clock.advance_seconds(31 * 86_400);
    assert_eq!(app.platform.purge_case(&ctx, &closed, 30).await.unwrap(), 1);
    let (s, _, _) = app.fetch(PETIT, &url, None).await;
    assert_eq!(s, StatusCode::GONE);
    let wrapped: Option<String> = crate::with_pool!(app.db(), |p| sqlx::query_scalar(
        "SELECT wrapped FROM case_keys WHERE case_id = $1"
    )
    .bind(&closed)
    .fetch_one(p)
    .await)
    .unwrap();
    assert!(wrapped.is_none(), "the case key is gone");
    assert!(!blob_file(app, &blob_key(app, &att).await).exists());
    // A copy of the blob (a backup) is unreadable for good: no key in the database or the
    // key file opens it (the file key was wrapped by the destroyed case key).
    assert!(!contains(&backup, marker.as_bytes()));
    let report = app.platform.check_store().await.unwrap();
    assert_eq!(report.shredded, 1);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(app.audit_count("case.purge", "success").await, 1);
});

suite!(orphans_are_swept, |app| {
    app.seed_demo().await;
    let case = draft(app, PETIT).await;
    let (s, v) = app
        .upload(Some(PETIT), &files_path(&case), &[("a.txt", b"keep me")])
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let att = v[0]["id"].as_str().unwrap();
    // What a crash leaves: a temp file mid-write, a published blob whose row never committed.
    std::fs::write(temp_dir(app).join("crashed.part"), b"partial").unwrap();
    let orphan = consilium::kernel::new_id();
    let file = app.raw_blob(&orphan);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"ciphertext of nothing").unwrap();
    let report = app.platform.check_store().await.unwrap();
    assert_eq!(report.orphans, vec![orphan.clone()]);
    // Young orphans are left alone (an upload may be in flight)…
    let (t, b) = app
        .platform
        .sweep_orphans(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!((t, b), (0, 0));
    // …old ones go; referenced blobs stay.
    let (t, b) = app
        .platform
        .sweep_orphans(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((t, b), (1, 1));
    let report = app.platform.check_store().await.unwrap();
    assert!(report.is_clean() && report.orphans.is_empty(), "{report:?}");
    let (s, _, body) = app
        .fetch(PETIT, &format!("{}/{att}", files_path(&case)), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, b"keep me");
});

suite!(uploads_are_idempotent, |app| {
    app.seed_demo().await;
    let case = draft(app, PETIT).await;
    let path = files_path(&case);
    let files: [(&str, &[u8]); 2] = [("a.txt", b"first file"), ("b.txt", b"second file")];
    let (s, first) = app
        .upload_keyed(Some(PETIT), &path, &files, Some("up-1"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let stored = walk(&app.raw_blob_dir()).len();
    let audits = app.audit_count("attachment.upload", "success").await;
    // The retry gets the same answer; nothing new is stored or audited.
    let (s, again) = app
        .upload_keyed(Some(PETIT), &path, &files, Some("up-1"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again, first);
    let (_, list) = app.get(PETIT, &path).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(
        walk(&app.raw_blob_dir()).len(),
        stored,
        "no blob left by the retry"
    );
    assert_eq!(
        app.audit_count("attachment.upload", "success").await,
        audits
    );
    assert_eq!(
        app.audit_count("attachment.upload.replay", "success").await,
        1
    );
    // The same key with other content, or another name, is refused and changes nothing.
    for other in [
        [
            ("a.txt", &b"first file"[..]),
            ("b.txt", &b"other bytes"[..]),
        ],
        [
            ("a.txt", &b"first file"[..]),
            ("c.txt", &b"second file"[..]),
        ],
    ] {
        let (s, v) = app
            .upload_keyed(Some(PETIT), &path, &other, Some("up-1"))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    }
    let (_, list) = app.get(PETIT, &path).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // The key belongs to its user: another requester's identical key is unrelated (and
    // that requester cannot see the case anyway).
    let (s, _) = app
        .upload_keyed(Some(MOREAU), &path, &files, Some("up-1"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Once the case has moved on, a late retry still gets its answer; a new upload is 409.
    app.ok(PETIT, &format!("/api/v1/cases/{case}/cancel"), json!({}))
        .await;
    let (s, late) = app
        .upload_keyed(Some(PETIT), &path, &files, Some("up-1"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{late}");
    assert_eq!(late, first);
    let (s, _) = app
        .upload_keyed(Some(PETIT), &path, &files, Some("up-2"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // A malformed key is refused before the body is read.
    let (s, _) = app
        .upload_keyed(Some(PETIT), &path, &files, Some(&"k".repeat(201)))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let report = app.platform.check_store().await.unwrap();
    assert!(report.is_clean() && report.orphans.is_empty(), "{report:?}");
});

suite!(
    purge_over_http,
    |c: &mut Config| {
        c.retention_days = 30;
    },
    |app| {
        const MARTIN: &str = "csl_demo_martin"; // administrator of Petit's MSP
        app.seed_demo().await;
        let (case, att) = closed_case_with_file(app, b"compte rendu a detruire").await;
        let url = format!("{}/{att}", files_path(&case));
        let purge = format!("/api/v1/cases/{case}/purge");
        // Within the retention period: refused, nothing destroyed.
        let (s, v) = app.post(MARTIN, &purge, json!({})).await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("30 days"), "{v}");
        app.clock.advance_seconds(31 * 86_400);
        // Not the administrator: the requester (a participant) 403, a stranger 404.
        let (s, _) = app.post(PETIT, &purge, json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.post(MOREAU, &purge, json!({})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, body) = app.fetch(PETIT, &url, None).await;
        assert_eq!(
            (s, body.as_slice()),
            (StatusCode::OK, &b"compte rendu a detruire"[..])
        );
        // The administrator purges: the key is destroyed, the file is gone for everyone.
        let (s, v) = app.post(MARTIN, &purge, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["attachments_destroyed"], 1);
        assert_eq!(v["retention_days"], 30);
        let (s, _, _) = app.fetch(PETIT, &url, None).await;
        assert_eq!(s, StatusCode::GONE);
        let (s, _) = app.post(MARTIN, &purge, json!({})).await;
        assert_eq!(s, StatusCode::GONE, "a second purge");
        assert_eq!(app.audit_count("case.purge", "success").await, 1);
        assert_eq!(app.audit_count("case.purge", "denied").await, 2);
        let report = app.platform.check_store().await.unwrap();
        assert!(report.is_clean() && report.orphans.is_empty(), "{report:?}");
    }
);

suite!(concurrent_first_uploads_share_the_case_key, |app| {
    // The first uploads to a case race to create its data key: one creates it, the others
    // use it (found by the kill -9 test on PostgreSQL: a duplicate key answered 500).
    app.seed_demo().await;
    for _ in 0..3 {
        let case = draft(app, PETIT).await;
        let path = files_path(&case);
        let uploads = (0..6).map(|i| {
            let path = path.clone();
            async move {
                let body = format!("fichier {i}").into_bytes();
                let (s, v) = app
                    .upload(Some(PETIT), &path, &[("note.txt", body.as_slice())])
                    .await;
                assert_eq!(s, StatusCode::CREATED, "{v}");
                (v[0]["id"].as_str().unwrap().to_string(), body)
            }
        });
        let done = futures_util::future::join_all(uploads).await;
        for (id, body) in done {
            let (s, _, got) = app.fetch(PETIT, &format!("{path}/{id}"), None).await;
            assert_eq!((s, got), (StatusCode::OK, body));
        }
    }
});
