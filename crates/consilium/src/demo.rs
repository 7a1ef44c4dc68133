//! The synthetic demo data set: an MSP with a GP, a nurse and a physiotherapist; a hospital
//! dermatology team of three experts with one case assigner; a cardiologist working alone;
//! a midwife; a dozen patients; cases in every state; a few acceptance rules and an absence. Every identifier is synthetic with
//! valid check digits (RPPS in the unused `199999…` range). Seeding twice does nothing.

use crate::auth::{hash_token, insert_token};
use crate::cases::model::{DeclineReason, OpinionKind, Outcome, OutcomeCode, Urgency};
use crate::cases::service::{
    AnswerInput, AssignInput, CancelInput, ConsentDecision, ConsentInput, ConsentMethod,
    ConvertInput, DeclineInput, ForwardInput, NewCase, TextInput,
};
use crate::directory::model::{
    NewOrganisation, NewProfessional, NewTeam, NewTeamMember, OrganisationKind, TeamPolicy,
};
use crate::identifiers::{Ins, luhn_key};
use crate::kernel::actor::ProfessionalActor;
use crate::kernel::{Actor, Error, ManualClock, Result};
use crate::patients::model::{IdentityStatus, PatientInput, Sex};
use crate::platform::{Ctx, Platform};
use crate::routing::model::AcceptanceRules;
use crate::routing::rules::AbsenceInput;
use crate::run;
use std::sync::Arc;

const MARKER: &str = "demo_seeded";

/// A demo user, for the start-up banner.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub name: String,
    pub role: &'static str,
    pub rpps: String,
    pub token: String,
    /// Password for the sign-in page (synthetic, like everything in the demo).
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct DemoInfo {
    pub created: bool,
    pub users: Vec<DemoUser>,
}

impl DemoInfo {
    pub fn banner(&self, base: &str) -> String {
        let mut s = String::new();
        s.push_str(if self.created {
            "Demo data seeded (synthetic). Demo users, their bearer tokens and passwords:\n"
        } else {
            "Demo data already present. Demo users, their bearer tokens and passwords:\n"
        });
        for u in &self.users {
            s.push_str(&format!(
                "  {:<26} {:<38} RPPS {}  token {}  password {}\n",
                u.name, u.role, u.rpps, u.token, u.password
            ));
        }
        s.push_str(&format!(
            "Sign in at {base}/auth/login with the RPPS and password (doctors, midwives and \
             administrators enrol a TOTP second factor at first sign-in).\n"
        ));
        let first = self
            .users
            .first()
            .map(|u| u.token.as_str())
            .unwrap_or("csl_demo_…");
        s.push_str(&format!(
            "Try: curl -H 'Authorization: Bearer {first}' {base}/api/v1/cases"
        ));
        s
    }
}

/// Synthetic RPPS number n: `199999` + 4 digits + Luhn key.
pub fn demo_rpps(n: u32) -> String {
    let body = format!("199999{n:04}");
    format!("{body}{}", luhn_key(&body))
}

fn ins(body: &str) -> String {
    format!("{body}{}", Ins::key_for(body).unwrap_or_default())
}

struct Person {
    key: &'static str,
    first: &'static str,
    last: &'static str,
    profession: &'static str,
    specialties: &'static [&'static str],
    role: &'static str,
}

const PEOPLE: &[Person] = &[
    Person {
        key: "martin",
        first: "Claire",
        last: "Martin",
        profession: "10",
        specialties: &["SM54"],
        role: "GP, MSP des Tilleuls (requester)",
    },
    Person {
        key: "petit",
        first: "Julien",
        last: "Petit",
        profession: "60",
        specialties: &[],
        role: "nurse, MSP des Tilleuls (requester)",
    },
    Person {
        key: "moreau",
        first: "Sophie",
        last: "Moreau",
        profession: "70",
        specialties: &[],
        role: "physiotherapist, MSP (requester)",
    },
    Person {
        key: "lefebvre",
        first: "Antoine",
        last: "Lefebvre",
        profession: "10",
        specialties: &["SM15"],
        role: "dermatologist, CHU team assigner",
    },
    Person {
        key: "roux",
        first: "Camille",
        last: "Roux",
        profession: "10",
        specialties: &["SM15"],
        role: "dermatologist, CHU team",
    },
    Person {
        key: "fontaine",
        first: "Hugo",
        last: "Fontaine",
        profession: "10",
        specialties: &["SM15"],
        role: "dermatologist, CHU team",
    },
    Person {
        key: "bernard",
        first: "Paul",
        last: "Bernard",
        profession: "10",
        specialties: &["SM04"],
        role: "cardiologist, alone (expert)",
    },
    Person {
        key: "garnier",
        first: "Léa",
        last: "Garnier",
        profession: "50",
        specialties: &[],
        role: "midwife (requester and expert)",
    },
];

fn token_for(key: &str) -> String {
    format!("csl_demo_{key}")
}

/// The demo user's password (synthetic data only).
pub fn password_for(key: &str) -> String {
    format!("{key}-demo-consilium")
}

pub fn users() -> Vec<DemoUser> {
    PEOPLE
        .iter()
        .enumerate()
        .map(|(i, p)| DemoUser {
            name: crate::directory::model::display_name(p.profession, p.first, p.last),
            role: p.role,
            rpps: demo_rpps(i as u32 + 1),
            token: token_for(p.key),
            password: password_for(p.key),
        })
        .collect()
}

/// For `serve --demo`: demo accounts that need a second factor get one enrolled (its
/// current code is shown on the second-factor page of a demo server), so each role can be
/// tried at once. Not part of `seed`: tests sign demo users in through the real enrolment.
pub async fn enrol_second_factors(p: &Platform) -> Result<()> {
    for u in users() {
        if let Some(pro) = p.search_by_rpps(&u.rpps).await? {
            p.demo_enrol_totp(&pro.id).await?;
        }
    }
    Ok(())
}

async fn seeded(p: &Platform) -> Result<bool> {
    let mut tx = p.read().await?;
    let r: Option<(String,)> = run!(&mut tx, |c| sqlx::query_as(
        "SELECT value FROM settings WHERE name = $1"
    )
    .bind(MARKER)
    .fetch_optional(c)
    .await)?;
    tx.rollback().await?;
    Ok(r.is_some())
}

/// Seeds the demo once. Cases are walked through the real use cases (so timelines, audit
/// and deadlines are genuine), with a clock set in the past for realistic dates.
pub async fn seed(p: &Platform) -> Result<DemoInfo> {
    if seeded(p).await? {
        return Ok(DemoInfo {
            created: false,
            users: users(),
        });
    }
    let real_now = p.now();
    let clock = ManualClock::new(real_now.plus_days(-12));
    let dp = p.with_clock(Arc::new(clock.clone()));
    let sys = Ctx::system("demo");

    let msp = dp
        .create_organisation(
            &sys,
            NewOrganisation {
                name: "MSP des Tilleuls".into(),
                kind: OrganisationKind::Msp,
                finess: Some(finess("87000012")),
                siret: None,
                city: Some("Limoges".into()),
                postcode: Some("87000".into()),
            },
        )
        .await?;
    let chu = dp
        .create_organisation(
            &sys,
            NewOrganisation {
                name: "CHU de Limoges — Dermatologie".into(),
                kind: OrganisationKind::HospitalService,
                finess: Some(finess("87000099")),
                siret: None,
                city: Some("Limoges".into()),
                postcode: Some("87042".into()),
            },
        )
        .await?;
    let cab = dp
        .create_organisation(
            &sys,
            NewOrganisation {
                name: "Cabinet de cardiologie Bernard".into(),
                kind: OrganisationKind::Cabinet,
                finess: None,
                siret: None,
                city: Some("Guéret".into()),
                postcode: Some("23000".into()),
            },
        )
        .await?;
    let sf = dp
        .create_organisation(
            &sys,
            NewOrganisation {
                name: "Cabinet de sage-femme Garnier".into(),
                kind: OrganisationKind::Cabinet,
                finess: None,
                siret: None,
                city: Some("Tulle".into()),
                postcode: Some("19000".into()),
            },
        )
        .await?;

    let mut ids = std::collections::HashMap::new();
    let mut actors = std::collections::HashMap::new();
    for (i, person) in PEOPLE.iter().enumerate() {
        let org = match person.key {
            "martin" | "petit" | "moreau" => &msp.id,
            "lefebvre" | "roux" | "fontaine" => &chu.id,
            "bernard" => &cab.id,
            _ => &sf.id,
        };
        let role = if matches!(person.key, "martin" | "lefebvre") {
            "admin"
        } else {
            "member"
        };
        let pro = dp
            .create_professional(
                &sys,
                NewProfessional {
                    rpps: Some(demo_rpps(i as u32 + 1)),
                    adeli: None,
                    first_name: person.first.into(),
                    last_name: person.last.into(),
                    profession: person.profession.into(),
                    specialties: person.specialties.iter().map(|s| s.to_string()).collect(),
                    email: Some(format!("{}@demo.consilium.invalid", person.key)),
                },
                &[(org.clone(), role)],
            )
            .await?;
        dp.set_password(&sys, &pro.id, &password_for(person.key))
            .await?;
        let mut tx = dp.db.begin().await?;
        insert_token(
            &mut tx,
            &pro.id,
            &hash_token(&token_for(person.key)),
            "demo",
            None,
            real_now.micros(),
        )
        .await?;
        tx.commit().await?;
        actors.insert(
            person.key,
            Ctx::new(Actor::Professional(ProfessionalActor {
                id: pro.id.clone(),
                display_name: pro.display_name.clone(),
                profession: pro.profession.clone(),
            })),
        );
        ids.insert(person.key, pro.id);
    }
    let id = |k: &str| ids.get(k).cloned().unwrap_or_default();
    let who = |k: &str| actors.get(k).cloned().ok_or(Error::NotFound);

    let team = dp
        .create_team(
            &sys,
            NewTeam {
                organisation_id: chu.id.clone(),
                name: "Télé-dermatologie CHU de Limoges".into(),
                specialty: "SM15".into(),
                policy: TeamPolicy::SelfService,
                routing: Default::default(),
                members: vec![
                    NewTeamMember {
                        professional_id: id("lefebvre"),
                        is_assigner: true,
                    },
                    NewTeamMember {
                        professional_id: id("roux"),
                        is_assigner: false,
                    },
                    NewTeamMember {
                        professional_id: id("fontaine"),
                        is_assigner: false,
                    },
                ],
            },
        )
        .await?;

    // A dozen synthetic patients: (birth name, given names, birth date, sex, INS body or none).
    let patients: [(&str, &str, &str, Sex, Option<&str>); 12] = [
        (
            "Dubois",
            "Jeanne Marie",
            "1958-03-12",
            Sex::F,
            Some("2580387085012"),
        ),
        (
            "Laurent",
            "Michel",
            "1947-11-02",
            Sex::M,
            Some("1471187085044"),
        ),
        (
            "Simon",
            "Lucie",
            "1992-06-25",
            Sex::F,
            Some("2920619272018"),
        ),
        (
            "Michel",
            "André",
            "1939-01-30",
            Sex::M,
            Some("1390123096031"),
        ),
        ("Lefèvre", "Emma", "2015-09-14", Sex::F, None),
        (
            "Leroy",
            "Louis Pierre",
            "1966-04-08",
            Sex::M,
            Some("1660487085077"),
        ),
        (
            "Girard",
            "Chloé",
            "1988-12-19",
            Sex::F,
            Some("2881219031025"),
        ),
        ("Bonnet", "Gabriel", "1979-07-07", Sex::M, None),
        (
            "Dupont",
            "Nathalie",
            "1971-02-21",
            Sex::F,
            Some("2710287085093"),
        ),
        (
            "Lambert",
            "Jules",
            "2001-10-03",
            Sex::M,
            Some("1011023096110"),
        ),
        (
            "Fontaine",
            "Manon",
            "1996-05-28",
            Sex::F,
            Some("2960519272104"),
        ),
        (
            "Rousseau",
            "Henri",
            "1952-08-16",
            Sex::M,
            Some("152082A004017"),
        ),
    ];
    let martin = who("martin")?;
    let mut pids = Vec::new();
    for (i, (last, given, birth, sex, ins_body)) in patients.into_iter().enumerate() {
        // Each patient is recorded by the professional who asks about them.
        let recorder = match i {
            1 | 7 | 9 => who("petit")?,
            5 => who("moreau")?,
            10 => who("garnier")?,
            _ => martin.clone(),
        };
        let p = dp
            .create_patient(
                &recorder,
                PatientInput {
                    birth_family_name: last.into(),
                    used_family_name: None,
                    given_names: given.into(),
                    birth_date: birth.into(),
                    sex,
                    birth_place_code: None,
                    ins: ins_body.map(ins),
                    ins_kind: None,
                    identity_status: if ins_body.is_some() {
                        IdentityStatus::Qualified
                    } else {
                        IdentityStatus::Provisional
                    },
                    medecin_traitant_id: Some(id("martin")),
                },
            )
            .await?;
        pids.push(p.id);
    }
    let pid = |i: usize| pids.get(i).cloned().unwrap_or_default();

    let consent = || ConsentInput {
        decision: ConsentDecision::Given,
        method: ConsentMethod::Oral,
        patient_informed: true,
        collected_at: None,
    };
    let derm = |i: usize, reason: &str, question: &str, ctx: &str| NewCase {
        patient_id: Some(pid(i)),
        patient: None,
        expert_id: None,
        team_id: Some(team.id.clone()),
        specialty: None,
        urgency: None,
        reason: reason.into(),
        question: question.into(),
        clinical_context: ctx.into(),
    };
    let cardio = |i: usize, reason: &str, question: &str, ctx: &str| NewCase {
        expert_id: Some(id("bernard")),
        team_id: None,
        ..derm(i, reason, question, ctx)
    };
    let (lefebvre, roux, fontaine, bernard, petit, moreau, garnier) = (
        who("lefebvre")?,
        who("roux")?,
        who("fontaine")?,
        who("bernard")?,
        who("petit")?,
        who("moreau")?,
        who("garnier")?,
    );

    // Submitted 12 days ago and never handled: expired (R9 passed).
    let c = dp
        .create_case(
            &martin,
            derm(
                11,
                "Lésion pigmentée du dos",
                "Surveillance simple ou exérèse ?",
                "Lésion de 6 mm, bords réguliers, stable selon le patient.",
            ),
        )
        .await?;
    dp.record_consent(&martin, &c.id, consent()).await?;
    dp.submit(&martin, &c.id).await?;

    clock.set(real_now.plus_days(-10));
    // Closed: answered with advice, then closed with an outcome.
    let c = dp
        .create_case(
            &martin,
            derm(
                0,
                "Plaque érythémato-squameuse du coude",
                "Psoriasis ? Quel traitement local ?",
                "Évolution depuis 3 mois, prurit modéré, pas d'atteinte unguéale.",
            ),
        )
        .await?;
    dp.record_consent(&martin, &c.id, consent()).await?;
    dp.submit(&martin, &c.id).await?;
    clock.advance_seconds(3 * 3600);
    dp.accept(&roux, &c.id).await?;
    dp.answer(&roux, &c.id, AnswerInput {
        kind: OpinionKind::Advice,
        context: "Plaque unique du coude, aspect typique.".into(),
        answer: "Aspect évocateur d'un psoriasis en plaques localisé.".into(),
        recommendations: "Dermocorticoïde d'activité forte 1 application/jour 3 semaines puis décroissance ; émollients.".into(),
        follow_up: Some("Nouvel avis si échec à 6 semaines.".into()),
        visit_needed: false,
        visit_urgency: None,
        request_completeness: Some(5),
    })
    .await?;
    // The expert signs the compte rendu (R10): a frozen PDF, delivered by jobs.
    clock.advance_seconds(600);
    dp.sign_report(&roux, &c.id).await?;
    clock.advance_days(1);
    dp.close(
        &martin,
        &c.id,
        Outcome {
            outcome: OutcomeCode::VisitAvoided,
            usefulness: Some(5),
            comment: None,
        },
    )
    .await?;

    clock.set(real_now.plus_days(-9));
    // In progress and overdue (submitted 9 days ago).
    let c = dp
        .create_case(
            &petit,
            cardio(
                1,
                "Œdèmes des membres inférieurs",
                "Adaptation du diurétique ?",
                "Insuffisance cardiaque connue, prise de 2 kg en une semaine.",
            ),
        )
        .await?;
    dp.record_consent(&petit, &c.id, consent()).await?;
    dp.submit(&petit, &c.id).await?;
    dp.accept(&bernard, &c.id).await?;

    clock.set(real_now.plus_days(-6));
    // Answered: converted to an urgent consultation, waiting for the requester to close.
    let c = dp
        .create_case(
            &martin,
            cardio(
                3,
                "Souffle cardiaque découvert",
                "Faut-il une échographie rapide ?",
                "Souffle systolique 3/6 au foyer aortique, dyspnée d'effort récente.",
            ),
        )
        .await?;
    dp.record_consent(&martin, &c.id, consent()).await?;
    dp.submit(&martin, &c.id).await?;
    dp.accept(&bernard, &c.id).await?;
    dp.convert_to_consultation(
        &bernard,
        &c.id,
        ConvertInput {
            context: "Souffle systolique avec dyspnée d'effort chez un patient de 87 ans.".into(),
            answer: "Suspicion de rétrécissement aortique serré.".into(),
            recommendations: "Consultation avec échocardiographie dans la semaine.".into(),
            follow_up: None,
            urgency: Urgency::Urgent,
            request_completeness: Some(4),
        },
    )
    .await?;

    clock.set(real_now.plus_days(-5));
    // Declined by the team's assigner (out of scope).
    let c = dp
        .create_case(
            &moreau,
            derm(
                5,
                "Douleur d'épaule",
                "Avis sur la prise en charge",
                "Douleur mécanique depuis 2 mois.",
            ),
        )
        .await?;
    dp.record_consent(&moreau, &c.id, consent()).await?;
    dp.submit(&moreau, &c.id).await?;
    dp.decline(
        &lefebvre,
        &c.id,
        DeclineInput {
            reason: DeclineReason::OutOfScope,
            comment: Some("Relève de la rhumatologie ou de la médecine du sport.".into()),
        },
    )
    .await?;

    // Cancelled by the requester.
    let c = dp
        .create_case(
            &martin,
            derm(
                6,
                "Verrue plantaire",
                "Cryothérapie possible en cabinet ?",
                "",
            ),
        )
        .await?;
    dp.record_consent(&martin, &c.id, consent()).await?;
    dp.submit(&martin, &c.id).await?;
    dp.cancel(
        &martin,
        &c.id,
        CancelInput {
            reason: Some("Vue en consultation entre-temps.".into()),
        },
    )
    .await?;

    clock.set(real_now.plus_days(-4));
    // The case submitted 12 days ago passed its R9 deadline untouched: it expires. (The
    // cardiology case in progress since 9 days stays open and shows as overdue.)
    dp.expire_overdue(&sys).await?;

    clock.set(real_now.plus_days(-3));
    // Awaiting information from the requester.
    let c = dp
        .create_case(
            &martin,
            derm(
                2,
                "Éruption du visage",
                "Rosacée ou dermatite séborrhéique ?",
                "Érythème centro-facial, quelques papules.",
            ),
        )
        .await?;
    dp.record_consent(&martin, &c.id, consent()).await?;
    dp.submit(&martin, &c.id).await?;
    dp.assign(
        &lefebvre,
        &c.id,
        AssignInput {
            expert_id: id("fontaine"),
        },
    )
    .await?;
    dp.accept(&fontaine, &c.id).await?;
    dp.request_info(&fontaine, &c.id, TextInput { text: "Pouvez-vous préciser les facteurs déclenchants (chaleur, alcool) et les traitements déjà essayés ?".into() }).await?;

    // In progress after an information round trip, with a message thread.
    let c = dp
        .create_case(
            &martin,
            derm(
                8,
                "Lésion croûteuse de la tempe",
                "Carcinome basocellulaire ?",
                "Lésion de 8 mm, saigne au contact, évolution 4 mois.",
            ),
        )
        .await?;
    dp.record_consent(&martin, &c.id, consent()).await?;
    dp.submit(&martin, &c.id).await?;
    dp.accept(&roux, &c.id).await?;
    dp.request_info(
        &roux,
        &c.id,
        TextInput {
            text: "La lésion est-elle perlée en bordure ?".into(),
        },
    )
    .await?;
    clock.advance_days(1);
    dp.provide_info(
        &martin,
        &c.id,
        TextInput {
            text: "Oui, bordure perlée avec télangiectasies.".into(),
        },
    )
    .await?;
    dp.post_message(
        &roux,
        &c.id,
        TextInput {
            text: "Merci, je rédige mon avis aujourd'hui.".into(),
        },
    )
    .await?;

    clock.set(real_now.plus_days(-2));
    // Forwarded back to the team pool by an expert, then still waiting (submitted).
    let c = dp
        .create_case(
            &garnier,
            derm(
                10,
                "Prurit gravidique",
                "Dermatose de grossesse ?",
                "Grossesse de 32 SA, prurit diffus sans lésion primaire.",
            ),
        )
        .await?;
    dp.record_consent(&garnier, &c.id, consent()).await?;
    dp.submit(&garnier, &c.id).await?;
    dp.accept(&fontaine, &c.id).await?;
    dp.forward(
        &fontaine,
        &c.id,
        ForwardInput {
            expert_id: None,
            team_id: Some(team.id.clone()),
            comment: Some("Absent demain, je remets dans le pool.".into()),
        },
    )
    .await?;

    clock.set(real_now.plus_days(-1));
    // Assigned to the cardiologist, not yet accepted.
    let c = dp
        .create_case(
            &petit,
            cardio(
                9,
                "Palpitations",
                "Holter nécessaire ?",
                "Palpitations brèves au repos, ECG de repos normal.",
            ),
        )
        .await?;
    dp.record_consent(&petit, &c.id, consent()).await?;
    dp.submit(&petit, &c.id).await?;
    // Waiting in the dermatology pool.
    let c = dp
        .create_case(
            &petit,
            derm(
                7,
                "Ulcère de jambe",
                "Avis sur le pansement et le bilan",
                "Ulcère de 3 cm, malléole interne, depuis 6 semaines.",
            ),
        )
        .await?;
    dp.record_consent(&petit, &c.id, consent()).await?;
    dp.submit(&petit, &c.id).await?;

    clock.set(real_now.plus_seconds(-3600));
    // Drafts: one ready to send, one blocked by the patient's refusal (R6).
    dp.create_case(
        &martin,
        derm(
            4,
            "Nævus chez l'enfant",
            "Surveillance ?",
            "Nævus congénital de 1 cm.",
        ),
    )
    .await?;
    let c = dp
        .create_case(
            &martin,
            cardio(3, "Bilan avant chirurgie", "Contre-indication ?", ""),
        )
        .await?;
    dp.record_consent(
        &martin,
        &c.id,
        ConsentInput {
            decision: ConsentDecision::Refused,
            method: ConsentMethod::Oral,
            patient_informed: true,
            collected_at: None,
        },
    )
    .await?;

    // Routing rules, so that the search and the board show them: the dermatology team
    // takes requests from Nouvelle-Aquitaine (region 75); the cardiologist takes them from
    // doctors, midwives, nurses and physiotherapists; Fontaine will be away for a week in
    // a fortnight, Roux answering for him.
    dp.set_team_rules(
        &lefebvre,
        &team.id,
        AcceptanceRules {
            regions: vec!["75".into()],
            ..AcceptanceRules::default()
        },
    )
    .await?;
    dp.set_my_rules(
        &bernard,
        AcceptanceRules {
            professions: ["10", "50", "60", "69", "70"].map(String::from).to_vec(),
            ..AcceptanceRules::default()
        },
    )
    .await?;
    dp.add_absence(
        &fontaine,
        AbsenceInput {
            from: real_now.plus_days(14),
            to: real_now.plus_days(21),
            delegate_id: Some(id("roux")),
        },
    )
    .await?;

    let mut tx = p.db.begin().await?;
    run!(&mut tx, |c| sqlx::query(
        "INSERT INTO settings (name, value) VALUES ($1, $2)"
    )
    .bind(MARKER)
    .bind(real_now.to_rfc3339())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(DemoInfo {
        created: true,
        users: users(),
    })
}

fn finess(body: &str) -> String {
    format!("{body}{}", luhn_key(body))
}
