//! Attachments, the pure part: type detection from content (magic bytes, an allow-list),
//! display names, `Content-Disposition`, the streaming PDF inspector and the plain-text
//! checker. No I/O here.

use serde::{Deserialize, Serialize};

/// How many leading bytes are looked at before a type is decided (enough for image headers
/// behind large EXIF blocks, and for DICOM's preamble).
pub const SNIFF_BYTES: usize = 256 * 1024;

/// Largest image accepted, in pixels, checked from the header before anything is decoded
/// (a 65,535 × 65,535 image in a tiny file is refused). 50 megapixels covers phone cameras.
pub const MAX_PIXELS: u64 = 50_000_000;
/// Largest side of an image, checked from the header.
pub const MAX_SIDE: u32 = 20_000;
/// Thumbnails fit in this square.
pub const THUMB_SIDE: u32 = 256;
/// Most bytes a PDF's compressed streams may inflate to while being inspected; beyond, the
/// file is refused (a compression bomb cannot be inspected, so it is not trusted).
pub const MAX_PDF_INFLATE: u64 = 256 * 1024 * 1024;

/// The accepted kinds of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Jpeg,
    Png,
    Webp,
    Heif,
    Pdf,
    Dicom,
    Text,
}

impl Kind {
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Webp => "image/webp",
            Kind::Heif => "image/heif",
            Kind::Pdf => "application/pdf",
            Kind::Dicom => "application/dicom",
            Kind::Text => "text/plain; charset=utf-8",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpeg",
            Kind::Png => "png",
            Kind::Webp => "webp",
            Kind::Heif => "heif",
            Kind::Pdf => "pdf",
            Kind::Dicom => "dicom",
            Kind::Text => "text",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "jpeg" => Kind::Jpeg,
            "png" => Kind::Png,
            "webp" => Kind::Webp,
            "heif" => Kind::Heif,
            "pdf" => Kind::Pdf,
            "dicom" => Kind::Dicom,
            "text" => Kind::Text,
            _ => return None,
        })
    }
    /// Images that are decoded and re-encoded (metadata stripped) with a thumbnail.
    pub fn is_reencoded_image(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png | Kind::Webp)
    }
    pub fn is_image(self) -> bool {
        self.is_reencoded_image() || self == Kind::Heif
    }
}

/// Why a content was refused (each maps to a documented HTTP status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not in the allow-list (415).
    #[error("type not accepted: {0}")]
    Type(String),
    /// An image too large in pixels, or with an unreadable header (422).
    #[error("{0}")]
    Image(String),
    /// A PDF with active content (422).
    #[error("{0}")]
    Pdf(String),
    /// Plain text that is not (422).
    #[error("{0}")]
    Text(String),
}

/// Decides the kind from the first bytes (`head` holds up to [`SNIFF_BYTES`], or the whole
/// file if shorter). The declared type and the name play no part.
pub fn sniff(head: &[u8]) -> Result<Kind, Refusal> {
    let starts = |m: &[u8]| head.starts_with(m);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Kind::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(Kind::Png);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Ok(Kind::Webp);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        const HEIF: [&[u8]; 8] = [
            b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
        ];
        if HEIF.contains(&brand) {
            return Ok(Kind::Heif);
        }
        return Err(Refusal::Type(
            "ISO media file that is not HEIC/HEIF (video?)".into(),
        ));
    }
    if starts(b"%PDF-") {
        return Ok(Kind::Pdf);
    }
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Ok(Kind::Dicom);
    }
    for (magic, what) in KNOWN_REFUSED {
        if starts(magic) {
            return Err(Refusal::Type(format!("{what} files are not accepted")));
        }
    }
    // Plain text: UTF-8 (checked to the end while streaming), no NUL, not markup.
    check_text_head(head)?;
    Ok(Kind::Text)
}

const KNOWN_REFUSED: [(&[u8], &str); 10] = [
    (b"PK\x03\x04", "ZIP (and Office)"),
    (b"PK\x05\x06", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!", "RAR"),
    (b"GIF8", "GIF"),
    (b"MZ", "executable"),
    (b"\x7fELF", "executable"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
];

fn check_text_head(head: &[u8]) -> Result<(), Refusal> {
    if head.contains(&0) {
        return Err(Refusal::Type(
            "binary content of an unknown type is not accepted".into(),
        ));
    }
    // A valid prefix: a multi-byte character may be cut at the end of the head.
    match std::str::from_utf8(head) {
        Ok(_) => {}
        Err(e) if e.error_len().is_none() && head.len() - e.valid_up_to() < 4 => {}
        Err(_) => {
            return Err(Refusal::Type(
                "binary content of an unknown type is not accepted (text must be UTF-8)".into(),
            ));
        }
    }
    let lower: Vec<u8> = head
        .iter()
        .take(4096)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    let body = lower
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(&lower);
    let trimmed: &[u8] = {
        let start = body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(body.len());
        &body[start..]
    };
    for marker in [
        b"<?xml".as_slice(),
        b"<svg",
        b"<html",
        b"<!doctype",
        b"<script",
        b"<body",
        b"<iframe",
    ] {
        if trimmed.starts_with(marker) || (marker != b"<?xml" && contains(&lower, marker)) {
            return Err(Refusal::Type(
                "markup (SVG, HTML, XML) is not accepted; send a PDF or an image".into(),
            ));
        }
    }
    // A PDF reader finds "%PDF-" anywhere in the first kilobyte: refuse such polyglots.
    if contains(&head[..head.len().min(1024)], b"%PDF-") {
        return Err(Refusal::Type(
            "text that is also a PDF (polyglot) is not accepted".into(),
        ));
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Checks the rest of a plain-text upload, chunk by chunk: UTF-8 throughout, no NUL.
#[derive(Debug, Default)]
pub struct TextChecker {
    carry: Vec<u8>,
}

impl TextChecker {
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        let bad = || Refusal::Text("a text file must be UTF-8 without NUL bytes".into());
        if chunk.contains(&0) {
            return Err(bad());
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        match std::str::from_utf8(&buf) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                self.carry = buf[e.valid_up_to()..].to_vec();
                Ok(())
            }
            Err(_) => Err(bad()),
        }
    }
    pub fn finish(self) -> Result<(), Refusal> {
        if self.carry.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Text(
                "a text file must be UTF-8 (it ends inside a character)".into(),
            ))
        }
    }
}

/// Image dimensions from the header only (nothing decoded), checked against the limits.
pub fn check_image_header(head: &[u8]) -> Result<(u32, u32), Refusal> {
    let size = imagesize::blob_size(head).map_err(|e| {
        Refusal::Image(format!(
            "the image header cannot be read ({e}); is the file complete?"
        ))
    })?;
    let (w, h) = (size.width as u64, size.height as u64);
    if w == 0 || h == 0 {
        return Err(Refusal::Image("the image has no pixels".into()));
    }
    if w > MAX_SIDE as u64 || h > MAX_SIDE as u64 || w * h > MAX_PIXELS {
        return Err(Refusal::Image(format!(
            "the image is {w} × {h} pixels: more than {MAX_PIXELS} pixels or a side over {MAX_SIDE} is not accepted"
        )));
    }
    Ok((w as u32, h as u32))
}

// ---------- names ----------

/// A display name: the last path component only, no control or bidi characters, trimmed,
/// at most 120 characters, never empty. It is never used as a path.
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(*c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut out: String = trimmed.chars().take(120).collect();
    if out.is_empty() || out == "." || out == ".." {
        out = "fichier".into();
    }
    out
}

/// `Content-Disposition` value (RFC 6266 / RFC 8187): an ASCII fallback and the UTF-8 name.
pub fn content_disposition(disposition: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(b) {
            encoded.push(*b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

// ---------- PDF inspection ----------

/// Names that make a PDF active: scripts and actions run on opening or on events.
const ACTIVE_NAMES: [&str; 5] = ["JavaScript", "JS", "OpenAction", "AA", "Launch"];

/// Streams through a PDF and finds active content: `/JavaScript`, `/JS`, `/OpenAction`,
/// `/AA`, `/Launch`, in the file's objects and inside Flate-compressed streams (object
/// streams included), names written with `#xx` escapes included. Bytes are fed in any
/// chunking; memory stays constant.
pub struct PdfScanner {
    outer: NameLexer,
    mode: Mode,
    /// Last bytes seen in the raw file, to find `stream` / `endstream` across chunks.
    window: Vec<u8>,
    inflate: Option<flate2::Decompress>,
    inner: NameLexer,
    inflated: u64,
    found: Option<String>,
    refused: Option<String>,
    first: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Objects,
    /// Just after the `stream` keyword: wait for its end-of-line.
    StreamStart,
    /// Inside a stream: its bytes go to the inflater, not the name lexer.
    Stream,
}

impl Default for PdfScanner {
    fn default() -> Self {
        Self {
            outer: NameLexer::default(),
            mode: Mode::Objects,
            window: Vec::with_capacity(16),
            inflate: None,
            inner: NameLexer::default(),
            inflated: 0,
            found: None,
            refused: None,
            first: Vec::new(),
        }
    }
}

impl PdfScanner {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.found.is_some() || self.refused.is_some() {
            return;
        }
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.mode {
                Mode::Objects => {
                    if let Some(n) = self.outer.push(b)
                        && self.found.is_none()
                    {
                        self.found = Some(n);
                    }
                    self.remember(b);
                    if self.window.ends_with(b"stream") && !self.window.ends_with(b"endstream") {
                        self.mode = Mode::StreamStart;
                        self.outer = NameLexer::default();
                    }
                    i += 1;
                }
                Mode::StreamStart => {
                    if b == b'\n' {
                        self.mode = Mode::Stream;
                        self.inflate = None;
                        self.first.clear();
                        self.inner = NameLexer::default();
                    } else if b != b'\r' && b != b' ' {
                        // Not a stream keyword after all.
                        self.mode = Mode::Objects;
                        continue;
                    }
                    i += 1;
                }
                Mode::Stream => {
                    // Feed up to a possible "endstream"; find it byte by byte.
                    let start = i;
                    let mut end_at = None;
                    while i < chunk.len() {
                        self.remember(chunk[i]);
                        i += 1;
                        if self.window.ends_with(b"endstream") {
                            end_at = Some(i);
                            break;
                        }
                    }
                    let data_end =
                        end_at.map_or(i, |e| e.saturating_sub(b"endstream".len()).max(start));
                    if data_end > start {
                        self.stream_bytes(&chunk[start..data_end]);
                    }
                    if end_at.is_some() {
                        self.mode = Mode::Objects;
                        self.inflate = None;
                    }
                    if self.found.is_some() || self.refused.is_some() {
                        return;
                    }
                }
            }
        }
    }

    fn remember(&mut self, b: u8) {
        if self.window.len() == 16 {
            self.window.remove(0);
        }
        self.window.push(b);
    }

    fn stream_bytes(&mut self, data: &[u8]) {
        // A zlib header on the stream's first two bytes means Flate: inflate and inspect.
        let mut data = data;
        if self.inflate.is_none() {
            if self.first.len() < 2 {
                let take = (2 - self.first.len()).min(data.len());
                self.first.extend_from_slice(&data[..take]);
                if self.first.len() < 2 {
                    return;
                }
                let (cmf, flg) = (self.first[0], self.first[1]);
                let is_zlib = cmf & 0x0F == 8 && (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0;
                if !is_zlib {
                    self.first = vec![0xFF, 0xFF, 0xFF]; // marks "not Flate"
                    return;
                }
                let mut d = flate2::Decompress::new(true);
                let header = self.first.clone();
                self.inflate_into(&mut d, &header);
                self.inflate = Some(d);
                data = &data[take..];
            } else {
                return; // not Flate: nothing to inspect inside
            }
        }
        if let Some(mut d) = self.inflate.take() {
            self.inflate_into(&mut d, data);
            self.inflate = Some(d);
        }
    }

    fn inflate_into(&mut self, d: &mut flate2::Decompress, mut input: &[u8]) {
        let mut out = [0u8; 16 * 1024];
        loop {
            let before_in = d.total_in();
            let before_out = d.total_out();
            let status = d.decompress(input, &mut out, flate2::FlushDecompress::None);
            let used = (d.total_in() - before_in) as usize;
            let produced = (d.total_out() - before_out) as usize;
            input = &input[used..];
            self.inflated += produced as u64;
            for &b in &out[..produced] {
                if let Some(n) = self.inner.push(b)
                    && self.found.is_none()
                {
                    self.found = Some(n);
                }
            }
            if self.inflated > MAX_PDF_INFLATE {
                self.refused = Some(format!(
                    "the PDF's compressed content inflates beyond {} MB and cannot be inspected (compression bomb?)",
                    MAX_PDF_INFLATE / (1024 * 1024)
                ));
                return;
            }
            match status {
                Ok(flate2::Status::StreamEnd) | Err(_) => {
                    // End of this stream, or not valid Flate: stop inflating it.
                    self.first = vec![0xFF, 0xFF, 0xFF];
                    return;
                }
                Ok(_) => {
                    if produced == 0 && (input.is_empty() || used == 0) {
                        return;
                    }
                }
            }
        }
    }

    /// The verdict once every byte was fed.
    pub fn finish(mut self) -> Result<(), Refusal> {
        if let Some(n) = self.outer.end() {
            self.found.get_or_insert(n);
        }
        if let Some(r) = self.refused {
            return Err(Refusal::Pdf(r));
        }
        match self.found {
            Some(name) => Err(Refusal::Pdf(format!(
                "the PDF carries active content (/{name}: a script or an automatic action); print it to a new PDF and send that"
            ))),
            None => Ok(()),
        }
    }
}

/// Finds PDF names (`/Name`, with `#xx` escapes decoded) in a byte stream, and reports the
/// active ones.
#[derive(Debug, Default)]
struct NameLexer {
    in_name: bool,
    name: Vec<u8>,
    hex: Option<Vec<u8>>,
    too_long: bool,
}

impl NameLexer {
    fn is_delimiter(b: u8) -> bool {
        b.is_ascii_whitespace()
            || matches!(
                b,
                b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%' | 0
            )
    }

    fn push(&mut self, b: u8) -> Option<String> {
        let mut found = None;
        if self.in_name {
            if let Some(h) = &mut self.hex {
                h.push(b);
                if h.len() == 2 {
                    let s = std::str::from_utf8(h).ok();
                    match s.and_then(|s| u8::from_str_radix(s, 16).ok()) {
                        Some(v) => self.name.push(v),
                        None => self.too_long = true,
                    }
                    self.hex = None;
                }
                return None;
            }
            if Self::is_delimiter(b) {
                found = self.end();
            } else if b == b'#' {
                self.hex = Some(Vec::with_capacity(2));
                return None;
            } else if self.name.len() < 32 {
                self.name.push(b);
                return None;
            } else {
                self.too_long = true;
                return None;
            }
        }
        if b == b'/' {
            self.in_name = true;
            self.name.clear();
            self.hex = None;
            self.too_long = false;
        }
        found
    }

    fn end(&mut self) -> Option<String> {
        if !self.in_name {
            return None;
        }
        self.in_name = false;
        if self.too_long {
            return None;
        }
        let name = std::str::from_utf8(&self.name).ok()?;
        ACTIVE_NAMES
            .iter()
            .find(|a| **a == name)
            .map(|a| a.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn scan(pdf: &[u8], chunk: usize) -> Result<(), Refusal> {
        let mut s = PdfScanner::default();
        for c in pdf.chunks(chunk.max(1)) {
            s.feed(c);
        }
        s.finish()
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("deflate");
        e.finish().expect("deflate")
    }

    fn pdf_with_stream(stream: &[u8]) -> Vec<u8> {
        let mut v =
            b"%PDF-1.7\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
                .to_vec();
        v.extend_from_slice(stream.len().to_string().as_bytes());
        v.extend_from_slice(b" >>\nstream\r\n");
        v.extend_from_slice(stream);
        v.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 2 0 R >>\n%%EOF\n");
        v
    }

    #[test]
    fn sniffs_the_allow_list() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Ok(Kind::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Ok(Kind::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(Kind::Webp));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Ok(Kind::Heif));
        assert_eq!(sniff(b"%PDF-1.4\n"), Ok(Kind::Pdf));
        let mut dcm = vec![0u8; 128];
        dcm.extend_from_slice(b"DICM\x02\0");
        assert_eq!(sniff(&dcm), Ok(Kind::Dicom));
        assert_eq!(sniff("Tension 12/8, fièvre.\n".as_bytes()), Ok(Kind::Text));
        assert!(sniff(b"PK\x03\x04zip").is_err());
        assert!(sniff(b"GIF89a").is_err());
        assert!(
            sniff(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
                .is_err()
        );
        assert!(sniff(b"  <?xml version='1.0'?><svg/>").is_err());
        assert!(sniff(b"hello <script>alert(1)</script>").is_err());
        assert!(sniff(b"\0\0\0\x18ftypmp42\0\0").is_err());
        assert!(
            sniff(b"note\n%PDF-1.4 hidden").is_err(),
            "text/PDF polyglot"
        );
        assert!(sniff(&[0xC3, 0x28, 0x41]).is_err(), "invalid UTF-8");
        // A JPEG that also carries a ZIP (polyglot) is a JPEG: it is re-encoded, which drops the rest.
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0....PK\x03\x04"), Ok(Kind::Jpeg));
    }

    #[test]
    fn text_checker_spans_chunks() {
        let s = "é".repeat(1000);
        let mut t = TextChecker::default();
        for c in s.as_bytes().chunks(7) {
            t.feed(c).expect("valid");
        }
        t.finish().expect("complete");
        let mut t = TextChecker::default();
        t.feed(&s.as_bytes()[..1]).expect("prefix");
        assert!(t.finish().is_err(), "ends inside a character");
        let mut t = TextChecker::default();
        assert!(t.feed(b"a\0b").is_err());
    }

    #[test]
    fn display_names_are_never_paths() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\x\\photo.jpg"), "photo.jpg");
        assert_eq!(display_name(".."), "fichier");
        assert_eq!(display_name(""), "fichier");
        assert_eq!(display_name("a\u{202E}gpj.exe"), "agpj.exe");
        assert_eq!(display_name("ligne\r\nX-Injected: 1"), "ligneX-Injected: 1");
        assert_eq!(display_name(".bashrc"), "bashrc");
        assert_eq!(display_name(&"x".repeat(500)).chars().count(), 120);
    }

    #[test]
    fn content_disposition_is_rfc6266() {
        assert_eq!(
            content_disposition("attachment", "compte rendu é\".pdf"),
            "attachment; filename=\"compte rendu __.pdf\"; filename*=UTF-8''compte%20rendu%20%C3%A9%22.pdf"
        );
    }

    #[test]
    fn image_headers_are_checked_before_decoding() {
        // A PNG header claiming 65,535 × 65,535.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&65535u32.to_be_bytes());
        png.extend_from_slice(&65535u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(check_image_header(&png), Err(Refusal::Image(_))));
        let mut ok = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        ok.extend_from_slice(&640u32.to_be_bytes());
        ok.extend_from_slice(&480u32.to_be_bytes());
        ok.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(check_image_header(&ok), Ok((640, 480)));
    }

    #[test]
    fn pdf_active_content_is_found() {
        let clean = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n%%EOF";
        assert!(scan(clean, 3).is_ok());
        for bad in [
            b"%PDF-1.4\n1 0 obj << /OpenAction 3 0 R >> endobj".as_slice(),
            b"%PDF-1.4\n1 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj",
            b"%PDF-1.4\n1 0 obj << /AA << /O 4 0 R >> >> endobj",
            b"%PDF-1.4\n1 0 obj << /J#61vaScript 5 0 R >> endobj",
            b"%PDF-1.4\n1 0 obj << /S /Launch /F (cmd.exe) >> endobj",
        ] {
            for chunk in [1, 2, 5, 4096] {
                assert!(
                    matches!(scan(bad, chunk), Err(Refusal::Pdf(_))),
                    "{}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
        // Names that merely start like an active one are fine.
        assert!(scan(b"%PDF-1.4\n<< /JSON 1 /AAB 2 /Font /F1 >>", 1).is_ok());
    }

    #[test]
    fn pdf_scripts_inside_compressed_object_streams_are_found() {
        let inner = format!(
            "{} 1 0 << /Type /Catalog /OpenAction << /S /JavaScript /JS (x) >> >>",
            "2 0 << /Type /Page /Parent 3 0 R >> ".repeat(40)
        );
        let pdf = pdf_with_stream(&deflate(inner.as_bytes()));
        assert!(!contains(&pdf, b"JavaScript"), "hidden from a plain search");
        for chunk in [1, 7, 1 << 20] {
            assert!(matches!(scan(&pdf, chunk), Err(Refusal::Pdf(_))));
        }
        let clean = pdf_with_stream(&deflate(b"BT /F1 12 Tf (Bonjour) Tj ET"));
        assert!(scan(&clean, 3).is_ok());
        // Raw binary in a stream (an embedded JPEG) is not read as names.
        let binary = pdf_with_stream(b"\xFF\xD8 /JS \x00\x01");
        assert!(scan(&binary, 3).is_ok());
    }

    #[test]
    fn pdf_compression_bombs_are_refused() {
        // 300 MB of zeros deflate to about 300 KB.
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..300 {
            e.write_all(&zeros).expect("deflate");
        }
        let bomb = e.finish().expect("deflate");
        let pdf = pdf_with_stream(&bomb);
        assert!(pdf.len() < 1_000_000);
        assert!(matches!(scan(&pdf, 64 * 1024), Err(Refusal::Pdf(m)) if m.contains("bomb")));
    }

    proptest! {
        #[test]
        fn sniff_and_scanners_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
            let _ = sniff(&data);
            let _ = check_image_header(&data);
            let mut s = PdfScanner::default();
            for c in data.chunks(chunk) { s.feed(c); }
            let _ = s.finish();
            let mut t = TextChecker::default();
            for c in data.chunks(chunk) { let _ = t.feed(c); }
        }

        #[test]
        fn display_name_has_no_separators_or_controls(s in ".{0,300}") {
            let n = display_name(&s);
            prop_assert!(!n.is_empty() && n.chars().count() <= 120);
            prop_assert!(!n.contains('/') && !n.contains('\\'));
            prop_assert!(!n.chars().any(char::is_control));
            prop_assert!(n != "." && n != "..");
        }
    }
}
