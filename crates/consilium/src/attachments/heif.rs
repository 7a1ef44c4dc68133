//! HEIC/HEIF metadata removal without decoding (there is no pure-Rust HEVC decoder).
//!
//! A HEIF file is a tree of ISO-BMFF boxes. Its top-level `meta` box lists the items
//! (`iinf`: one `infe` per item, with its type) and where each item's bytes are (`iloc`:
//! extents in the file, or in the `meta` box's own `idat`). Metadata are items too: EXIF
//! (type `Exif`, which carries the GPS position) and XMP (type `mime`, content type
//! `application/rdf+xml`). [`strip_metadata`] overwrites the bytes of those items with
//! zeros, in place: every offset in the file stays valid, the pixels are untouched, and
//! the position, device and dates are gone.
//!
//! Everything here is bounds-checked: a malformed file is refused with a reason, never a
//! panic (a property test feeds it arbitrary bytes).

/// What was removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// EXIF items erased.
    pub exif: usize,
    /// XMP items erased.
    pub xmp: usize,
    /// Bytes overwritten with zeros.
    pub bytes: u64,
}

struct BoxRef {
    kind: [u8; 4],
    /// Offset of the box's content (after its header) in the file.
    body: usize,
    /// End of the box (exclusive).
    end: usize,
}

/// Reads the boxes laid out in `data[start..end]`.
fn boxes(data: &[u8], start: usize, end: usize) -> Result<Vec<BoxRef>, String> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        if end - at < 8 {
            return Err("truncated box header".into());
        }
        let size32 = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let kind = [data[at + 4], data[at + 5], data[at + 6], data[at + 7]];
        let (size, header) = match size32 {
            0 => ((end - at) as u64, 8),
            1 => {
                if end - at < 16 {
                    return Err("truncated large box header".into());
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[at + 8..at + 16]);
                (u64::from_be_bytes(b), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header as u64 || size > (end - at) as u64 {
            return Err(format!(
                "box '{}' has an impossible size",
                String::from_utf8_lossy(&kind)
            ));
        }
        let box_end = at + size as usize;
        out.push(BoxRef {
            kind,
            body: at + header,
            end: box_end,
        });
        at = box_end;
    }
    Ok(out)
}

/// A cursor over one box's content.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], at: usize, end: usize) -> Self {
        Reader { data, at, end }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.end - self.at < n {
            return Err("truncated box".into());
        }
        let s = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let s = self.take(n)?;
        Ok(s.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u64, String> {
        self.uint(2)
    }
    fn u32(&mut self) -> Result<u64, String> {
        self.uint(4)
    }
    /// A null-terminated string (the terminator consumed); a missing one ends the box.
    fn cstr(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.data[self.at..self.end];
        match rest.iter().position(|b| *b == 0) {
            Some(i) => {
                self.at += i + 1;
                Ok(&rest[..i])
            }
            None => {
                self.at = self.end;
                Ok(rest)
            }
        }
    }
    /// Version and flags of a full box.
    fn full(&mut self) -> Result<u8, String> {
        let v = self.u8()?;
        self.take(3)?;
        Ok(v)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    Exif,
    Xmp,
}

/// The metadata items declared in `iinf`.
fn metadata_items(data: &[u8], iinf: &BoxRef) -> Result<Vec<(u64, Meta)>, String> {
    let mut r = Reader::new(data, iinf.body, iinf.end);
    let v = r.full()?;
    let _count = if v == 0 { r.u16()? } else { r.u32()? };
    let mut out = Vec::new();
    for b in boxes(data, r.at, iinf.end)? {
        if &b.kind != b"infe" {
            continue;
        }
        let mut e = Reader::new(data, b.body, b.end);
        let v = e.full()?;
        if v >= 2 {
            let id = if v == 2 { e.u16()? } else { e.u32()? };
            let _protection = e.u16()?;
            let item_type = e.take(4)?;
            let _name = e.cstr()?;
            match item_type {
                b"Exif" => out.push((id, Meta::Exif)),
                b"mime" => {
                    let content_type = e.cstr()?;
                    if content_type.eq_ignore_ascii_case(b"application/rdf+xml") {
                        out.push((id, Meta::Xmp));
                    }
                }
                _ => {}
            }
        } else {
            // Versions 0 and 1 have no item type: only a content type.
            let id = e.u16()?;
            let _protection = e.u16()?;
            let _name = e.cstr()?;
            let content_type = e.cstr()?;
            if content_type.eq_ignore_ascii_case(b"application/rdf+xml") {
                out.push((id, Meta::Xmp));
            }
        }
    }
    Ok(out)
}

struct Location {
    method: u64,
    base: u64,
    extents: Vec<(u64, u64)>,
}

/// Where each item is, from `iloc`.
fn locations(data: &[u8], iloc: &BoxRef) -> Result<Vec<(u64, Location)>, String> {
    let mut r = Reader::new(data, iloc.body, iloc.end);
    let v = r.full()?;
    if v > 2 {
        return Err(format!("unknown 'iloc' version {v}"));
    }
    let a = r.u8()?;
    let b = r.u8()?;
    let (offset_size, length_size) = (usize::from(a >> 4), usize::from(a & 0xf));
    let base_size = usize::from(b >> 4);
    let index_size = if v >= 1 { usize::from(b & 0xf) } else { 0 };
    for s in [offset_size, length_size, base_size, index_size] {
        if ![0, 4, 8].contains(&s) {
            return Err("'iloc' field size other than 0, 4 or 8".into());
        }
    }
    let count = if v < 2 { r.u16()? } else { r.u32()? };
    let mut out = Vec::new();
    for _ in 0..count {
        let id = if v < 2 { r.u16()? } else { r.u32()? };
        let method = if v >= 1 { r.u16()? & 0xf } else { 0 };
        let _data_ref = r.u16()?;
        let base = r.uint(base_size)?;
        let n = r.u16()?;
        let mut extents = Vec::new();
        for _ in 0..n {
            r.uint(index_size)?;
            let off = r.uint(offset_size)?;
            let len = r.uint(length_size)?;
            extents.push((off, len));
        }
        out.push((
            id,
            Location {
                method,
                base,
                extents,
            },
        ));
    }
    Ok(out)
}

/// Overwrites the EXIF and XMP items of a HEIF file with zeros. A file whose metadata
/// cannot be located is refused (the caller rejects the upload rather than keep a
/// position it cannot remove).
pub fn strip_metadata(data: &mut [u8]) -> Result<Stripped, String> {
    let top = boxes(data, 0, data.len())?;
    let Some(meta) = top.iter().find(|b| &b.kind == b"meta") else {
        return Err("no 'meta' box: not a HEIF image".into());
    };
    let mut r = Reader::new(data, meta.body, meta.end);
    r.full()?;
    let children = boxes(data, r.at, meta.end)?;
    let find = |k: &[u8; 4]| children.iter().find(|b| &b.kind == k);
    let Some(iinf) = find(b"iinf") else {
        return Ok(Stripped::default()); // no items listed: no metadata items
    };
    let wanted = metadata_items(data, iinf)?;
    if wanted.is_empty() {
        return Ok(Stripped::default());
    }
    let Some(iloc) = find(b"iloc") else {
        return Err("metadata items without locations ('iloc')".into());
    };
    let locs = locations(data, iloc)?;
    let idat = find(b"idat").map(|b| (b.body, b.end));
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut stripped = Stripped::default();
    for (id, what) in wanted {
        let Some((_, loc)) = locs.iter().find(|(i, _)| *i == id) else {
            return Err(format!("metadata item {id} has no location"));
        };
        let (origin, limit) = match loc.method {
            0 => (0usize, data.len()),
            1 => idat.ok_or("metadata item in a missing 'idat' box")?,
            m => return Err(format!("metadata item {id} uses construction method {m}")),
        };
        for (off, len) in &loc.extents {
            let start = (origin as u64)
                .checked_add(loc.base)
                .and_then(|s| s.checked_add(*off))
                .ok_or("extent offset overflows")?;
            let end = if *len == 0 {
                limit as u64
            } else {
                start.checked_add(*len).ok_or("extent length overflows")?
            };
            if start > end || end > limit as u64 || start < origin as u64 {
                return Err(format!("metadata item {id} lies outside the file"));
            }
            ranges.push((start as usize, end as usize));
        }
        match what {
            Meta::Exif => stripped.exif += 1,
            Meta::Xmp => stripped.xmp += 1,
        }
    }
    for (s, e) in ranges {
        stripped.bytes += (e - s) as u64;
        data[s..e].fill(0);
    }
    Ok(stripped)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn boxed(tag: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(tag);
        v.extend_from_slice(body);
        v
    }

    fn full(tag: &[u8], version: u8, body: &[u8]) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0];
        b.extend_from_slice(body);
        boxed(tag, &b)
    }

    fn infe(id: u16, item_type: &[u8; 4], content_type: Option<&str>) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(item_type);
        b.push(0); // empty name
        if let Some(ct) = content_type {
            b.extend_from_slice(ct.as_bytes());
            b.push(0);
        }
        full(b"infe", 2, &b)
    }

    /// A HEIF laid out as phones write it: ftyp, meta (iinf, iloc with 4-byte offsets
    /// into the file, idat), mdat holding the coded image, the EXIF block (with a GPS
    /// position) and an XMP packet. The image item's bytes are `image`.
    pub(crate) fn sample(image: &[u8]) -> Vec<u8> {
        let exif = b"\0\0\0\x06Exif\0\0MM\0*GPSLatitude 43.2965 N; Make SynthPhone".to_vec();
        let xmp = b"<x:xmpmeta><exif:GPSLongitude>5.3698E</exif:GPSLongitude></x:xmpmeta>".to_vec();
        let ftyp = boxed(b"ftyp", b"heic\0\0\0\0mif1heic");
        let mut iinf_body = 3u16.to_be_bytes().to_vec();
        iinf_body.extend_from_slice(&infe(1, b"hvc1", None));
        iinf_body.extend_from_slice(&infe(2, b"Exif", None));
        iinf_body.extend_from_slice(&infe(3, b"mime", Some("application/rdf+xml")));
        let iinf = full(b"iinf", 0, &iinf_body);
        // The iloc's size does not depend on the offsets, so build it twice.
        let iloc = |offsets: [u32; 3], lens: [u32; 3]| {
            let mut b = vec![0x44, 0x00]; // offset 4, length 4, base 0
            b.extend_from_slice(&3u16.to_be_bytes());
            for i in 0..3 {
                b.extend_from_slice(&((i + 1) as u16).to_be_bytes());
                b.extend_from_slice(&0u16.to_be_bytes()); // data reference
                b.extend_from_slice(&1u16.to_be_bytes()); // one extent
                b.extend_from_slice(&offsets[i].to_be_bytes());
                b.extend_from_slice(&lens[i].to_be_bytes());
            }
            full(b"iloc", 0, &b)
        };
        let lens = [image.len() as u32, exif.len() as u32, xmp.len() as u32];
        let meta_len = 12 + iinf.len() + iloc([0; 3], lens).len();
        let mdat_body_at = (ftyp.len() + meta_len + 8) as u32;
        let offsets = [
            mdat_body_at,
            mdat_body_at + lens[0],
            mdat_body_at + lens[0] + lens[1],
        ];
        let mut meta_body = vec![0u8; 4];
        meta_body.extend_from_slice(&iinf);
        meta_body.extend_from_slice(&iloc(offsets, lens));
        let mut out = ftyp;
        out.extend_from_slice(&boxed(b"meta", &meta_body));
        let mut mdat = image.to_vec();
        mdat.extend_from_slice(&exif);
        mdat.extend_from_slice(&xmp);
        out.extend_from_slice(&boxed(b"mdat", &mdat));
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn exif_and_xmp_are_erased_and_the_image_is_untouched() {
        let image = b"HEVC-CODED-PIXELS-0123456789".repeat(10);
        let mut f = sample(&image);
        let before = f.len();
        assert!(contains(&f, b"GPSLatitude") && contains(&f, b"GPSLongitude"));
        let s = strip_metadata(&mut f).expect("stripped");
        assert_eq!((s.exif, s.xmp), (1, 1));
        assert_eq!(f.len(), before);
        assert!(!contains(&f, b"GPSLatitude"));
        assert!(!contains(&f, b"GPSLongitude"));
        assert!(!contains(&f, b"SynthPhone"));
        assert!(
            contains(&f, &image),
            "the coded image is kept byte for byte"
        );
        // Running it again finds the same items (now zeros) and changes nothing.
        let again = f.clone();
        strip_metadata(&mut f).expect("idempotent");
        assert_eq!(f, again);
    }

    #[test]
    fn metadata_in_idat_is_erased() {
        // One Exif item stored inside the meta box (construction method 1).
        let exif = b"Exif\0\0GPSAltitude 120m";
        let iinf = full(
            b"iinf",
            0,
            &[&1u16.to_be_bytes()[..], &infe(7, b"Exif", None)].concat(),
        );
        let mut loc = vec![0x44, 0x00];
        loc.extend_from_slice(&1u16.to_be_bytes());
        loc.extend_from_slice(&7u16.to_be_bytes());
        loc.extend_from_slice(&1u16.to_be_bytes()); // construction method 1
        loc.extend_from_slice(&0u16.to_be_bytes());
        loc.extend_from_slice(&1u16.to_be_bytes());
        loc.extend_from_slice(&0u32.to_be_bytes());
        loc.extend_from_slice(&(exif.len() as u32).to_be_bytes());
        let iloc = full(b"iloc", 1, &loc);
        let mut meta_body = vec![0u8; 4];
        meta_body.extend_from_slice(&iinf);
        meta_body.extend_from_slice(&iloc);
        meta_body.extend_from_slice(&boxed(b"idat", exif));
        let mut f = boxed(b"ftyp", b"heic\0\0\0\0mif1heic");
        f.extend_from_slice(&boxed(b"meta", &meta_body));
        let s = strip_metadata(&mut f).expect("stripped");
        assert_eq!(s.exif, 1);
        assert!(!contains(&f, b"GPSAltitude"));
    }

    #[test]
    fn unlocatable_metadata_is_refused() {
        let mut f = sample(b"pixels");
        // Point the Exif extent past the end of the file.
        // After the type: version and flags (4), sizes (2), count (2), then 14 bytes per
        // item (id, data reference, extent count, offset, length); Exif is the second.
        let iloc = f.windows(4).position(|w| w == b"iloc").expect("iloc");
        let exif_item = iloc + 4 + 4 + 2 + 2 + 14;
        f[exif_item + 6..exif_item + 10].copy_from_slice(&(u32::MAX - 8).to_be_bytes());
        assert!(strip_metadata(&mut f).is_err());
        let mut no_meta = boxed(b"ftyp", b"heic\0\0\0\0mif1heic");
        assert!(strip_metadata(&mut no_meta).is_err());
    }

    /// A real HEIC written by libheif's `heif-enc` from a synthetic gradient, with a GPS
    /// position, a device make and an XMP creator added by exiftool (see
    /// `tests/fixtures/README.md`).
    const REAL: &[u8] = include_bytes!("../../tests/fixtures/synthetic-gps.heic");

    fn tool(name: &str) -> bool {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found && std::env::var_os("CI").is_some() {
            panic!("{name} is needed in CI (.ci/run installs it)");
        }
        found
    }

    #[test]
    fn a_real_heic_loses_its_position_and_still_decodes() {
        let mut f = REAL.to_vec();
        assert!(contains(&f, b"SynthPhone"));
        let s = strip_metadata(&mut f).expect("stripped");
        assert_eq!((s.exif, s.xmp), (1, 1));
        assert_eq!(f.len(), REAL.len());
        assert!(!contains(&f, b"SynthPhone") && !contains(&f, b"Synthetic"));
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("stripped.heic");
        std::fs::write(&path, &f).expect("written");
        // Independent readers: exiftool finds no position, libheif still decodes the image.
        if tool("exiftool") {
            let out = std::process::Command::new("exiftool")
                .args(["-a", "-G", "-s"])
                .arg(&path)
                .output()
                .expect("exiftool runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("ImageWidth") || text.contains("ImageSize"),
                "{text}"
            );
            for tag in ["GPS", "Make", "Creator"] {
                assert!(!text.contains(tag), "{tag} still there:\n{text}");
            }
        }
        if tool("heif-convert") {
            let png = dir.path().join("decoded.png");
            let st = std::process::Command::new("heif-convert")
                .arg(&path)
                .arg(&png)
                .output()
                .expect("heif-convert runs");
            assert!(
                st.status.success(),
                "{}",
                String::from_utf8_lossy(&st.stderr)
            );
            let img = image::open(&png).expect("a PNG");
            assert_eq!((img.width(), img.height()), (64, 48));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = strip_metadata(&mut data);
        }

        #[test]
        fn corrupted_samples_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
            let mut f = sample(b"0123456789abcdef");
            let n = f.len();
            for (i, b) in flips {
                f[i % n] = b;
            }
            let _ = strip_metadata(&mut f);
        }
    }
}
