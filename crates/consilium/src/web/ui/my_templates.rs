//! An expert's answer templates: saved from the answer form, renamed or deleted here.

use super::availability::{DoneParams, field};
use super::{Base, S, Viewer, error_text, render, see_other, unread, viewer};
use crate::cases::templates::AnswerTemplate;
use crate::kernel::Error;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "ui/my_templates.html")]
struct TemplatesPage {
    b: Base,
    notice: Option<String>,
    error: Option<String>,
    templates: Vec<AnswerTemplate>,
}

async fn page(
    s: &crate::web::AppState,
    v: &Viewer,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let templates = match s.platform.answer_templates(&v.ctx).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let u = unread(s, v).await;
    render(
        status,
        &TemplatesPage {
            b: v.base(v.t("my_templates"), "/me/templates", u),
            notice,
            error,
            templates,
        },
    )
}

pub async fn templates_page(
    axum::extract::State(s): S,
    parts: Parts,
    Query(q): Query<DoneParams>,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !v.me.may_be_expert {
        return super::not_found(&v);
    }
    let notice = q
        .done()
        .map(|d| v.t(&format!("done_{d}")).to_string())
        .filter(|t| !t.is_empty());
    page(&s, &v, notice, None).await
}

pub async fn post(
    axum::extract::State(s): S,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(&s, &field(&pairs, "csrf")).await {
        return r;
    }
    let p = &s.platform;
    let result = match action.as_str() {
        "rename" => p
            .rename_answer_template(&v.ctx, &id, &field(&pairs, "title"))
            .await
            .map(|_| "template_renamed"),
        "delete" => p
            .delete_answer_template(&v.ctx, &id)
            .await
            .map(|_| "template_deleted"),
        _ => Err(Error::NotFound),
    };
    match result {
        Ok(done) => see_other(&format!("/me/templates?done={done}")),
        Err(Error::NotFound) => super::not_found(&v),
        Err(e @ Error::Invalid(_)) => {
            let text = error_text(v.lang, &e);
            page(&s, &v, None, Some((StatusCode::UNPROCESSABLE_ENTITY, text))).await
        }
        Err(e) => e.into_response(),
    }
}
