//! Envelope encryption of attachments (pure: no I/O).
//!
//! - A **key-encryption key** (KEK, 32 bytes, with a key id) comes from the key file or the
//!   environment ([`Keyring`]). It wraps one **case key** per case; each case key wraps one
//!   **file key** per attachment. Destroying a case key makes every copy of the case's blobs
//!   unreadable (crypto-shredding); rotating the KEK rewraps case keys, never blobs.
//! - Blobs are XChaCha20-Poly1305 in a **chunked stream** ([`Encryptor`], [`open_chunk`]):
//!   a 28-byte header (magic, chunk size, random 16-byte nonce prefix), then chunks of
//!   [`CHUNK`] plaintext bytes each sealed with nonce = prefix ‖ index and associated data
//!   binding the header, the case id, the blob id, the chunk index and a last-chunk flag. So a
//!   flipped byte, a truncated, extended or reordered blob, and a blob moved to another file
//!   or another case all fail to authenticate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Authentication tag per chunk.
pub const TAG: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const CT_CHUNK: usize = CHUNK + TAG;
const MAGIC: &[u8; 8] = b"CSLBLOB1";
/// Header: magic (8), chunk size (4, big-endian), nonce prefix (16).
pub const HEADER: usize = 28;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the blob does not authenticate (altered, truncated, reordered or not this file's)")]
    Tampered,
    #[error("unknown key id '{0}'")]
    UnknownKey(String),
    #[error("malformed key material: {0}")]
    Malformed(String),
}

/// A 32-byte symmetric key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    pub fn random() -> Key {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Key(k)
    }
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
    pub fn to_b64(&self) -> String {
        B64.encode(self.0)
    }
    pub fn from_b64(s: &str) -> Result<Key, CryptoError> {
        let v = B64
            .decode(s.trim())
            .map_err(|e| CryptoError::Malformed(format!("not base64: {e}")))?;
        let arr: [u8; 32] = v
            .try_into()
            .map_err(|_| CryptoError::Malformed("a key is 32 bytes".into()))?;
        Ok(Key(arr))
    }

    /// Wraps `key` under this key, bound to `context` (random nonce; base64 of nonce ‖ ct).
    pub fn wrap(&self, key: &Key, context: &str) -> String {
        self.seal(&key.0, context)
    }

    pub fn unwrap_key(&self, wrapped: &str, context: &str) -> Result<Key, CryptoError> {
        let pt = self.open(wrapped, context)?;
        let arr: [u8; 32] = pt.try_into().map_err(|_| CryptoError::Tampered)?;
        Ok(Key(arr))
    }

    /// Encrypts a short secret under this key, bound to `context` (XChaCha20-Poly1305,
    /// random nonce; base64 of nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, msg: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// The secret `seal` encrypted with this key and this `context`; anything else (another
    /// key or context, a flipped byte) is `Tampered`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        let raw = B64.decode(sealed).map_err(|_| CryptoError::Tampered)?;
        if raw.len() < 24 + TAG {
            return Err(CryptoError::Tampered);
        }
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&raw[..24]);
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &raw[24..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }
}

/// What a case key is bound to when wrapped by the KEK.
pub fn case_key_context(case_id: &str, kek_id: &str) -> String {
    format!("consilium/case-key/v1\u{1f}{case_id}\u{1f}{kek_id}")
}

/// What a file key is bound to when wrapped by its case key.
pub fn file_key_context(case_id: &str, attachment_id: &str) -> String {
    format!("consilium/file-key/v1\u{1f}{case_id}\u{1f}{attachment_id}")
}

/// The key-encryption keys: every key still needed to unwrap, and the current one (which
/// wraps new case keys). Key ids are stored next to each wrapped case key.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Key)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring({ids:?})")
    }
}

impl Keyring {
    /// Parses `id key` lines (file) or `id:key` items separated by commas (environment);
    /// `#` starts a comment. The last key is the current one.
    pub fn parse(text: &str) -> Result<Keyring, CryptoError> {
        let mut keys = Vec::new();
        for item in text.split(['\n', ',']) {
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let (id, k) = item
                .split_once([' ', ':'])
                .ok_or_else(|| CryptoError::Malformed("expected 'id key'".into()))?;
            let id = id.trim();
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(CryptoError::Malformed(format!("bad key id '{id}'")));
            }
            if keys.iter().any(|(i, _): &(String, Key)| i == id) {
                return Err(CryptoError::Malformed(format!("duplicate key id '{id}'")));
            }
            keys.push((id.to_string(), Key::from_b64(k)?));
        }
        if keys.is_empty() {
            return Err(CryptoError::Malformed("no key".into()));
        }
        Ok(Keyring { keys })
    }

    /// The file form: one `id key` line per key, the current one last.
    pub fn to_file_text(&self) -> String {
        let mut s = String::from(
            "# Consilium key-encryption keys: keep this file secret and backed up apart from the data.\n\
             # Losing it makes every attachment unreadable. The last key is the current one.\n",
        );
        for (id, k) in &self.keys {
            s.push_str(&format!("{id} {}\n", k.to_b64()));
        }
        s
    }

    pub fn generate() -> Keyring {
        Keyring {
            keys: vec![(new_key_id(), Key::random())],
        }
    }

    /// Adds a new current key.
    pub fn with_new_key(mut self) -> Keyring {
        self.keys.push((new_key_id(), Key::random()));
        self
    }

    pub fn current(&self) -> (&str, &Key) {
        let (id, k) = self.keys.last().expect("a keyring is never empty");
        (id, k)
    }

    pub fn get(&self, id: &str) -> Result<&Key, CryptoError> {
        self.keys
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, k)| k)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_string()))
    }

    /// Keeps the keys `keep` accepts (the current one always); returns the removed ids.
    pub fn retain(mut self, keep: impl Fn(&str) -> bool) -> (Keyring, Vec<String>) {
        let current = self.current().0.to_string();
        let mut removed = Vec::new();
        self.keys.retain(|(id, _)| {
            let k = *id == current || keep(id);
            if !k {
                removed.push(id.clone());
            }
            k
        });
        (self, removed)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|(i, _)| i.clone()).collect()
    }
}

fn new_key_id() -> String {
    let mut b = [0u8; 4];
    rand::rng().fill_bytes(&mut b);
    let day = time::OffsetDateTime::now_utc().date();
    format!(
        "kek-{:04}{:02}{:02}-{}",
        day.year(),
        u8::from(day.month()),
        day.day(),
        hex::encode(b)
    )
}

/// Identifies what a blob belongs to; bound into every chunk.
#[derive(Debug, Clone)]
pub struct BlobContext {
    pub case_id: String,
    /// The blob's own id (attachment id and role, e.g. `…/main`, `…/thumb`).
    pub blob_id: String,
}

fn chunk_aad(header: &[u8], ctx: &BlobContext, index: u64, last: bool) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER + 96);
    aad.extend_from_slice(b"consilium/blob/v1");
    aad.extend_from_slice(header);
    for part in [ctx.case_id.as_bytes(), ctx.blob_id.as_bytes()] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

fn chunk_nonce(prefix: &[u8], index: u64) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(prefix);
    n[16..].copy_from_slice(&index.to_be_bytes());
    XNonce::from(n)
}

/// Encrypts a stream: feed plaintext in any pieces, get ciphertext out; `finish` seals the
/// last chunk (always one, possibly empty).
pub struct Encryptor {
    cipher: XChaCha20Poly1305,
    ctx: BlobContext,
    header: [u8; HEADER],
    buf: Vec<u8>,
    index: u64,
    started: bool,
}

impl Encryptor {
    pub fn new(key: &Key, ctx: BlobContext) -> Encryptor {
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&(CHUNK as u32).to_be_bytes());
        rand::rng().fill_bytes(&mut header[12..]);
        Encryptor {
            cipher: key.cipher(),
            ctx,
            header,
            buf: Vec::with_capacity(CHUNK + 1),
            index: 0,
            started: false,
        }
    }

    fn seal(&mut self, data: &[u8], last: bool, out: &mut Vec<u8>) {
        let aad = chunk_aad(&self.header, &self.ctx, self.index, last);
        let nonce = chunk_nonce(&self.header[12..], self.index);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: data,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        self.index += 1;
    }

    /// Ciphertext ready so far (whole chunks; one chunk is held back until it is known
    /// whether it is the last).
    pub fn update(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.started {
            out.extend_from_slice(&self.header);
            self.started = true;
        }
        while !data.is_empty() {
            if self.buf.len() == CHUNK {
                let chunk = std::mem::take(&mut self.buf);
                self.seal(&chunk, false, &mut out);
                self.buf = chunk;
                self.buf.clear();
            }
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        out
    }

    pub fn finish(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.started {
            out.extend_from_slice(&self.header);
        }
        let chunk = std::mem::take(&mut self.buf);
        self.seal(&chunk, true, &mut out);
        out
    }
}

/// Number of chunks of a blob holding `size` plaintext bytes.
pub fn chunk_count(size: u64) -> u64 {
    if size == 0 {
        1
    } else {
        size.div_ceil(CHUNK as u64)
    }
}

/// Ciphertext length of a blob holding `size` plaintext bytes.
pub fn ciphertext_len(size: u64) -> u64 {
    HEADER as u64 + size + chunk_count(size) * TAG as u64
}

/// Checks a blob's header; returns it for [`open_chunk`].
pub fn read_header(bytes: &[u8]) -> Result<[u8; HEADER], CryptoError> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC || bytes[8..12] != (CHUNK as u32).to_be_bytes()
    {
        return Err(CryptoError::Tampered);
    }
    let mut h = [0u8; HEADER];
    h.copy_from_slice(&bytes[..HEADER]);
    Ok(h)
}

/// Opens chunk `index` of a blob of `size` plaintext bytes.
pub fn open_chunk(
    key: &Key,
    header: &[u8; HEADER],
    ctx: &BlobContext,
    size: u64,
    index: u64,
    ct: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let n = chunk_count(size);
    if index >= n {
        return Err(CryptoError::Tampered);
    }
    let last = index == n - 1;
    let aad = chunk_aad(header, ctx, index, last);
    key.cipher()
        .decrypt(
            &chunk_nonce(&header[12..], index),
            Payload { msg: ct, aad: &aad },
        )
        .map_err(|_| CryptoError::Tampered)
}

/// Decrypts a whole blob held in memory (tests, thumbnails).
pub fn open_all(
    key: &Key,
    ctx: &BlobContext,
    size: u64,
    blob: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if blob.len() as u64 != ciphertext_len(size) {
        return Err(CryptoError::Tampered);
    }
    let header = read_header(blob)?;
    let mut out = Vec::with_capacity(size as usize);
    for (i, ct) in blob[HEADER..].chunks(CT_CHUNK).enumerate() {
        out.extend(open_chunk(key, &header, ctx, size, i as u64, ct)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx(case: &str, blob: &str) -> BlobContext {
        BlobContext {
            case_id: case.into(),
            blob_id: blob.into(),
        }
    }

    fn seal(key: &Key, c: &BlobContext, data: &[u8], piece: usize) -> Vec<u8> {
        let mut e = Encryptor::new(key, c.clone());
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            out.extend(e.update(p));
        }
        out.extend(e.finish());
        out
    }

    #[test]
    fn round_trip_and_every_tampering_detected() {
        let key = Key::random();
        let c = ctx("case-a", "file-1/main");
        let data: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| (i % 251) as u8).collect();
        let blob = seal(&key, &c, &data, 1000);
        assert_eq!(blob.len() as u64, ciphertext_len(data.len() as u64));
        let size = data.len() as u64;
        assert_eq!(open_all(&key, &c, size, &blob).expect("opens"), data);

        // A flipped byte anywhere: header, any chunk, any tag.
        for pos in [0, 10, 20, HEADER, HEADER + CT_CHUNK + 5, blob.len() - 1] {
            let mut b = blob.clone();
            b[pos] ^= 1;
            assert!(open_all(&key, &c, size, &b).is_err(), "flip at {pos}");
        }
        // Truncated to whole chunks (claiming the shorter size), or cut short.
        let cut = &blob[..HEADER + 2 * CT_CHUNK];
        assert!(open_all(&key, &c, (2 * CHUNK) as u64, cut).is_err());
        assert!(open_all(&key, &c, size, &blob[..blob.len() - 1]).is_err());
        // Chunks swapped.
        let mut swapped = blob[..HEADER].to_vec();
        swapped.extend_from_slice(&blob[HEADER + CT_CHUNK..HEADER + 2 * CT_CHUNK]);
        swapped.extend_from_slice(&blob[HEADER..HEADER + CT_CHUNK]);
        swapped.extend_from_slice(&blob[HEADER + 2 * CT_CHUNK..]);
        assert!(open_all(&key, &c, size, &swapped).is_err());
        // Same key, another case or another file.
        assert!(open_all(&key, &ctx("case-b", "file-1/main"), size, &blob).is_err());
        assert!(open_all(&key, &ctx("case-a", "file-2/main"), size, &blob).is_err());
        // Another key.
        assert!(open_all(&Key::random(), &c, size, &blob).is_err());
    }

    #[test]
    fn empty_and_exact_multiple_sizes() {
        let key = Key::random();
        let c = ctx("c", "f");
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let data = vec![7u8; n];
            let blob = seal(&key, &c, &data, 4096);
            assert_eq!(blob.len() as u64, ciphertext_len(n as u64), "{n}");
            assert_eq!(open_all(&key, &c, n as u64, &blob).expect("opens"), data);
        }
    }

    #[test]
    fn keys_wrap_bound_to_their_context() {
        let kek = Key::random();
        let dek = Key::random();
        let w = kek.wrap(&dek, &case_key_context("c1", "k1"));
        assert_eq!(kek.unwrap_key(&w, &case_key_context("c1", "k1")), Ok(dek));
        assert!(kek.unwrap_key(&w, &case_key_context("c2", "k1")).is_err());
        assert!(
            Key::random()
                .unwrap_key(&w, &case_key_context("c1", "k1"))
                .is_err()
        );
    }

    #[test]
    fn keyring_file_and_env_forms() {
        let ring = Keyring::generate().with_new_key();
        let text = ring.to_file_text();
        let again = Keyring::parse(&text).expect("parses");
        assert_eq!(again.ids(), ring.ids());
        assert_eq!(again.current().0, ring.ids()[1]);
        let env = format!("a:{},b:{}", Key::random().to_b64(), Key::random().to_b64());
        let r = Keyring::parse(&env).expect("env form");
        assert_eq!(r.current().0, "b");
        assert!(r.get("a").is_ok() && r.get("c").is_err());
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("x:notbase64").is_err());
        assert!(
            !format!("{r:?}").contains(&env[2..10]),
            "keys never printed"
        );
    }

    proptest! {
        #[test]
        fn any_chunking_round_trips(data in proptest::collection::vec(any::<u8>(), 0..200_000), piece in 1usize..100_000) {
            let key = Key::random();
            let c = ctx("c", "f");
            let blob = seal(&key, &c, &data, piece);
            prop_assert_eq!(open_all(&key, &c, data.len() as u64, &blob).expect("opens"), data);
        }
    }
}
