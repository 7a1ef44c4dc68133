//! Attachment handlers: streamed multipart upload, list, download (ranges), thumbnail.
//! Routes are declared in `api::routes()`.

use super::AppState;
use super::extract::Auth;
use super::problem::{Problem, problem};
use crate::attachments::model::content_disposition;
use crate::attachments::service::{AttachmentView, ChunkSource, Which};
use crate::kernel::{Error, Result};
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// Most files in one upload request.
const MAX_FILES: usize = 20;
/// Room for multipart boundaries and part headers, per request.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

struct FieldSource<'a, 'b>(&'a mut axum::extract::multipart::Field<'b>);

impl ChunkSource for FieldSource<'_, '_> {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        self.0.chunk().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge("the request body is too large".into())
            } else {
                Error::invalid(
                    "body",
                    format!("unreadable multipart body: {}", e.body_text()),
                )
            }
        })
    }
}

/// Upload files (multipart/form-data; every part with a filename is a file) to a draft, or
/// to a case awaiting the requester's information. Types are detected from the content
/// (JPEG, PNG, WebP, HEIC/HEIF, PDF, DICOM, plain text); images are re-encoded without
/// metadata; PDFs with JavaScript or automatic actions are refused. Limits per file and
/// per case are enforced while the body streams (413).
///
/// With an `Idempotency-Key`, a retry of an upload that was already answered gets the same
/// answer (the same attachments, nothing stored twice), even if the case has moved on since;
/// the same key with other files (names or contents) is 422.
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    request_body(content = String, content_type = "multipart/form-data", description = "one part per file, each with a filename"),
    responses(
        (status = 201, body = Vec<AttachmentView>),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the case is neither a draft nor awaiting information"),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    match receive(&s, &ctx, &id, req).await {
        Ok(views) => (StatusCode::CREATED, Json(views)).into_response(),
        Err(p) => {
            // The body may be left unread (a refusal before or during streaming): the
            // connection cannot carry another request, so say it closes.
            let mut r = p.into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    }
}

async fn receive(
    s: &Arc<AppState>,
    ctx: &crate::platform::Ctx,
    id: &str,
    req: Request,
) -> std::result::Result<Vec<AttachmentView>, Problem> {
    let p = &s.platform;
    let key = super::extract::idempotency_key(req.headers())?;
    // Authorised (and denials audited) before a byte of the body is read.
    let ticket = p.begin_upload(ctx, id, key).await?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "Send the files as multipart/form-data.".into(),
        ));
    }
    let limits = p
        .attachments
        .as_ref()
        .map(|a| a.limits.clone())
        .ok_or_else(|| Error::Unavailable("no attachment store".into()))?;
    let room = limits.max_case_bytes.saturating_sub(ticket.used);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > room.saturating_add(MULTIPART_OVERHEAD)
    {
        return Err(Error::TooLarge(format!(
            "{n} bytes announced; this case has room for {room} more bytes of attachments"
        ))
        .into());
    }
    let mut multipart = Multipart::from_request(req, s)
        .await
        .map_err(|e| Error::invalid("body", e.body_text()))?;
    Ok(stream_into(s, ctx, ticket, &mut multipart).await?)
}

/// The web interface's upload: the caller has read the form's first part (its token);
/// the rest streams like an API upload.
pub async fn receive_multipart(
    s: &Arc<AppState>,
    ctx: &crate::platform::Ctx,
    id: &str,
    key: Option<String>,
    multipart: &mut Multipart,
) -> Result<Vec<AttachmentView>> {
    let ticket = s.platform.begin_upload(ctx, id, key).await?;
    stream_into(s, ctx, ticket, multipart).await
}

async fn stream_into(
    s: &Arc<AppState>,
    ctx: &crate::platform::Ctx,
    mut ticket: crate::attachments::service::UploadTicket,
    multipart: &mut Multipart,
) -> Result<Vec<AttachmentView>> {
    let p = &s.platform;
    let received: Result<()> = async {
        let mut n = 0;
        loop {
            let field = multipart.next_field().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::TooLarge("the request body is too large".into())
                } else {
                    Error::invalid(
                        "body",
                        format!("unreadable multipart body: {}", e.body_text()),
                    )
                }
            })?;
            let Some(mut field) = field else { break };
            let Some(name) = field.file_name().map(str::to_string) else {
                continue; // not a file part
            };
            if name.is_empty() {
                // A file input left empty: browsers send it with no name and no bytes.
                while field.chunk().await.ok().flatten().is_some() {}
                continue;
            }
            n += 1;
            if n > MAX_FILES {
                return Err(Error::invalid(
                    "files",
                    format!("at most {MAX_FILES} files per request"),
                ));
            }
            p.stage_file(&mut ticket, &name, &mut FieldSource(&mut field))
                .await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = received {
        p.abort_upload(ticket).await;
        return Err(e);
    }
    p.commit_upload(ctx, ticket).await
}

/// The case's attachments.
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = Vec<AttachmentView>), (status = 404, body = Problem)))]
pub async fn list(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> std::result::Result<Json<Vec<AttachmentView>>, Problem> {
    Ok(Json(s.platform.list_attachments(&ctx, &id).await?))
}

/// Download an attachment (always as an attachment, never rendered inline; HTTP ranges).
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments/{attachment_id}", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id"), ("attachment_id" = String, Path, description = "attachment id")),
    responses(
        (status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 206, description = "the requested range"),
        (status = 404, body = Problem), (status = 410, body = Problem, description = "the case was purged"),
        (status = 416, body = Problem)))]
pub async fn download(
    State(s): S,
    Auth(ctx): Auth,
    Path((id, attachment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(&s, &ctx, &id, &attachment_id, Which::Main, &headers).await
}

/// A thumbnail of an image attachment (JPEG, at most 256 × 256).
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments/{attachment_id}/thumbnail", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id"), ("attachment_id" = String, Path, description = "attachment id")),
    responses(
        (status = 200, description = "the thumbnail", content_type = "image/jpeg"),
        (status = 404, body = Problem, description = "no such attachment, or it has no thumbnail")))]
pub async fn thumbnail(
    State(s): S,
    Auth(ctx): Auth,
    Path((id, attachment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(&s, &ctx, &id, &attachment_id, Which::Thumbnail, &headers).await
}

/// What a purge did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PurgeReport {
    pub case_id: String,
    /// Attachments made unreadable (their data key destroyed) and deleted.
    pub attachments_destroyed: u64,
    /// The retention period that was checked, in days.
    pub retention_days: i64,
}

/// Organisation administrator (of the requester's organisation): purge an ended case
/// whose retention period (`retention_days`) is over. Its data key is destroyed, which
/// makes every copy of its attachments unreadable (crypto-shredding), then its blobs are
/// deleted. Irreversible; audited.
#[utoipa::path(post, path = "/api/v1/cases/{id}/purge", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    request_body = super::api::Empty,
    responses(
        (status = 200, body = PurgeReport),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the case has not ended, or its retention period is not over"),
        (status = 410, body = Problem, description = "already purged")))]
pub async fn purge(
    State(s): S,
    Path(id): Path<String>,
    call: super::extract::Call<super::api::Empty>,
) -> std::result::Result<Json<PurgeReport>, Problem> {
    let retention_days = s.config.retention_days;
    let n = s
        .platform
        .purge_case(&call.ctx, &id, retention_days)
        .await?;
    Ok(Json(PurgeReport {
        case_id: id,
        attachments_destroyed: n,
        retention_days,
    }))
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n`; anything else (several ranges, other units) is
/// ignored and the whole file served, as RFC 9110 allows.
fn parse_range(h: &HeaderMap) -> Option<(Option<u64>, Option<u64>)> {
    let v = h.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = v.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let a = a.trim();
    let b = b.trim();
    let a = if a.is_empty() {
        None
    } else {
        Some(a.parse().ok()?)
    };
    let b = if b.is_empty() {
        None
    } else {
        Some(b.parse().ok()?)
    };
    if a.is_none() && b.is_none() {
        return None;
    }
    Some((a, b))
}

async fn serve(
    s: &AppState,
    ctx: &crate::platform::Ctx,
    id: &str,
    attachment_id: &str,
    which: Which,
    headers: &HeaderMap,
) -> Response {
    let range = match which {
        Which::Main => parse_range(headers),
        Which::Thumbnail => None,
    };
    let d = match s
        .platform
        .download(ctx, id, attachment_id, which, range)
        .await
    {
        Ok(d) => d,
        Err(Error::Invalid(e)) if e.first().is_some_and(|f| f.field == "Range") => {
            let mut r = problem(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range-not-satisfiable",
                "Range not satisfiable",
                e[0].message.clone(),
            )
            .into_response();
            if let Some(size) = e[0]
                .message
                .split_whitespace()
                .find_map(|w| w.parse::<u64>().ok())
                && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
            {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
        Err(e) => return Problem::from(e).into_response(),
    };
    let disposition = match which {
        Which::Main => "attachment",
        Which::Thumbnail => "inline",
    };
    let mut resp = Response::new(Body::from_stream(d.body));
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(h, header::CONTENT_TYPE, &d.media_type);
    set(
        h,
        header::CONTENT_DISPOSITION,
        &content_disposition(disposition, &d.name),
    );
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'; frame-ancestors 'none'",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::ACCEPT_RANGES, "bytes");
    match d.range {
        Some((a, b)) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = resp.headers_mut();
            set(
                h,
                header::CONTENT_RANGE,
                &format!("bytes {a}-{b}/{}", d.size),
            );
            set(h, header::CONTENT_LENGTH, &(b - a + 1).to_string());
        }
        None => set(
            resp.headers_mut(),
            header::CONTENT_LENGTH,
            &d.size.to_string(),
        ),
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut h = HeaderMap::new();
        let mut with = |v: &str| {
            h.insert(header::RANGE, HeaderValue::from_str(v).expect("value"));
            parse_range(&h)
        };
        assert_eq!(with("bytes=0-99"), Some((Some(0), Some(99))));
        assert_eq!(with("bytes=100-"), Some((Some(100), None)));
        assert_eq!(with("bytes=-5"), Some((None, Some(5))));
        assert_eq!(with("bytes=0-1,5-6"), None);
        assert_eq!(with("items=0-1"), None);
        assert_eq!(with("bytes=x-1"), None);
    }
}
