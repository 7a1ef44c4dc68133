//! An S3-compatible blob store (AWS S3, MinIO, Garage, Ceph RGW, s3s-fs…): requests signed
//! with SigV4 (presigned URLs, `rusty-s3`), sent with `reqwest`, bodies streamed both ways.
//! A blob is spooled to a local temp file first (encrypted already), then PUT with its
//! length; S3 answers 200 only once the object is durable, which is what "published" means.

use super::{BlobReader, Spool};
use crate::kernel::{Error, Result};
use futures_util::TryStreamExt;
use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const SIGN_FOR: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct S3Store {
    bucket: Bucket,
    credentials: Credentials,
    /// Key prefix inside the bucket (empty, or ending with `/`).
    prefix: String,
    client: reqwest::Client,
    /// Local folder for spools (temp files) before they are sent.
    spool_dir: PathBuf,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Store({}/{})", self.bucket.name(), self.prefix)
    }
}

/// Connection settings of an S3 store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `s3://bucket/prefix`.
    pub url: String,
    /// `http(s)://host:port`; default AWS for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Path-style requests (`endpoint/bucket/key`), needed by most self-hosted stores.
    pub path_style: bool,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("S3 blob store: {what}: {e}"))
}

impl S3Store {
    pub fn new(s: &S3Settings, spool_dir: PathBuf) -> Result<S3Store> {
        let rest = s
            .url
            .strip_prefix("s3://")
            .ok_or_else(|| Error::Unavailable("an S3 blob URL is s3://bucket/prefix".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Unavailable("the S3 blob URL names no bucket".into()));
        }
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let endpoint = s
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", s.region));
        let endpoint = url::Url::parse(&endpoint)
            .map_err(|e| Error::Unavailable(format!("bad S3 endpoint '{endpoint}': {e}")))?;
        let style = if s.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, bucket.to_string(), s.region.clone())
            .map_err(|e| Error::Unavailable(format!("bad S3 bucket settings: {e}")))?;
        std::fs::create_dir_all(&spool_dir).map_err(|e| unavailable("spool folder", e))?;
        Ok(S3Store {
            bucket,
            credentials: Credentials::new(s.access_key.clone(), s.secret_key.clone()),
            prefix,
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| unavailable("HTTP client", e))?,
            spool_dir,
        })
    }

    pub fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket.name(), self.prefix)
    }

    fn object(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn spool(&self) -> Result<Spool> {
        Spool::create(&self.spool_dir).await
    }

    pub async fn publish(&self, spool: Spool, key: &str) -> Result<()> {
        let (path, len) = spool.close().await?;
        let r = self.put_file(&path, len, key).await;
        let _ = tokio::fs::remove_file(&path).await;
        r
    }

    async fn put_file(&self, path: &std::path::Path, len: u64, key: &str) -> Result<()> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| unavailable("spool", e))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &self.object(key))
            .sign(SIGN_FOR);
        let resp = self
            .client
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .map_err(|e| unavailable("PUT", e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(unavailable("PUT", format!("{status}: {text}")));
        }
        Ok(())
    }

    pub async fn read(&self, key: &str, offset: u64, len: u64) -> Result<BlobReader> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &self.object(key))
            .sign(SIGN_FOR);
        let mut req = self.client.get(url);
        if offset > 0 || len != u64::MAX {
            let end = offset.saturating_add(len).saturating_sub(1);
            let range = if len == u64::MAX || end == u64::MAX - 1 {
                format!("bytes={offset}-")
            } else {
                format!("bytes={offset}-{end}")
            };
            req = req.header(reqwest::header::RANGE, range);
        }
        let resp = req.send().await.map_err(|e| unavailable("GET", e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Error::internal(format!(
                "blob {key} is missing from the store"
            )));
        }
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            // Reading past the end: nothing.
            return Ok(Box::pin(tokio::io::empty()));
        }
        if !status.is_success() {
            return Err(unavailable("GET", status));
        }
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &self.object(key))
            .sign(SIGN_FOR);
        let resp = self
            .client
            .delete(url)
            .send()
            .await
            .map_err(|e| unavailable("DELETE", e))?;
        if resp.status().is_success() || resp.status() == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(unavailable("DELETE", resp.status()))
        }
    }

    pub async fn list(&self) -> Result<Vec<(String, Duration)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let now = SystemTime::now();
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            if !self.prefix.is_empty() {
                action.with_prefix(self.prefix.as_str());
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGN_FOR);
            let resp = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| unavailable("LIST", e))?;
            if !resp.status().is_success() {
                return Err(unavailable("LIST", resp.status()));
            }
            let text = resp.text().await.map_err(|e| unavailable("LIST", e))?;
            let parsed =
                ListObjectsV2::parse_response(&text).map_err(|e| unavailable("LIST", e))?;
            for c in parsed.contents {
                let Some(key) = c.key.strip_prefix(&self.prefix) else {
                    continue;
                };
                if key.contains('/') {
                    continue;
                }
                let age = c
                    .last_modified
                    .as_deref()
                    .and_then(|t| {
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .and_then(|t| now.duration_since(SystemTime::from(t)).ok())
                    .unwrap_or_default();
                out.push((key.to_string(), age));
            }
            match parsed.next_continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    pub async fn sweep_temp(&self, grace: Duration) -> Result<usize> {
        super::sweep_folder(&self.spool_dir, grace).await
    }
}
