//! The blob store: where encrypted attachment blobs live. One interface over a local folder
//! (default, `<data_dir>/blobs`) and an S3-compatible store (`s3.rs`). Blobs are opaque,
//! already-encrypted bytes named by a random key; names given by users never reach a path.
//!
//! Writes go through a [`Spool`]: a temp file (`tmp/<random>.part`) written, then fsynced,
//! then [`BlobStore::publish`]ed under its key (local: rename into `blobs/xx/<key>` and
//! fsync the directory). Only after that does the caller commit the database row, and only
//! after the commit does it answer 2xx, so a row never points to a missing blob; a crash
//! leaves at most orphans (temp files, or published blobs without a row), which
//! [`BlobStore::sweep`] removes once they are older than a grace period.

pub mod s3;

use crate::kernel::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A readable blob (or part of one).
pub type BlobReader = std::pin::Pin<Box<dyn AsyncRead + Send>>;

#[derive(Debug, Clone)]
pub enum BlobStore {
    Local(LocalStore),
    S3(Box<s3::S3Store>),
}

/// A blob store in a local folder.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

/// A blob being written to a temp file.
pub struct Spool {
    path: PathBuf,
    /// Buffered: the cipher hands over 64 KiB chunks and multipart parts arrive in a few
    /// KiB; each `tokio::fs` write is a trip to the blocking pool, so write in large pieces.
    file: tokio::io::BufWriter<tokio::fs::File>,
    len: u64,
}

/// Size of a spool's write buffer.
const SPOOL_BUFFER: usize = 1024 * 1024;

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Unavailable(format!("blob store: {what}: {e}"))
}

/// Keys are ours (UUIDs): refuse anything else, so a key can never climb out of the store.
fn check_key(key: &str) -> Result<()> {
    if key.len() < 8
        || key.len() > 80
        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::internal(format!("bad blob key '{key}'")));
    }
    Ok(())
}

impl BlobStore {
    /// From `CONSILIUM_BLOB_URL`: `file:///path` (or a plain path), or `s3://bucket/prefix`
    /// with `s3` settings; empty means `<data_dir>/blobs`.
    pub fn from_url(
        url: Option<&str>,
        data_dir: &Path,
        s3: impl FnOnce(&str) -> s3::S3Settings,
    ) -> Result<BlobStore> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(BlobStore::Local(LocalStore::new(data_dir.join("blobs"))?)),
            Some(u) if u.starts_with("file://") => Ok(BlobStore::Local(LocalStore::new(
                PathBuf::from(&u["file://".len()..]),
            )?)),
            Some(u) if u.starts_with("s3://") => Ok(BlobStore::S3(Box::new(s3::S3Store::new(
                &s3(u),
                data_dir.join("blob-spool"),
            )?))),
            Some(u) if !u.contains("://") => {
                Ok(BlobStore::Local(LocalStore::new(PathBuf::from(u))?))
            }
            Some(u) => Err(Error::Unavailable(format!(
                "unsupported blob URL '{u}' (expected file:///path or s3://bucket/prefix)"
            ))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            BlobStore::Local(l) => format!("file://{}", l.root.display()),
            BlobStore::S3(s) => s.describe(),
        }
    }

    /// Starts writing a new blob.
    pub async fn spool(&self) -> Result<Spool> {
        match self {
            BlobStore::Local(l) => l.spool().await,
            BlobStore::S3(s) => s.spool().await,
        }
    }

    /// Makes a finished spool durable under `key`.
    pub async fn publish(&self, spool: Spool, key: &str) -> Result<()> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => l.publish(spool, key).await,
            BlobStore::S3(s) => s.publish(spool, key).await,
        }
    }

    /// Reads `len` bytes from `offset`.
    pub async fn read(&self, key: &str, offset: u64, len: u64) -> Result<BlobReader> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => l.read(key, offset, len).await,
            BlobStore::S3(s) => s.read(key, offset, len).await,
        }
    }

    /// A whole blob in memory (small blobs only: thumbnails, tests).
    pub async fn read_all(&self, key: &str) -> Result<Vec<u8>> {
        let mut r = self.read(key, 0, u64::MAX).await?;
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.map_err(io("read"))?;
        Ok(v)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        match self {
            BlobStore::Local(l) => l.delete(key).await,
            BlobStore::S3(s) => s.delete(key).await,
        }
    }

    /// Every stored blob key with its age.
    pub async fn list(&self) -> Result<Vec<(String, Duration)>> {
        match self {
            BlobStore::Local(l) => l.list().await,
            BlobStore::S3(s) => s.list().await,
        }
    }

    /// Removes temp files older than `grace` (uploads interrupted by a crash).
    pub async fn sweep_temp(&self, grace: Duration) -> Result<usize> {
        match self {
            BlobStore::Local(l) => l.sweep_temp(grace).await,
            BlobStore::S3(s) => s.sweep_temp(grace).await,
        }
    }
}

impl Spool {
    /// A new temp file in `dir`.
    pub(crate) async fn create(dir: &Path) -> Result<Spool> {
        let path = dir.join(format!("{}.part", crate::kernel::new_id()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(io("create temp file"))?;
        Ok(Spool {
            path,
            file: tokio::io::BufWriter::with_capacity(SPOOL_BUFFER, file),
            len: 0,
        })
    }

    /// Flushes and fsyncs; returns the temp file's path and length.
    pub(crate) async fn close(mut self) -> Result<(PathBuf, u64)> {
        self.file.flush().await.map_err(io("flush"))?;
        self.file.get_mut().sync_all().await.map_err(io("fsync"))?;
        Ok((self.path, self.len))
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.file.write_all(data).await.map_err(io("write"))?;
        self.len += data.len() as u64;
        Ok(())
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Drops an unfinished spool (best effort; the sweep removes what remains).
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Result<LocalStore> {
        for d in [root.join("tmp"), root.join("blobs")] {
            std::fs::create_dir_all(&d).map_err(io("create folder"))?;
        }
        Ok(LocalStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root
            .join("blobs")
            .join(&key[key.len() - 2..])
            .join(key)
    }

    async fn spool(&self) -> Result<Spool> {
        Spool::create(&self.root.join("tmp")).await
    }

    async fn publish(&self, spool: Spool, key: &str) -> Result<()> {
        let (tmp, _) = spool.close().await?;
        let dest = self.path_of(key);
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let new_dir = !tokio::fs::try_exists(&dir).await.unwrap_or(false);
        if new_dir {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(io("create folder"))?;
        }
        if let Err(e) = tokio::fs::rename(&tmp, &dest).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io("rename")(e));
        }
        // The new name is durable once its folder is synced (and, for a folder just
        // created, the folder's own entry in `blobs/`). The temp folder is not synced: a
        // crash may at worst bring back the temp name too, which the sweep removes.
        let mut folders = vec![dir];
        if new_dir {
            folders.push(self.root.join("blobs"));
        }
        for d in folders {
            let f = tokio::fs::File::open(&d).await.map_err(io("open folder"))?;
            f.sync_all().await.map_err(io("fsync folder"))?;
        }
        Ok(())
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<BlobReader> {
        let mut f = tokio::fs::File::open(self.path_of(key))
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::internal(format!("blob {key} is missing from the store"))
                } else {
                    io("open")(e)
                }
            })?;
        if offset > 0 {
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(io("seek"))?;
        }
        // Large reads: each `tokio::fs` read is a trip to the blocking pool.
        Ok(Box::pin(
            tokio::io::BufReader::with_capacity(SPOOL_BUFFER, f).take(len),
        ))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete")(e)),
        }
    }

    async fn list(&self) -> Result<Vec<(String, Duration)>> {
        let mut out = Vec::new();
        let now = SystemTime::now();
        let mut dirs = tokio::fs::read_dir(self.root.join("blobs"))
            .await
            .map_err(io("list"))?;
        while let Some(d) = dirs.next_entry().await.map_err(io("list"))? {
            if !d.file_type().await.map_err(io("list"))?.is_dir() {
                continue;
            }
            let mut files = tokio::fs::read_dir(d.path()).await.map_err(io("list"))?;
            while let Some(f) = files.next_entry().await.map_err(io("list"))? {
                let age = f
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default();
                out.push((f.file_name().to_string_lossy().into_owned(), age));
            }
        }
        Ok(out)
    }

    async fn sweep_temp(&self, grace: Duration) -> Result<usize> {
        sweep_folder(&self.root.join("tmp"), grace).await
    }
}

/// Removes the files of `dir` older than `grace`.
pub(crate) async fn sweep_folder(dir: &Path, grace: Duration) -> Result<usize> {
    let now = SystemTime::now();
    let mut n = 0;
    let mut files = tokio::fs::read_dir(dir).await.map_err(io("list"))?;
    while let Some(f) = files.next_entry().await.map_err(io("list"))? {
        let old = f
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= grace);
        if old && tokio::fs::remove_file(f.path()).await.is_ok() {
            n += 1;
        }
    }
    Ok(n)
}
