//! Attachment use cases: upload (authorise → stream into encrypted blobs → commit rows and
//! audit in one transaction → answer), list, download (audited, ranges), purge, key
//! rotation, orphan sweep and the store check (N2/N6).

use super::crypto::{
    self, BlobContext, CHUNK, CT_CHUNK, Encryptor, HEADER, Key, TAG, case_key_context,
    file_key_context,
};
use super::model::{self, Kind, PdfScanner, Refusal, SNIFF_BYTES, TextChecker};
use super::repo::{self, AttachmentRow};
use super::{Attachments, heif, images};
use crate::audit::{self, NewEntry};
use crate::cases::model::CaseState;
use crate::db::Tx;
use crate::idempotency;
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::platform::{Ctx, IdempotencyKey, Platform};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;

/// An attachment as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttachmentView {
    /// Server id.
    pub id: String,
    pub case_id: String,
    /// Sanitized display name (never a path).
    pub name: String,
    /// Type detected from the content: jpeg, png, webp, heif, pdf, dicom, text.
    pub detected_type: String,
    /// Media type of the stored (downloadable) content.
    pub media_type: String,
    /// Size in bytes of the stored content.
    pub size: i64,
    /// SHA-256 (hex) of the stored content: a download returns exactly these bytes.
    pub sha256: String,
    /// Size and SHA-256 of what was uploaded (they differ from the stored ones when an
    /// image was re-encoded to strip its metadata).
    pub uploaded_size: i64,
    pub uploaded_sha256: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub has_thumbnail: bool,
    pub uploaded_by: String,
    pub uploaded_at: Timestamp,
    /// What was done to the file, in plain words (e.g. metadata removed, or not for HEIC).
    pub notes: Vec<String>,
}

impl From<&AttachmentRow> for AttachmentView {
    fn from(r: &AttachmentRow) -> Self {
        AttachmentView {
            id: r.id.clone(),
            case_id: r.case_id.clone(),
            name: r.display_name.clone(),
            detected_type: r.kind.clone(),
            media_type: r.media_type.clone(),
            size: r.size,
            sha256: r.sha256.clone(),
            uploaded_size: r.uploaded_size,
            uploaded_sha256: r.uploaded_sha256.clone(),
            width: r.width,
            height: r.height,
            has_thumbnail: r.thumb_blob_key.is_some(),
            uploaded_by: r.uploaded_by.clone(),
            uploaded_at: Timestamp(r.uploaded_at),
            notes: serde_json::from_str(&r.notes).unwrap_or_default(),
        }
    }
}

/// Permission to stream files into a case, given by [`Platform::begin_upload`].
pub struct UploadTicket {
    pub case_id: String,
    uploader: String,
    case_key: Key,
    /// Bytes already stored on the case.
    pub used: u64,
    /// Bytes staged by this request so far.
    pub staged: u64,
    files: Vec<AttachmentRow>,
    store: Arc<Attachments>,
    /// The request's `Idempotency-Key`, and the fingerprint of the request so far: method,
    /// path, then each file's name and SHA-256 as it streams.
    key: Option<String>,
    fingerprint: Sha256,
    /// The key already has a stored answer: the body is only hashed (nothing is stored),
    /// then the stored answer is replayed if the fingerprints match.
    replay: bool,
}

/// A source of bytes (a multipart field, a file): the service stays transport-free.
pub trait ChunkSource {
    fn next_chunk(&mut self) -> impl std::future::Future<Output = Result<Option<Bytes>>> + Send;
}

/// Which blob of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Main,
    Thumbnail,
}

/// A download ready to stream.
pub struct Download {
    pub name: String,
    pub media_type: String,
    /// Size of the whole content.
    pub size: u64,
    /// The byte range served (inclusive), when a range was asked.
    pub range: Option<(u64, u64)>,
    pub body: futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>,
}

fn fingerprint_file(h: &mut Sha256, name: &str, sha256: &str) {
    h.update(name.as_bytes());
    h.update([0]);
    h.update(sha256.as_bytes());
    h.update([0]);
}

fn refusal(i: usize, r: Refusal) -> Error {
    match r {
        Refusal::Type(m) => Error::UnsupportedType(format!("file {}: {m}", i + 1)),
        other => Error::invalid(format!("files[{i}]"), other.to_string()),
    }
}

impl Platform {
    fn attachments(&self) -> Result<Arc<Attachments>> {
        self.attachments
            .clone()
            .ok_or_else(|| Error::Unavailable("no attachment store is configured".into()))
    }

    /// Unwraps the case key; creates it (wrapped by the current KEK) if the case has none.
    async fn case_key(
        &self,
        a: &Attachments,
        tx: &mut Tx,
        case_id: &str,
        create: bool,
    ) -> Result<Key> {
        let mut row = repo::case_key(tx, case_id).await?;
        if row.is_none() && create {
            let (kek_id, kek) = a.current_kek();
            let key = Key::random();
            let wrapped = kek.wrap(&key, &case_key_context(case_id, &kek_id));
            if repo::insert_case_key(tx, case_id, &kek_id, &wrapped, self.now().micros()).await? {
                return Ok(key);
            }
            // A concurrent upload created it first (committed): use theirs.
            row = repo::case_key(tx, case_id).await?;
        }
        match row {
            Some(row) => match (row.kek_id, row.wrapped) {
                (Some(kek_id), Some(w)) => {
                    let kek = a.kek(&kek_id)?;
                    kek.unwrap_key(&w, &case_key_context(case_id, &kek_id))
                        .map_err(|e| Error::Internal(format!("case key of {case_id}: {e}")))
                }
                _ => Err(Error::Gone(
                    "this case was purged: its attachments were destroyed".into(),
                )),
            },
            None => Err(Error::NotFound),
        }
    }

    /// Authorises an upload before any byte of the body is read: the requester, on a draft or
    /// on a case awaiting their information. Denials are audited (404 invisible, 403 other
    /// roles); a wrong state is 409.
    ///
    /// With an `Idempotency-Key` already answered, the state is not checked: the body is
    /// read only to compare it with the first request, whose answer is then replayed.
    pub async fn begin_upload(
        &self,
        ctx: &Ctx,
        case_id: &str,
        key: Option<String>,
    ) -> Result<UploadTicket> {
        let a = self.attachments()?;
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let tx = self.db.begin().await?;
        let (mut tx, row, rel) = self
            .load_visible(tx, ctx, case_id, "attachment.upload")
            .await?;
        if !rel.requester {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("attachment.upload", "case", case_id),
                    Error::Forbidden("only the requester attaches files".into()),
                )
                .await;
        }
        let replay = match &key {
            Some(k) => idempotency::is_recorded(&mut tx, &me, k).await?,
            None => false,
        };
        let mut fingerprint = Sha256::new();
        fingerprint.update(format!("POST\0/api/v1/cases/{case_id}/attachments\0"));
        if replay {
            tx.rollback().await?;
            return Ok(UploadTicket {
                case_id: case_id.to_string(),
                uploader: me,
                case_key: Key::random(),
                used: 0,
                staged: 0,
                files: Vec::new(),
                store: a,
                key,
                fingerprint,
                replay,
            });
        }
        let state = row.state()?;
        if !matches!(state, CaseState::Draft | CaseState::AwaitingInfo) {
            tx.rollback().await?;
            return Err(Error::conflict(
                "files are attached to a draft, or in reply to the expert's question",
                Some(row.state.clone()),
            ));
        }
        let case_key = self.case_key(&a, &mut tx, case_id, true).await?;
        let used = repo::used_bytes(&mut tx, case_id).await?.max(0) as u64;
        tx.commit().await?;
        Ok(UploadTicket {
            case_id: case_id.to_string(),
            uploader: me,
            case_key,
            used,
            staged: 0,
            files: Vec::new(),
            store: a,
            key,
            fingerprint,
            replay,
        })
    }

    /// Streams one file into the store (encrypted), checking type, size and content as it
    /// goes. Nothing is visible until [`Platform::commit_upload`].
    pub async fn stage_file(
        &self,
        t: &mut UploadTicket,
        filename: &str,
        src: &mut impl ChunkSource,
    ) -> Result<()> {
        if t.replay {
            // Only hashed: the stored answer of the first request is replayed at commit.
            let max = t.store.limits.max_file_bytes;
            let mut sha = Sha256::new();
            let mut total: u64 = 0;
            while let Some(chunk) = src.next_chunk().await? {
                total += chunk.len() as u64;
                if total > max {
                    return Err(Error::TooLarge(format!("larger than {max} bytes")));
                }
                sha.update(&chunk);
            }
            fingerprint_file(&mut t.fingerprint, filename, &hex::encode(sha.finalize()));
            return Ok(());
        }
        let index = t.files.len();
        let a = t.store.clone();
        let id = new_id();
        let file_key = Key::random();
        let mut written: Vec<String> = Vec::new();
        let result = stage(
            self,
            &a,
            t,
            index,
            &id,
            &file_key,
            filename,
            src,
            &mut written,
        )
        .await;
        match result {
            Ok(row) => {
                t.staged += row.uploaded_size as u64;
                fingerprint_file(&mut t.fingerprint, filename, &row.uploaded_sha256);
                t.files.push(row);
                Ok(())
            }
            Err(e) => {
                for k in written {
                    let _ = a.store.delete(&k).await;
                }
                Err(e)
            }
        }
    }

    /// Drops a failed upload: the files staged so far are deleted from the store (what a
    /// crash prevents from being deleted here, the orphan sweep collects).
    pub async fn abort_upload(&self, t: UploadTicket) {
        for f in &t.files {
            for k in [
                Some(&f.blob_key),
                f.thumb_blob_key.as_ref(),
                f.original_blob_key.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                let _ = t.store.store.delete(k).await;
            }
        }
    }

    /// Commits the staged files: rows, one audit entry, in one transaction, after the blobs
    /// are durable. Access and state are checked again (they may have changed meanwhile).
    pub async fn commit_upload(&self, ctx: &Ctx, t: UploadTicket) -> Result<Vec<AttachmentView>> {
        let a = t.store.clone();
        let keys: Vec<String> = t
            .files
            .iter()
            .flat_map(|f| {
                [
                    Some(f.blob_key.clone()),
                    f.thumb_blob_key.clone(),
                    f.original_blob_key.clone(),
                ]
            })
            .flatten()
            .collect();
        let r = self.commit_rows(ctx, &t).await;
        // Blobs not referenced by a committed row (a failure, or an answer replayed) go.
        if !matches!(r, Ok((_, true))) {
            for k in keys {
                let _ = a.store.delete(&k).await;
            }
        }
        r.map(|(views, _)| views)
    }

    /// The views, and whether rows were inserted (false: a stored answer was replayed).
    async fn commit_rows(
        &self,
        ctx: &Ctx,
        t: &UploadTicket,
    ) -> Result<(Vec<AttachmentView>, bool)> {
        let ctx = &match &t.key {
            Some(key) => ctx.clone().with_key(IdempotencyKey {
                key: key.clone(),
                fingerprint: hex::encode(t.fingerprint.clone().finalize()),
            }),
            None => ctx.clone(),
        };
        let tx = self.db.begin().await?;
        let (mut tx, row, rel) = self
            .load_visible(tx, ctx, &t.case_id, "attachment.upload")
            .await?;
        if !rel.requester {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("attachment.upload", "case", &t.case_id),
                    Error::Forbidden("only the requester attaches files".into()),
                )
                .await;
        }
        if let Some(done) = self
            .replayed::<Vec<AttachmentView>>(&mut tx, ctx, "attachment.upload", &t.case_id)
            .await?
        {
            tx.commit().await?;
            return Ok((done, false));
        }
        if t.replay {
            // The stored answer vanished meanwhile (it cannot: answers are kept); be safe.
            tx.rollback().await?;
            return Err(Error::conflict(
                "retry the upload: its first attempt could not be found",
                None,
            ));
        }
        if t.files.is_empty() {
            tx.rollback().await?;
            return Err(Error::invalid(
                "files",
                "send at least one file (multipart/form-data, a part with a filename)",
            ));
        }
        if !matches!(row.state()?, CaseState::Draft | CaseState::AwaitingInfo) {
            return Err(Error::conflict(
                "the case changed during the upload",
                Some(row.state.clone()),
            ));
        }
        let used = repo::used_bytes(&mut tx, &t.case_id).await?.max(0) as u64;
        let max = t.store.limits.max_case_bytes;
        if used + t.staged > max {
            return Err(Error::TooLarge(format!(
                "the case's attachments would exceed {max} bytes"
            )));
        }
        let now = self.now();
        let mut views = Vec::new();
        for f in &t.files {
            let mut f = f.clone();
            f.uploaded_at = now.micros();
            repo::insert(&mut tx, &f).await?;
            views.push(AttachmentView::from(&f));
        }
        let summary: Vec<_> = views
            .iter()
            .map(|v| json!({"id": v.id, "type": v.detected_type, "size": v.size, "sha256": v.sha256}))
            .collect();
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("attachment.upload", "case", &t.case_id)
                .with(json!({"attachments": summary}))],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 201, &views, now).await?;
        tx.commit().await?;
        Ok((views, true))
    }

    /// The case's attachments (whoever may see the case).
    pub async fn list_attachments(&self, ctx: &Ctx, case_id: &str) -> Result<Vec<AttachmentView>> {
        let tx = self.db.begin().await?;
        let (mut tx, _row, _rel) = self
            .load_visible(tx, ctx, case_id, "attachment.list")
            .await?;
        let rows = repo::list(&mut tx, case_id).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("attachment.list", "case", case_id)],
        )
        .await?;
        tx.commit().await?;
        Ok(rows.iter().map(AttachmentView::from).collect())
    }

    /// Opens an attachment (or its thumbnail) for download; audited before a byte is sent.
    /// `range` is an inclusive byte range already checked against nothing: it is clamped
    /// here, and an unsatisfiable one is `Invalid` with field `Range`.
    pub async fn download(
        &self,
        ctx: &Ctx,
        case_id: &str,
        attachment_id: &str,
        which: Which,
        range: Option<(Option<u64>, Option<u64>)>,
    ) -> Result<Download> {
        let a = self.attachments()?;
        let action = match which {
            Which::Main => "attachment.download",
            Which::Thumbnail => "attachment.thumbnail",
        };
        let tx = self.db.begin().await?;
        let (mut tx, _row, _rel) = self.load_visible(tx, ctx, case_id, action).await?;
        let Some(att) = repo::get(&mut tx, case_id, attachment_id).await? else {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "case", case_id)
                        .with(json!({"attachment_id": attachment_id})),
                    Error::NotFound,
                )
                .await;
        };
        let (blob_key, size, media_type, blob_role) = match which {
            Which::Main => (
                att.blob_key.clone(),
                att.size as u64,
                att.media_type.clone(),
                "main",
            ),
            Which::Thumbnail => match (&att.thumb_blob_key, att.thumb_size) {
                (Some(k), Some(s)) => (k.clone(), s as u64, "image/jpeg".to_string(), "thumb"),
                _ => {
                    tx.rollback().await?;
                    return Err(Error::NotFound);
                }
            },
        };
        let case_key = match self.case_key(&a, &mut tx, case_id, false).await {
            Ok(k) => k,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        let range = match range {
            None => None,
            Some(r) => Some(resolve_range(r, size)?),
        };
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success(action, "case", case_id).with(json!({
                "attachment_id": attachment_id,
                "range": range.map(|(s, e)| format!("{s}-{e}")),
            }))],
        )
        .await?;
        tx.commit().await?;
        let file_key = case_key
            .unwrap_key(&att.wrapped_key, &file_key_context(case_id, &att.id))
            .map_err(|e| Error::Internal(format!("file key of {}: {e}", att.id)))?;
        let bctx = BlobContext {
            case_id: case_id.to_string(),
            blob_id: format!("{}/{blob_role}", att.id),
        };
        let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
        let body = decrypt_stream(&a, &blob_key, file_key, bctx, size, start, end).await?;
        let name = match which {
            Which::Main => att.display_name.clone(),
            Which::Thumbnail => format!("miniature-{}.jpg", att.id),
        };
        Ok(Download {
            name,
            media_type,
            size,
            range,
            body,
        })
    }
}

/// Resolves `bytes=a-b` / `a-` / `-n` against the size (inclusive bounds).
fn resolve_range(r: (Option<u64>, Option<u64>), size: u64) -> Result<(u64, u64)> {
    let bad = || Error::invalid("Range", format!("not satisfiable for {size} bytes"));
    if size == 0 {
        return Err(bad());
    }
    let (s, e) = match r {
        (Some(s), Some(e)) => (s, e.min(size - 1)),
        (Some(s), None) => (s, size - 1),
        (None, Some(n)) if n > 0 => (size.saturating_sub(n), size - 1),
        _ => return Err(bad()),
    };
    if s > e || s >= size {
        return Err(bad());
    }
    Ok((s, e))
}

/// Ciphertext length of chunk `i` of a blob of `size` plaintext bytes.
fn chunk_ct_len(size: u64, i: u64) -> usize {
    let n = crypto::chunk_count(size);
    if i + 1 < n {
        CT_CHUNK
    } else {
        (size - i * CHUNK as u64) as usize + TAG
    }
}

/// Streams plaintext bytes `start..=end` of a blob, decrypting only the chunks that hold
/// them. The first chunk is authenticated before this returns, so a blob that fails to
/// authenticate from its start is an error answer, not a broken stream.
async fn decrypt_stream(
    a: &Attachments,
    blob_key: &str,
    key: Key,
    bctx: BlobContext,
    size: u64,
    start: u64,
    end: u64,
) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>> {
    let tampered = |what: &str| {
        Error::Internal(format!(
            "attachment blob {blob_key} does not authenticate ({what})"
        ))
    };
    let header_bytes = {
        let mut r = a.store.read(blob_key, 0, HEADER as u64).await?;
        let mut h = Vec::with_capacity(HEADER);
        r.read_to_end(&mut h)
            .await
            .map_err(|e| Error::Unavailable(format!("blob read: {e}")))?;
        h
    };
    let header = crypto::read_header(&header_bytes).map_err(|_| tampered("header"))?;
    let n = crypto::chunk_count(size);
    let first = if size == 0 { 0 } else { start / CHUNK as u64 };
    let last = if size == 0 { 0 } else { end / CHUNK as u64 };
    let offset = HEADER as u64 + first * CT_CHUNK as u64;
    // Read one byte past the end of the last chunk wanted: a longer blob than its row says
    // is detected when the whole blob is read.
    let len = (last - first + 1) * CT_CHUNK as u64 + 1;
    let mut reader = a.store.read(blob_key, offset, len).await?;

    let slice = move |i: u64, pt: Vec<u8>| -> Bytes {
        let chunk_start = i * CHUNK as u64;
        let from = start.saturating_sub(chunk_start) as usize;
        let to = ((end + 1 - chunk_start) as usize).min(pt.len());
        Bytes::from(pt).slice(from.min(to)..to)
    };
    let first_pt = read_chunk(&mut reader, &key, &header, &bctx, size, first)
        .await
        .map_err(|_| tampered("first chunk"))?;
    let first_bytes = if size == 0 {
        Bytes::new()
    } else {
        slice(first, first_pt)
    };
    if first == n - 1 {
        // The whole blob was that one chunk: it must end there.
        let mut extra = [0u8; 1];
        if reader.read(&mut extra).await.unwrap_or(0) != 0 {
            return Err(tampered("trailing bytes"));
        }
    }
    let state = (reader, first + 1);
    let rest = futures_util::stream::unfold(state, move |(mut reader, i)| {
        let key = key.clone();
        let bctx = bctx.clone();
        async move {
            if i > last {
                if last == n - 1 && i != u64::MAX {
                    let mut extra = [0u8; 1];
                    if reader.read(&mut extra).await.unwrap_or(0) != 0 {
                        return Some((
                            Err(std::io::Error::other("attachment blob has trailing bytes")),
                            (reader, u64::MAX),
                        ));
                    }
                }
                return None;
            }
            match read_chunk(&mut reader, &key, &header, &bctx, size, i).await {
                Ok(pt) => Some((Ok(slice(i, pt)), (reader, i + 1))),
                Err(e) => Some((Err(e), (reader, u64::MAX))),
            }
        }
    });
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first_bytes) });
    use futures_util::StreamExt;
    Ok(head.chain(rest).boxed())
}

async fn read_chunk(
    reader: &mut crate::storage::BlobReader,
    key: &Key,
    header: &[u8; HEADER],
    bctx: &BlobContext,
    size: u64,
    i: u64,
) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; chunk_ct_len(size, i)];
    reader.read_exact(&mut buf).await.map_err(|e| {
        std::io::Error::other(format!("attachment blob truncated or unreadable: {e}"))
    })?;
    crypto::open_chunk(key, header, bctx, size, i, &buf)
        .map_err(|_| std::io::Error::other("attachment blob does not authenticate"))
}

/// Streams `src` into the store: sniff, check, encrypt, spool, publish. Returns the row to
/// insert (not yet committed). Blob keys published so far are pushed to `written`.
#[allow(clippy::too_many_arguments)]
async fn stage(
    p: &Platform,
    a: &Attachments,
    t: &UploadTicket,
    index: usize,
    id: &str,
    file_key: &Key,
    filename: &str,
    src: &mut impl ChunkSource,
    written: &mut Vec<String>,
) -> Result<AttachmentRow> {
    let limits = &a.limits;
    let room_in_case = limits.max_case_bytes.saturating_sub(t.used + t.staged);
    let max = limits.max_file_bytes.min(room_in_case);
    let too_large = || {
        if room_in_case < limits.max_file_bytes {
            Error::TooLarge(format!(
                "file {}: the case's attachments would exceed {} bytes",
                index + 1,
                limits.max_case_bytes
            ))
        } else {
            Error::TooLarge(format!(
                "file {}: larger than {} bytes",
                index + 1,
                limits.max_file_bytes
            ))
        }
    };
    let main_ctx = BlobContext {
        case_id: t.case_id.clone(),
        blob_id: format!("{id}/main"),
    };
    let mut sha = Sha256::new();
    let mut total: u64 = 0;
    let mut head: Vec<u8> = Vec::new();
    let mut kind: Option<Kind> = None;
    // Streamed kinds: encrypted as they arrive.
    let mut spool = None;
    let mut enc: Option<Encryptor> = None;
    let mut pdf: Option<PdfScanner> = None;
    let mut text: Option<TextChecker> = None;
    // Images: held in memory (bounded by the file limit) to be re-encoded, or for HEIF
    // to have their metadata erased.
    let mut image_bytes: Option<Vec<u8>> = None;
    let mut dims: Option<(u32, u32)> = None;

    let outcome: Result<()> = async {
        loop {
            let chunk = src.next_chunk().await?;
            let done = chunk.is_none();
            let chunk = chunk.unwrap_or_default();
            total += chunk.len() as u64;
            if total > max {
                return Err(too_large());
            }
            sha.update(&chunk);
            let mut pending: &[u8] = &chunk;
            if kind.is_none() {
                head.extend_from_slice(&chunk);
                if head.len() < SNIFF_BYTES && !done {
                    continue;
                }
                if head.is_empty() {
                    return Err(Error::invalid(
                        format!("files[{index}]"),
                        "the file is empty",
                    ));
                }
                let k = model::sniff(&head).map_err(|r| refusal(index, r))?;
                kind = Some(k);
                if k.is_image() {
                    dims = Some(model::check_image_header(&head).map_err(|r| refusal(index, r))?);
                }
                if k.is_image() {
                    image_bytes = Some(std::mem::take(&mut head));
                    pending = &[];
                } else {
                    match k {
                        Kind::Pdf => pdf = Some(PdfScanner::default()),
                        Kind::Text => text = Some(TextChecker::default()),
                        _ => {}
                    }
                    spool = Some(a.store.spool().await?);
                    enc = Some(Encryptor::new(file_key, main_ctx.clone()));
                    let h = std::mem::take(&mut head);
                    feed(&mut pdf, &mut text, &mut enc, &mut spool, &h, index).await?;
                    pending = &[];
                }
            }
            if !pending.is_empty() {
                if let Some(buf) = &mut image_bytes {
                    buf.extend_from_slice(pending);
                } else {
                    feed(&mut pdf, &mut text, &mut enc, &mut spool, pending, index).await?;
                }
            }
            if done {
                return Ok(());
            }
        }
    }
    .await;
    if let Err(e) = outcome {
        if let Some(s) = spool {
            s.discard().await;
        }
        return Err(e);
    }
    let kind = kind.ok_or_else(|| Error::internal("no kind decided"))?;
    let uploaded_sha256 = hex::encode(sha.finalize());
    let mut notes: Vec<String> = Vec::new();
    let mut row = AttachmentRow {
        id: id.to_string(),
        case_id: t.case_id.clone(),
        uploaded_by: t.uploader.clone(),
        uploaded_at: p.now().micros(),
        display_name: model::display_name(filename),
        kind: kind.as_str().into(),
        media_type: kind.media_type().into(),
        size: total as i64,
        sha256: uploaded_sha256.clone(),
        uploaded_size: total as i64,
        uploaded_sha256,
        width: dims.map(|d| i64::from(d.0)),
        height: dims.map(|d| i64::from(d.1)),
        wrapped_key: t.case_key.wrap(file_key, &file_key_context(&t.case_id, id)),
        blob_key: new_id(),
        thumb_blob_key: None,
        thumb_size: None,
        original_blob_key: None,
        notes: String::new(),
    };

    if kind == Kind::Heif
        && let Some(mut bytes) = image_bytes.take()
    {
        // No pure-Rust HEVC decoder: the pixels are kept as sent, the EXIF (GPS) and XMP
        // items are overwritten with zeros in place (`heif.rs`); no thumbnail.
        let original = limits.keep_originals.then(|| bytes.clone());
        let s = heif::strip_metadata(&mut bytes).map_err(|m| {
            Error::invalid(
                format!("files[{index}]"),
                format!(
                    "this HEIC/HEIF file's metadata (position, device) cannot be removed ({m}); export the photo as JPEG and send it again"
                ),
            )
        })?;
        row.size = bytes.len() as i64;
        row.sha256 = hex::encode(Sha256::digest(&bytes));
        notes.push(if s.exif + s.xmp > 0 {
            "HEIC/HEIF: EXIF, GPS and XMP metadata erased; image stored as sent, without thumbnail"
                .into()
        } else {
            "HEIC/HEIF: no metadata found; image stored as sent, without thumbnail".into()
        });
        put_blob(a, file_key, &main_ctx, &bytes, &row.blob_key, written).await?;
        if let Some(original) = original {
            let orig_key = new_id();
            let orig_ctx = BlobContext {
                case_id: t.case_id.clone(),
                blob_id: format!("{id}/original"),
            };
            put_blob(a, file_key, &orig_ctx, &original, &orig_key, written).await?;
            row.original_blob_key = Some(orig_key);
            notes.push("original kept (encrypted), as configured".into());
        }
    } else if let Some(original) = image_bytes {
        let permit = a
            .decode_permits
            .acquire()
            .await
            .map_err(|_| Error::internal("decoder closed"))?;
        let (re, original) = tokio::task::spawn_blocking(move || {
            let r = images::reencode(kind, &original);
            (r, original)
        })
        .await
        .map_err(|e| Error::internal(format!("image task: {e}")))?;
        drop(permit);
        let re = re.map_err(|m| Error::invalid(format!("files[{index}]"), m))?;
        row.media_type = re.media_type.into();
        row.size = re.bytes.len() as i64;
        row.sha256 = hex::encode(Sha256::digest(&re.bytes));
        row.width = Some(i64::from(re.width));
        row.height = Some(i64::from(re.height));
        notes.push("image re-encoded: EXIF, GPS and other metadata removed".into());
        put_blob(a, file_key, &main_ctx, &re.bytes, &row.blob_key, written).await?;
        let thumb_key = new_id();
        let thumb_ctx = BlobContext {
            case_id: t.case_id.clone(),
            blob_id: format!("{id}/thumb"),
        };
        put_blob(a, file_key, &thumb_ctx, &re.thumbnail, &thumb_key, written).await?;
        row.thumb_blob_key = Some(thumb_key);
        row.thumb_size = Some(re.thumbnail.len() as i64);
        if limits.keep_originals {
            let orig_key = new_id();
            let orig_ctx = BlobContext {
                case_id: t.case_id.clone(),
                blob_id: format!("{id}/original"),
            };
            put_blob(a, file_key, &orig_ctx, &original, &orig_key, written).await?;
            row.original_blob_key = Some(orig_key);
            notes.push("original kept (encrypted), as configured".into());
        }
    } else {
        let (Some(mut s), Some(e)) = (spool, enc) else {
            return Err(Error::internal("no spool"));
        };
        let verdict = match (pdf, text) {
            (Some(scanner), _) => scanner.finish(),
            (_, Some(checker)) => checker.finish(),
            _ => Ok(()),
        };
        if let Err(r) = verdict {
            s.discard().await;
            return Err(refusal(index, r));
        }
        if let Err(err) = s.write(&e.finish()).await {
            s.discard().await;
            return Err(err);
        }
        a.store.publish(s, &row.blob_key).await?;
        written.push(row.blob_key.clone());
        if kind == Kind::Pdf {
            notes.push("PDF checked: no JavaScript or automatic action".into());
        }
    }
    row.notes = serde_json::to_string(&notes).unwrap_or_else(|_| "[]".into());
    Ok(row)
}

async fn feed(
    pdf: &mut Option<PdfScanner>,
    text: &mut Option<TextChecker>,
    enc: &mut Option<Encryptor>,
    spool: &mut Option<crate::storage::Spool>,
    data: &[u8],
    index: usize,
) -> Result<()> {
    if let Some(s) = pdf {
        s.feed(data);
    }
    if let Some(t) = text {
        t.feed(data).map_err(|r| refusal(index, r))?;
    }
    if let (Some(e), Some(s)) = (enc, spool) {
        s.write(&e.update(data)).await?;
    }
    Ok(())
}

/// Encrypts an in-memory blob and publishes it.
async fn put_blob(
    a: &Attachments,
    key: &Key,
    ctx: &BlobContext,
    data: &[u8],
    blob_key: &str,
    written: &mut Vec<String>,
) -> Result<()> {
    let mut s = a.store.spool().await?;
    let mut e = Encryptor::new(key, ctx.clone());
    for piece in data.chunks(1 << 20) {
        let ct = e.update(piece);
        if let Err(err) = s.write(&ct).await {
            s.discard().await;
            return Err(err);
        }
    }
    if let Err(err) = s.write(&e.finish()).await {
        s.discard().await;
        return Err(err);
    }
    a.store.publish(s, blob_key).await?;
    written.push(blob_key.to_string());
    Ok(())
}
