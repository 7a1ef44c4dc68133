//! The administrator's teams: the organisation's teams with their policy, and a form to
//! create one (name, specialty, policy, members and case assigners). The member table is
//! shared with the team settings page, where an administrator changes who is in a team.

use super::availability::field;
use super::{Base, S, Viewer, error_text, render, see_other, unread};
use crate::directory::model::{NewTeamMember, TeamInput, TeamPolicy, TeamRouting};
use crate::kernel::Error;
use askama::Template;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

pub struct TeamLine {
    pub id: String,
    pub name: String,
    pub specialty: String,
    pub policy: &'static str,
    pub members: usize,
    pub assigners: String,
}

/// A row of the member table: someone who may be in the team, and whether they are.
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub detail: String,
    pub member: bool,
    pub assigner: bool,
}

#[derive(Template)]
#[template(path = "ui/teams.html")]
struct TeamsPage {
    b: Base,
    error: Option<String>,
    teams: Vec<TeamLine>,
    specialties: Vec<(String, String)>,
    policies: Vec<(&'static str, &'static str)>,
    candidates: Vec<Candidate>,
    f_name: String,
    f_specialty: String,
    f_policy: String,
}

/// The four policies with their long labels, for the radio buttons.
pub fn policy_choices(v: &Viewer) -> Vec<(&'static str, &'static str)> {
    ["self_service", "moderated", "auto_assign", "hybrid"]
        .into_iter()
        .map(|k| (k, v.t(&format!("policy_{k}_long"))))
        .collect()
}

pub fn parse_policy(s: &str) -> Result<TeamPolicy, Error> {
    match s {
        "self_service" => Ok(TeamPolicy::SelfService),
        "moderated" => Ok(TeamPolicy::Moderated),
        "auto_assign" => Ok(TeamPolicy::AutoAssign),
        "hybrid" => Ok(TeamPolicy::Hybrid),
        _ => Err(Error::invalid("policy", "choose one of the options")),
    }
}

/// The team's members from the member table: every ticked `member`, and every ticked
/// `assigner` (a case assigner is a member of the team), in the order of the table.
pub fn members_from_form(pairs: &[(String, String)]) -> Vec<NewTeamMember> {
    let mut out: Vec<NewTeamMember> = Vec::new();
    for (k, id) in pairs {
        if k != "member" && k != "assigner" {
            continue;
        }
        let is_assigner = k == "assigner";
        match out.iter_mut().find(|m| m.professional_id == *id) {
            Some(m) => m.is_assigner |= is_assigner,
            None => out.push(NewTeamMember {
                professional_id: id.clone(),
                is_assigner,
            }),
        }
    }
    out
}

/// Who may be in a team of the organisation: its active doctors and midwives, and the
/// team's current members (who may come from elsewhere); ticked as `chosen` says.
pub async fn candidates(
    s: &crate::web::AppState,
    v: &Viewer,
    org: &str,
    current: &[crate::directory::model::TeamMember],
    chosen: &[NewTeamMember],
) -> Result<Vec<Candidate>, Error> {
    let members = s.platform.organisation_members(&v.ctx, org).await?;
    let tick = |id: &str| {
        chosen
            .iter()
            .find(|m| m.professional_id == id)
            .map(|m| (true, m.is_assigner))
            .unwrap_or((false, false))
    };
    let mut out: Vec<Candidate> = Vec::new();
    for c in current {
        let (member, assigner) = tick(&c.professional_id);
        out.push(Candidate {
            id: c.professional_id.clone(),
            name: c.display_name.clone(),
            detail: String::new(),
            member,
            assigner,
        });
    }
    for m in members {
        let p = m.professional;
        if let Some(c) = out.iter_mut().find(|c| c.id == p.id) {
            c.detail = p.profession_label.clone();
            continue;
        }
        if !p.may_be_expert || !p.active {
            continue;
        }
        let (member, assigner) = tick(&p.id);
        out.push(Candidate {
            detail: p.profession_label.clone(),
            id: p.id,
            name: p.display_name,
            member,
            assigner,
        });
    }
    Ok(out)
}

/// A refused form: what was typed, the status, the error sentence.
type Refused<'a> = (&'a [(String, String)], StatusCode, String);

async fn page(
    s: &crate::web::AppState,
    v: &Viewer,
    org: &str,
    form: Option<Refused<'_>>,
) -> Response {
    let teams = match s.platform.list_teams(None).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let teams: Vec<TeamLine> = teams
        .into_iter()
        .filter(|t| t.organisation_id == org)
        .map(|t| TeamLine {
            policy: v.t(&format!("policy_{}", t.policy)),
            members: t.members.len(),
            assigners: t
                .members
                .iter()
                .filter(|m| m.is_assigner)
                .map(|m| m.display_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            id: t.id,
            name: t.name,
            specialty: t.specialty_label,
        })
        .collect();
    let (pairs, status, error): (&[(String, String)], StatusCode, Option<String>) = match form {
        Some((p, st, e)) => (p, st, Some(e)),
        None => (&[], StatusCode::OK, None),
    };
    // A new team starts with its creator as case assigner when they may be one.
    let chosen = if error.is_some() {
        members_from_form(pairs)
    } else if v.me.may_be_expert {
        vec![NewTeamMember {
            professional_id: v.me.id.clone(),
            is_assigner: true,
        }]
    } else {
        Vec::new()
    };
    let candidates = match candidates(s, v, org, &[], &chosen).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut specialties: Vec<(String, String)> = crate::codes::specialties()
        .values()
        .map(|x| (x.code.clone(), x.label.clone()))
        .collect();
    specialties.sort_by(|a, b| a.1.cmp(&b.1));
    let u = unread(s, v).await;
    render(
        status,
        &TeamsPage {
            b: v.base(v.t("teams"), "/admin/teams", u),
            error,
            teams,
            specialties,
            policies: policy_choices(v),
            candidates,
            f_name: field(pairs, "name"),
            f_specialty: field(pairs, "specialty"),
            f_policy: Some(field(pairs, "policy"))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "self_service".into()),
        },
    )
}

pub async fn teams_page(axum::extract::State(s): S, parts: Parts) -> Response {
    let (v, org) = match super::admin::admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    page(&s, &v, &org, None).await
}

pub async fn create_team(axum::extract::State(s): S, parts: Parts, body: Bytes) -> Response {
    let (v, org) = match super::admin::admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(&s, &field(&pairs, "csrf")).await {
        return r;
    }
    let result = async {
        let input = TeamInput {
            name: field(&pairs, "name"),
            specialty: field(&pairs, "specialty"),
            policy: parse_policy(&field(&pairs, "policy"))?,
            routing: TeamRouting::default(),
            members: members_from_form(&pairs),
        };
        s.platform.admin_create_team(&v.ctx, &org, input).await
    }
    .await;
    match result {
        Ok(team) => see_other(&format!("/teams/{}/settings?done=team_created", team.id)),
        Err(e @ Error::Invalid(_)) => {
            let text = error_text(v.lang, &e);
            page(
                &s,
                &v,
                &org,
                Some((&pairs, StatusCode::UNPROCESSABLE_ENTITY, text)),
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn an_assigner_is_a_member_and_nobody_is_listed_twice() {
        let m = members_from_form(&pairs(&[
            ("csrf", "x"),
            ("member", "a"),
            ("member", "b"),
            ("assigner", "b"),
            ("assigner", "c"),
            ("member", "a"),
        ]));
        let got: Vec<(&str, bool)> = m
            .iter()
            .map(|m| (m.professional_id.as_str(), m.is_assigner))
            .collect();
        assert_eq!(got, vec![("a", false), ("b", true), ("c", true)]);
        assert!(members_from_form(&pairs(&[("name", "x")])).is_empty());
    }

    #[test]
    fn policies_parse_or_are_refused() {
        assert_eq!(parse_policy("hybrid").unwrap(), TeamPolicy::Hybrid);
        assert!(parse_policy("anarchy").is_err());
    }
}
