//! The OpenAPI 3.1 document, served at `/api/openapi.json`.

use super::{account, api, attachments, operations, reports, routing, webhooks};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

/// Completes every operation with the answers any of them can give: errors are
/// `application/problem+json`; secured operations may answer 401; operations with a body
/// 413, 415 and 422; operations with parameters 422; all may answer 503.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, RefOr, ResponseBuilder};
        let problem = || {
            ResponseBuilder::new()
                .description("problem")
                .content(
                    "application/problem+json",
                    Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "Problem",
                    )))),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let mut extra: Vec<&str> = vec!["503"];
                if op.security.is_some() {
                    extra.push("401");
                }
                if let Some(body) = op.request_body.as_mut() {
                    extra.extend(["413", "415", "422"]);
                    // An operation that takes no input (`Empty`) accepts no body at all as
                    // well as `{}` (see `extract::parse_json`): its body is optional.
                    let takes_nothing = body.content.values().all(|c| {
                        matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Empty"))
                    });
                    if takes_nothing {
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    extra.push("422");
                }
                for code in extra {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| RefOr::T(problem()));
                }
                for (code, resp) in op.responses.responses.iter_mut() {
                    if (code.starts_with('4') || code.starts_with('5'))
                        && let RefOr::T(r) = resp
                        && let Some(c) = r.content.shift_remove("application/json")
                    {
                        r.content.insert("application/problem+json".into(), c);
                    }
                }
            }
        }
    }
}

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Consilium API", description = "Teleexpertise: requests, expert opinions, the case lifecycle."),
    modifiers(&Bearer, &CommonResponses),
    paths(
        api::me, api::professions, api::specialties, api::list_organisations, api::search_professionals,
        api::get_professional, api::list_teams, api::get_team,
        api::add_member, api::create_team, api::disable_professional, api::enable_professional,
        api::create_patient, api::list_patients, api::get_patient, api::update_patient,
        api::create_case, api::list_cases, api::get_case, api::update_draft, api::record_consent,
        api::submit, api::assign, api::accept, api::decline, api::forward, api::request_info,
        api::provide_info, api::answer, api::convert, api::cancel, api::close,
        api::events, api::list_messages, api::post_message,
        api::list_notifications, api::read_notification, api::get_notification_settings,
        api::put_notification_settings,
        account::list_sessions, account::revoke_session, account::list_tokens,
        account::create_token, account::revoke_token, account::invite,
        api::case_billing, api::my_acts, api::my_counters, api::establishment_acts,
        attachments::upload, attachments::list, attachments::download, attachments::thumbnail, attachments::purge,
        reports::get_report, reports::preview, reports::sign, reports::write_draft,
        reports::download_pdf, reports::download_cda,
        routing::my_routing, routing::put_my_rules, routing::add_absence, routing::delete_absence,
        routing::professional_routing, routing::team_routing, routing::put_team_rules,
        routing::put_team_rota, routing::put_team_weekly_rota, routing::offers, routing::board, routing::add_absence_for,
        routing::delete_any_absence, routing::put_team_members, routing::put_team_policy,
        operations::list_jobs, operations::retry_job,
        webhooks::my_webhooks, webhooks::create_my_webhook, webhooks::org_webhooks,
        webhooks::create_org_webhook, webhooks::rotate_secret, webhooks::delete_webhook,
    ),
    tags((name = "cases"), (name = "attachments"), (name = "patients"), (name = "directory"), (name = "codes"), (name = "account"), (name = "notifications"), (name = "billing"), (name = "reports"), (name = "routing"), (name = "operations"), (name = "webhooks"))
)]
pub struct ApiDoc;

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
