//! Attachments: photos, PDFs, imaging and text joined to a case, encrypted at rest in the
//! blob store (`storage`). `model.rs` decides types and inspects content (pure),
//! `crypto.rs` is the envelope encryption (pure), `images.rs` re-encodes images,
//! `repo.rs` holds the SQL, `service.rs` the use cases.

pub mod admin;
pub mod crypto;
pub mod heif;
pub mod images;
pub mod model;
pub mod repo;
pub mod service;

use crate::kernel::{Error, Result};
use crate::storage::BlobStore;
use crypto::{CryptoError, Key, Keyring};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use tokio::sync::Semaphore;

/// Limits and options of attachments.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_case_bytes: u64,
    /// Keep the uploaded original of re-encoded images (encrypted too).
    pub keep_originals: bool,
}

/// Where the key-encryption keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file (`id key` lines, the current key last), created with mode 0600 if absent.
    File(PathBuf),
    /// `CONSILIUM_MASTER_KEYS`: `id:base64key[,id:base64key…]`, the current key last.
    Env(String),
}

impl KeySource {
    pub fn load(&self) -> Result<Keyring> {
        match self {
            KeySource::Env(v) => Keyring::parse(v)
                .map_err(|e| Error::Unavailable(format!("CONSILIUM_MASTER_KEYS: {e}"))),
            KeySource::File(p) => match std::fs::read_to_string(p) {
                Ok(text) => Keyring::parse(&text)
                    .map_err(|e| Error::Unavailable(format!("key file {}: {e}", p.display()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let ring = Keyring::generate();
                    write_key_file(p, &ring)?;
                    tracing::info!(file = %p.display(), "created a new key file: back it up apart from the data");
                    Ok(ring)
                }
                Err(e) => Err(Error::Unavailable(format!(
                    "cannot read key file {}: {e}",
                    p.display()
                ))),
            },
        }
    }
}

/// Writes a key file atomically (temp file with mode 0600, fsync, rename, fsync folder).
pub fn write_key_file(path: &Path, ring: &Keyring) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| Error::Unavailable(format!("key file {}: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".{}.tmp", crate::kernel::new_id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(ring.to_file_text().as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

/// Everything attachments need at run time.
pub struct Attachments {
    pub store: BlobStore,
    pub limits: Limits,
    keys: KeySource,
    ring: RwLock<Keyring>,
    /// Images are decoded in memory: at most this many at once.
    pub(crate) decode_permits: Semaphore,
}

impl Attachments {
    pub fn new(store: BlobStore, keys: KeySource, limits: Limits) -> Result<Attachments> {
        let ring = keys.load()?;
        Ok(Attachments {
            store,
            limits,
            keys,
            ring: RwLock::new(ring),
            decode_permits: Semaphore::new(2),
        })
    }

    pub fn key_source(&self) -> &KeySource {
        &self.keys
    }

    /// Reads the key source again (after a rotation).
    pub fn reload(&self) -> Result<()> {
        let fresh = self.keys.load()?;
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// The current key-encryption key and its id.
    pub fn current_kek(&self) -> (String, Key) {
        let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
        let (id, k) = ring.current();
        (id.to_string(), k.clone())
    }

    /// A key-encryption key by id; reloads the key source once if it is unknown (a key added
    /// by `consilium keys rotate` while the server runs).
    pub fn kek(&self, id: &str) -> Result<Key> {
        {
            let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
            if let Ok(k) = ring.get(id) {
                return Ok(k.clone());
            }
        }
        let fresh = self.keys.load()?;
        let k = fresh.get(id).cloned().map_err(|e| match e {
            CryptoError::UnknownKey(id) => Error::Internal(format!(
                "key-encryption key '{id}' is not in the key file or CONSILIUM_MASTER_KEYS"
            )),
            other => Error::internal(other),
        });
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        k
    }
}
