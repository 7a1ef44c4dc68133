//! A team's routing settings for the administrators of its organisation: the requests the
//! team accepts (professions, territories, load cap) and its on-call rota.

use super::{Base, S, Viewer, error_text, render, see_other, unread, viewer};
use crate::kernel::{Error, Timestamp};
use crate::routing::model::AcceptanceRules;
use crate::routing::rules::{
    RotaInput, RotaSlotInput, TeamRoutingRules, WeeklyRotaInput, WeeklySlotInput,
};
use crate::routing::weekly::{Day, parse_hhmm};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

pub struct SlotLine {
    pub professional_id: String,
    pub name: String,
    pub from: String,
    pub to: String,
    /// The slot's bounds as the form sends them back to remove it (by value: an index
    /// would name another slot after a concurrent change).
    pub from_us: i64,
    pub to_us: i64,
}

/// A weekly on-call slot, as listed.
pub struct WeeklyLine {
    pub professional_id: String,
    pub name: String,
    pub day: &'static str,
    pub day_label: &'static str,
    pub start: String,
    pub end: String,
}

#[derive(Template)]
#[template(path = "ui/team_settings.html")]
struct TeamSettingsPage {
    b: Base,
    team_id: String,
    team: String,
    policy: &'static str,
    policy_code: String,
    strategy: String,
    accept_hours: i64,
    hybrid_hours: i64,
    hide_identity_in_pool: bool,
    policies: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
    error: Option<String>,
    professions: Vec<(String, String, bool)>,
    departements: String,
    regions: String,
    postcodes: String,
    max_open: String,
    /// The label key of the load cap (an expert's or a team's).
    max_open_label: &'static str,
    slots: Vec<SlotLine>,
    weekly: Vec<WeeklyLine>,
    days: Vec<(&'static str, &'static str)>,
    members: Vec<(String, String)>,
    candidates: Vec<super::teams::Candidate>,
    absences: Vec<MemberAbsence>,
}

/// A team member's absence, as listed for the administrator.
pub struct MemberAbsence {
    pub id: String,
    pub name: String,
    pub from: String,
    pub to: String,
    pub delegate: Option<String>,
}

async fn page(
    s: &crate::web::AppState,
    v: &Viewer,
    team_id: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let p = &s.platform;
    let r = match p.team_routing(&v.ctx, team_id).await {
        Ok(r) => r,
        Err(Error::NotFound | Error::Forbidden(_)) => return super::not_found(v),
        Err(e) => return e.into_response(),
    };
    let team = match p.get_team(team_id).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    // Members may read a team's routing (API); this page is for those who change it.
    if !v.admin_orgs.contains(&team.organisation_id) {
        return super::not_found(v);
    }
    let professions = super::availability::profession_choices(&r.rules);
    let chosen: Vec<crate::directory::model::NewTeamMember> = team
        .members
        .iter()
        .map(|m| crate::directory::model::NewTeamMember {
            professional_id: m.professional_id.clone(),
            is_assigner: m.is_assigner,
        })
        .collect();
    let candidates =
        match super::teams::candidates(s, v, &team.organisation_id, &team.members, &chosen).await {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
    let mut absences = Vec::new();
    for m in &team.members {
        // Members who are not in one of the caller's organisations: not theirs to see.
        let Ok(er) = p.professional_routing(&v.ctx, &m.professional_id).await else {
            continue;
        };
        for a in er.absences {
            absences.push(MemberAbsence {
                id: a.id,
                name: m.display_name.clone(),
                from: crate::web::pages::paris(a.from),
                to: crate::web::pages::paris(a.to),
                delegate: a.delegate.map(|d| d.display_name),
            });
        }
    }
    let slots = r
        .rota
        .iter()
        .map(|sl| SlotLine {
            professional_id: sl.professional_id.clone(),
            name: sl.display_name.clone(),
            from: crate::web::pages::paris(sl.from),
            to: crate::web::pages::paris(sl.to),
            from_us: sl.from.micros(),
            to_us: sl.to.micros(),
        })
        .collect();
    let mut weekly: Vec<WeeklyLine> = r
        .weekly_rota
        .iter()
        .map(|w| WeeklyLine {
            professional_id: w.professional_id.clone(),
            name: w.display_name.clone(),
            day: w.day.as_str(),
            day_label: v.t(&format!("day_{}", w.day.as_str())),
            start: w.start.clone(),
            end: w.end.clone(),
        })
        .collect();
    let day_rank = |d: &str| Day::ALL.iter().position(|x| x.as_str() == d);
    weekly.sort_by(|a, b| {
        (day_rank(a.day), &a.start, &a.name).cmp(&(day_rank(b.day), &b.start, &b.name))
    });
    let days = Day::ALL
        .iter()
        .map(|d| (d.as_str(), v.t(&format!("day_{}", d.as_str()))))
        .collect();
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let u = unread(s, v).await;
    render(
        status,
        &TeamSettingsPage {
            b: v.base(
                format!("{} · {}", v.t("team_settings"), team.name),
                format!("/teams/{team_id}/settings"),
                u,
            ),
            team_id: team_id.to_string(),
            policy: v.t(&format!("policy_{}", team.policy)),
            policy_code: team.policy.clone(),
            strategy: team.routing.assign_strategy.as_str().to_string(),
            accept_hours: team.routing.accept_hours,
            hybrid_hours: team.routing.hybrid_hours,
            hide_identity_in_pool: team.hide_identity_in_pool,
            policies: super::teams::policy_choices(v),
            team: team.name.clone(),
            notice,
            error,
            professions,
            departements: r.rules.departements.join(", "),
            regions: r.rules.regions.join(", "),
            postcodes: r.rules.postcodes.join(", "),
            max_open: r.rules.max_open.map(|m| m.to_string()).unwrap_or_default(),
            max_open_label: "max_open_team",
            slots,
            weekly,
            days,
            members: team
                .members
                .iter()
                .map(|m| (m.professional_id.clone(), m.display_name.clone()))
                .collect(),
            candidates,
            absences,
        },
    )
}

pub async fn settings_page(
    axum::extract::State(s): S,
    Path(team_id): Path<String>,
    parts: Parts,
    Query(q): Query<super::availability::DoneParams>,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = q
        .done()
        .map(|d| v.t(&format!("done_{d}")).to_string())
        .filter(|t| !t.is_empty());
    page(&s, &v, &team_id, notice, None).await
}

/// `YYYY-MM-DDTHH:MM` (a `datetime-local` field, Europe/Paris) → the instant.
fn local_time(field: &str, s: &str) -> Result<Timestamp, Error> {
    let bad = || Error::invalid(field, "write a date and time");
    let (d, t) = s.trim().split_once('T').ok_or_else(bad)?;
    let date = time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| bad())?;
    let time = time::Time::parse(t, time::macros::format_description!("[hour]:[minute]"))
        .map_err(|_| bad())?;
    let midnight = crate::billing::model::paris_midnight(date);
    // Paris midnight plus the wall-clock time: exact except across a change of offset,
    // which happens at night (slots starting then are an hour off).
    Ok(midnight.plus_seconds(i64::from(time.hour()) * 3600 + i64::from(time.minute()) * 60))
}

fn current_weekly(r: &TeamRoutingRules) -> Vec<WeeklySlotInput> {
    r.weekly_rota
        .iter()
        .map(|w| WeeklySlotInput {
            professional_id: w.professional_id.clone(),
            day: w.day,
            start: w.start.clone(),
            end: w.end.clone(),
        })
        .collect()
}

/// A weekly slot from the form, its fields checked one by one (clear messages on the
/// page rather than the API's `slots[n]` paths).
fn weekly_from_form(get: impl Fn(&str) -> String) -> Result<WeeklySlotInput, Error> {
    let mut v = crate::kernel::error::Violations::default();
    let day = Day::parse(&get("day"));
    if day.is_none() {
        v.push("day", "choose a day");
    }
    let (start, end) = (get("start"), get("end"));
    if parse_hhmm(&start).is_none_or(|m| m >= 24 * 60) {
        v.push("start", "a time HH:MM from 00:00 to 23:59");
    }
    if parse_hhmm(&end).is_none() {
        v.push("end", "a time HH:MM from 00:00 to 24:00");
    }
    v.into_result()?;
    Ok(WeeklySlotInput {
        professional_id: get("professional_id"),
        day: day.unwrap_or(Day::Monday),
        start: start.trim().to_string(),
        end: end.trim().to_string(),
    })
}

fn current_slots(r: &TeamRoutingRules) -> Vec<RotaSlotInput> {
    r.rota
        .iter()
        .map(|sl| RotaSlotInput {
            professional_id: sl.professional_id.clone(),
            from: sl.from,
            to: sl.to,
        })
        .collect()
}

pub async fn post(
    axum::extract::State(s): S,
    Path((team_id, action)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| super::availability::field(&pairs, k);
    if let Err(r) = v.check_csrf(&s, &get("csrf")).await {
        return r;
    }
    let p = &s.platform;
    let result: Result<&str, Error> = async {
        match action.as_str() {
            "rules" => {
                let rules: AcceptanceRules = super::availability::rules_from_form(&pairs)?;
                p.set_team_rules(&v.ctx, &team_id, rules)
                    .await
                    .map(|_| "rules_saved")
            }
            "members" => {
                let members = super::teams::members_from_form(&pairs);
                p.set_team_members(
                    &v.ctx,
                    &team_id,
                    crate::routing::rules::TeamMembersInput { members },
                )
                .await
                .map(|_| "members_saved")
            }
            "absence" => {
                let absence = super::availability::absence_from_form(&pairs)?;
                let who = get("professional_id");
                // Only for this team's members, from this page.
                let team = p.get_team(&team_id).await?;
                if !team.members.iter().any(|m| m.professional_id == who) {
                    return Err(Error::invalid(
                        "professional_id",
                        "not a member of this team",
                    ));
                }
                p.add_absence_for(&v.ctx, &who, absence)
                    .await
                    .map(|_| "absence_added")
            }
            "delete-absence" => p
                .delete_absence(&v.ctx, &get("absence_id"), false)
                .await
                .map(|_| "absence_deleted"),
            "policy" => {
                use crate::directory::model::{AssignStrategy, TeamRouting};
                let policy = super::teams::parse_policy(&get("policy"))?;
                let hours = |k: &str| {
                    get(k).trim().parse::<i64>().map_err(|_| {
                        Error::invalid(format!("routing.{k}"), "a whole number of hours")
                    })
                };
                let routing = TeamRouting {
                    assign_strategy: if get("assign_strategy") == "least_loaded" {
                        AssignStrategy::LeastLoaded
                    } else {
                        AssignStrategy::RoundRobin
                    },
                    accept_hours: hours("accept_hours")?,
                    hybrid_hours: hours("hybrid_hours")?,
                };
                // A checkbox: absent when unchecked.
                let hide = get("hide_identity_in_pool") == "on";
                p.set_team_policy(&v.ctx, &team_id, policy, routing, Some(hide))
                    .await
                    .map(|_| "policy_saved")
            }
            "add-slot" => {
                let current = p.team_routing(&v.ctx, &team_id).await?;
                let mut slots = current_slots(&current);
                slots.push(RotaSlotInput {
                    professional_id: get("professional_id"),
                    from: local_time("from", &get("from"))?,
                    to: local_time("to", &get("to"))?,
                });
                p.set_team_rota(&v.ctx, &team_id, RotaInput { slots })
                    .await
                    .map(|_| "rota_saved")
            }
            "remove-slot" => {
                let current = p.team_routing(&v.ctx, &team_id).await?;
                let mut slots = current_slots(&current);
                let micros = |k: &str| get(k).parse::<i64>().ok();
                let (who, from, to) = (get("professional_id"), micros("from"), micros("to"));
                let before = slots.len();
                slots.retain(|sl| {
                    !(sl.professional_id == who
                        && Some(sl.from.micros()) == from
                        && Some(sl.to.micros()) == to)
                });
                if slots.len() == before {
                    return Err(Error::invalid("slots", "no such slot"));
                }
                p.set_team_rota(&v.ctx, &team_id, RotaInput { slots })
                    .await
                    .map(|_| "rota_saved")
            }
            "add-weekly" => {
                let current = p.team_routing(&v.ctx, &team_id).await?;
                let slot = weekly_from_form(get)?;
                let mut slots = current_weekly(&current);
                slots.push(slot);
                p.set_team_weekly_rota(&v.ctx, &team_id, WeeklyRotaInput { slots })
                    .await
                    .map(|_| "weekly_saved")
            }
            "remove-weekly" => {
                let current = p.team_routing(&v.ctx, &team_id).await?;
                let mut slots = current_weekly(&current);
                let (who, day, start, end) =
                    (get("professional_id"), get("day"), get("start"), get("end"));
                let before = slots.len();
                slots.retain(|w| {
                    !(w.professional_id == who
                        && w.day.as_str() == day
                        && w.start == start
                        && w.end == end)
                });
                if slots.len() == before {
                    return Err(Error::invalid("slots", "no such slot"));
                }
                p.set_team_weekly_rota(&v.ctx, &team_id, WeeklyRotaInput { slots })
                    .await
                    .map(|_| "weekly_saved")
            }
            _ => Err(Error::NotFound),
        }
    }
    .await;
    match result {
        Ok(done) => see_other(&format!("/teams/{team_id}/settings?done={done}")),
        Err(Error::NotFound | Error::Forbidden(_)) => super::not_found(&v),
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. })) => {
            let status = if matches!(e, Error::Invalid(_)) {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::CONFLICT
            };
            let text = error_text(v.lang, &e);
            page(&s, &v, &team_id, None, Some((status, text))).await
        }
        Err(e) => e.into_response(),
    }
}
