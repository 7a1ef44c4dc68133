//! The compte rendu (R10): versions and deliveries, preview, signing, corrections, and the
//! downloads (PDF, CDA R2 TLM-CR) with the attachments' download headers.

use super::AppState;
use super::api::Empty;
use super::extract::{Auth, Call};
use super::problem::Problem;
use crate::attachments::model::content_disposition;
use crate::reports::service::{Download, DraftInput, ReportFormat, ReportList, ReportVersionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// A version number from the path; anything else names no version (404, audited).
fn version_number(s: &str) -> i64 {
    s.parse().unwrap_or(0)
}

fn file(d: Download) -> Response {
    let len = d.bytes.len();
    let mut resp = Response::new(axum::body::Body::from(d.bytes));
    let h: &mut HeaderMap = resp.headers_mut();
    let mut set = |k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(header::CONTENT_TYPE, d.media_type);
    set(
        header::CONTENT_DISPOSITION,
        &content_disposition("attachment", &d.name),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'; frame-ancestors 'none'",
    );
    set(header::CACHE_CONTROL, "no-store");
    set(header::CONTENT_LENGTH, &len.to_string());
    resp
}

/// The report's versions the caller may see (every version for the expert who writes it,
/// signed ones for everyone else who may see the case), each with its delivery status.
#[utoipa::path(get, path = "/api/v1/cases/{id}/report", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = ReportList), (status = 404, body = Problem)))]
pub async fn get_report(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<ReportList>, Problem> {
    Ok(Json(s.platform.case_report(&ctx, &id).await?))
}

/// Expert who answered: the draft as a PDF marked "BROUILLON — APERÇU" (not a document).
#[utoipa::path(get, path = "/api/v1/cases/{id}/report/preview", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    responses(
        (status = 200, description = "the draft, watermarked", content_type = "application/pdf"),
        (status = 403, body = Problem, description = "only the expert who answered"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "no draft (signed, or no answer yet)")))]
pub async fn preview(State(s): S, Auth(ctx): Auth, Path(id): Path<String>) -> Response {
    match s.platform.preview_report(&ctx, &id).await {
        Ok(d) => file(d),
        Err(e) => Problem::from(e).into_response(),
    }
}

/// Expert who answered: sign the draft. The PDF is frozen (its SHA-256 kept) and delivered
/// to the requester and the médecin traitant (R10). Signing when nothing is left to sign
/// answers the signed version.
#[utoipa::path(post, path = "/api/v1/cases/{id}/report/sign", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    request_body = Empty,
    responses(
        (status = 200, body = ReportVersionView),
        (status = 403, body = Problem, description = "only the expert who answered"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "no report yet, or the draft changed meanwhile")))]
pub async fn sign(
    State(s): S,
    Path(id): Path<String>,
    call: Call<Empty>,
) -> Result<Json<ReportVersionView>, Problem> {
    Ok(Json(s.platform.sign_report(&call.ctx, &id).await?))
}

/// Expert who answered: write the next draft. After a signed version this is a correction
/// (a new version naming the one it replaces, with a reason); otherwise it rewrites the
/// current draft. A signed version never changes.
#[utoipa::path(post, path = "/api/v1/cases/{id}/report/draft", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id")),
    request_body = DraftInput,
    responses(
        (status = 200, body = ReportVersionView),
        (status = 403, body = Problem, description = "only the expert who answered"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "no report yet"),
        (status = 422, body = Problem)))]
pub async fn write_draft(
    State(s): S,
    Path(id): Path<String>,
    call: Call<DraftInput>,
) -> Result<Json<ReportVersionView>, Problem> {
    Ok(Json(
        s.platform
            .write_report_draft(&call.ctx, &id, call.body)
            .await?,
    ))
}

/// A signed version's PDF (PDF/A-2b), for whoever may see the case.
#[utoipa::path(get, path = "/api/v1/cases/{id}/report/versions/{version}/pdf", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id"), ("version" = i64, Path, description = "version number, from 1")),
    responses(
        (status = 200, description = "the signed PDF", content_type = "application/pdf"),
        (status = 404, body = Problem, description = "no such case visible to you, or no such signed version")))]
pub async fn download_pdf(
    State(s): S,
    Auth(ctx): Auth,
    Path((id, version)): Path<(String, String)>,
) -> Response {
    match s
        .platform
        .download_report(&ctx, &id, version_number(&version), ReportFormat::Pdf)
        .await
    {
        Ok(d) => file(d),
        Err(e) => Problem::from(e).into_response(),
    }
}

/// A signed version as a CDA R2 TLM-CR document (LOINC 85208-7, the PDF inside), for
/// whoever may see the case.
#[utoipa::path(get, path = "/api/v1/cases/{id}/report/versions/{version}/cda", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "case id"), ("version" = i64, Path, description = "version number, from 1")),
    responses(
        (status = 200, description = "the CDA document", content_type = "application/xml"),
        (status = 404, body = Problem, description = "no such case visible to you, or no such signed version")))]
pub async fn download_cda(
    State(s): S,
    Auth(ctx): Auth,
    Path((id, version)): Path<(String, String)>,
) -> Response {
    match s
        .platform
        .download_report(&ctx, &id, version_number(&version), ReportFormat::Cda)
        .await
    {
        Ok(d) => file(d),
        Err(e) => Problem::from(e).into_response(),
    }
}
