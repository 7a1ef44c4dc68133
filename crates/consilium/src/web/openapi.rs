//! The OpenAPI 3.1 document, served at `/api/openapi.json`.

use super::api;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

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
    modifiers(&Bearer),
    paths(
        api::me, api::professions, api::specialties, api::list_organisations, api::search_professionals,
        api::get_professional, api::list_teams, api::get_team,
        api::add_member, api::create_team, api::disable_professional, api::enable_professional,
        api::create_patient, api::list_patients, api::get_patient, api::update_patient,
        api::create_case, api::list_cases, api::get_case, api::update_draft, api::record_consent,
        api::submit, api::assign, api::accept, api::decline, api::forward, api::request_info,
        api::provide_info, api::answer, api::convert, api::cancel, api::close,
        api::events, api::list_messages, api::post_message,
    ),
    tags((name = "cases"), (name = "patients"), (name = "directory"), (name = "codes"))
)]
pub struct ApiDoc;

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
