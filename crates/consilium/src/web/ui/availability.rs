//! An expert's availability: which requests they accept (professions, territories, load
//! cap) and their absences with a delegate. Over the routing use cases of issue 5.

use super::{Base, S, Viewer, error_text, render, see_other, unread, viewer};
use crate::kernel::{Error, Timestamp};
use crate::routing::model::AcceptanceRules;
use crate::routing::rules::AbsenceInput;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub struct AbsenceLine {
    pub id: String,
    pub from: String,
    pub to: String,
    pub delegate: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/availability.html")]
struct AvailabilityPage {
    b: Base,
    notice: Option<String>,
    error: Option<String>,
    professions: Vec<(String, String, bool)>,
    departements: String,
    regions: String,
    postcodes: String,
    max_open: String,
    /// The label key of the load cap (an expert's or a team's).
    max_open_label: &'static str,
    absences: Vec<AbsenceLine>,
    colleagues: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

impl DoneParams {
    pub fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

/// Every TRE_G15 profession as (code, label, accepted by these rules), for the rules form.
pub fn profession_choices(rules: &AcceptanceRules) -> Vec<(String, String, bool)> {
    crate::codes::professions()
        .values()
        .map(|x| {
            (
                x.code.clone(),
                x.label.clone(),
                rules.professions.contains(&x.code),
            )
        })
        .collect()
}

/// A form field's value (the first one), empty when absent.
pub fn field(pairs: &[(String, String)], k: &str) -> String {
    pairs
        .iter()
        .find(|(a, _)| a == k)
        .map(|(_, b)| b.clone())
        .unwrap_or_default()
}

/// Acceptance rules from the rules form (checked professions, comma-separated lists).
pub fn rules_from_form(pairs: &[(String, String)]) -> Result<AcceptanceRules, Error> {
    let get = |k: &str| field(pairs, k);
    let max_open = match get("max_open").trim() {
        "" => None,
        m => Some(
            m.parse::<u32>()
                .map_err(|_| Error::invalid("max_open", "a whole number"))?,
        ),
    };
    Ok(AcceptanceRules {
        professions: pairs
            .iter()
            .filter(|(k, _)| k == "professions")
            .map(|(_, x)| x.clone())
            .collect(),
        departements: list(&get("departements")),
        regions: list(&get("regions")),
        postcodes: list(&get("postcodes")),
        max_open,
    })
}

fn list(s: &str) -> Vec<String> {
    s.split([',', ' ', ';'])
        .map(|x| x.trim().to_uppercase())
        .filter(|x| !x.is_empty())
        .collect()
}

async fn page(
    s: &crate::web::AppState,
    v: &Viewer,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let p = &s.platform;
    let r = match p.my_routing(&v.ctx).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let professions = profession_choices(&r.rules);
    let mut colleagues = Vec::new();
    for sp in &v.me.specialties {
        for e in p
            .search_professionals(None, Some(sp), true, None, 200)
            .await
            .unwrap_or_default()
        {
            if e.id != v.me.id && e.active && !colleagues.iter().any(|(id, _)| *id == e.id) {
                colleagues.push((e.id, e.display_name));
            }
        }
    }
    let absences = r
        .absences
        .iter()
        .map(|a| AbsenceLine {
            id: a.id.clone(),
            from: crate::web::pages::paris(a.from),
            to: crate::web::pages::paris(a.to),
            delegate: a.delegate.as_ref().map(|d| d.display_name.clone()),
        })
        .collect();
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let u = unread(s, v).await;
    render(
        status,
        &AvailabilityPage {
            b: v.base(v.t("availability"), "/me/availability", u),
            notice,
            error,
            professions,
            departements: r.rules.departements.join(", "),
            regions: r.rules.regions.join(", "),
            postcodes: r.rules.postcodes.join(", "),
            max_open: r.rules.max_open.map(|m| m.to_string()).unwrap_or_default(),
            max_open_label: "max_open",
            absences,
            colleagues,
        },
    )
}

pub async fn availability_page(
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
        .done
        .as_deref()
        .map(|d| v.t(&format!("done_{d}")).to_string())
        .filter(|t| !t.is_empty());
    page(&s, &v, notice, None).await
}

fn refused(v: &Viewer, e: &Error) -> Option<(StatusCode, String)> {
    let status = match e {
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => return None,
    };
    Some((status, error_text(v.lang, e)))
}

/// `YYYY-MM-DD` in Europe/Paris → the start of that day.
pub fn day(field: &str, s: &str) -> Result<Timestamp, Error> {
    let d = parse_date(s).ok_or_else(|| Error::invalid(field, "write a date (YYYY-MM-DD)"))?;
    Ok(crate::billing::model::paris_midnight(d))
}

/// An absence from the absence form: first and last day (included), optional delegate.
pub fn absence_from_form(pairs: &[(String, String)]) -> Result<AbsenceInput, Error> {
    let delegate = field(pairs, "delegate_id");
    Ok(AbsenceInput {
        from: day("from", &field(pairs, "from"))?,
        to: day("to", &field(pairs, "to"))?.plus_seconds(24 * 3600),
        delegate_id: Some(delegate.trim().to_string()).filter(|d| !d.is_empty()),
    })
}

/// A date as a date field sends it (`YYYY-MM-DD`) or as a French user types it where the
/// browser has no date picker (`JJ/MM/AAAA`).
pub fn parse_date(s: &str) -> Option<time::Date> {
    let s = s.trim();
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .or_else(|_| {
            time::Date::parse(s, time::macros::format_description!("[day]/[month]/[year]"))
        })
        .ok()
}

pub async fn post(
    axum::extract::State(s): S,
    Path(action): Path<String>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| field(&pairs, k);
    if let Err(r) = v.check_csrf(&s, &get("csrf")).await {
        return r;
    }
    let p = &s.platform;
    let result: Result<&str, Error> = async {
        match action.as_str() {
            "rules" => {
                let rules = rules_from_form(&pairs)?;
                p.set_my_rules(&v.ctx, rules).await.map(|_| "rules_saved")
            }
            "absence" => p
                .add_absence(&v.ctx, absence_from_form(&pairs)?)
                .await
                .map(|_| "absence_added"),
            _ => Err(Error::NotFound),
        }
    }
    .await;
    match result {
        Ok(done) => see_other(&format!("/me/availability?done={done}")),
        Err(e) => match refused(&v, &e) {
            Some(err) => page(&s, &v, None, Some(err)).await,
            None => e.into_response(),
        },
    }
}

pub async fn delete_absence(
    axum::extract::State(s): S,
    Path(id): Path<String>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let csrf = field(&pairs, "csrf");
    if let Err(r) = v.check_csrf(&s, &csrf).await {
        return r;
    }
    match s.platform.delete_absence(&v.ctx, &id, true).await {
        Ok(()) => see_other("/me/availability?done=absence_deleted"),
        Err(e) => match refused(&v, &e) {
            Some(err) => page(&s, &v, None, Some(err)).await,
            None => e.into_response(),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_in_both_forms() {
        let d = super::parse_date("2026-11-24").unwrap();
        assert_eq!(super::parse_date(" 24/11/2026 "), Some(d));
        assert_eq!(super::parse_date("11/24/2026"), None);
        assert_eq!(super::parse_date("demain"), None);
    }
}
