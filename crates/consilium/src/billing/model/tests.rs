use super::*;
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).expect("valid date-time")
}

fn party(id: &str, profession: &str, msp: Option<&str>) -> Party {
    Party {
        id: id.into(),
        profession: profession.into(),
        msps: msp.map(|m| vec![m.to_string()]).unwrap_or_default(),
    }
}

fn facts(req: Party, exp: Party, state: CaseState, at: &str) -> CaseFacts {
    CaseFacts {
        case_id: "case".into(),
        patient_id: "pat".into(),
        state,
        answered_at: matches!(state, CaseState::Answered | CaseState::Closed).then(|| ts(at)),
        requester: req,
        expert: Some(exp),
    }
}

fn prior(pro: &str, code: &str, n: usize, at: &str, patient: &str) -> Vec<PriorAct> {
    (0..n)
        .map(|i| PriorAct {
            case_id: format!("old{pro}{code}{i}"),
            professional_id: pro.into(),
            patient_id: patient.into(),
            code: code.into(),
            at: ts(at).plus_seconds(i as i64),
        })
        .collect()
}

#[test]
fn the_compiled_pack_parses() {
    let p = RulePack::current();
    assert_eq!(p.annual_period, AnnualPeriod::Calendar);
    assert_eq!(p.act(Side::Expert).map(|a| a.code.as_str()), Some("TE2"));
    assert_eq!(p.act(Side::Requester).map(|a| a.code.as_str()), Some("RQD"));
}

#[test]
fn bad_packs_are_refused() {
    let good = RULES_TOML;
    assert!(RulePack::parse(&good.replace("Europe/Paris", "UTC")).is_err());
    assert!(
        RulePack::parse(&good.replace("2026-01-01", "2021-01-01")).is_err(),
        "unordered tariffs"
    );
    assert!(RulePack::parse(&good.replace("cents = 1000", "cents = 0")).is_err());
    assert!(RulePack::parse(&good.replace("side = \"requester\"", "side = \"expert\"")).is_err());
    assert!(RulePack::parse("version = 1").is_err());
}

#[test]
fn paris_time() {
    // Winter: UTC+1; summer: UTC+2; switches at 01:00 UTC on the last Sundays.
    assert_eq!(paris_offset_seconds(ts("2026-01-15T12:00:00Z")), 3600);
    assert_eq!(paris_offset_seconds(ts("2026-07-15T12:00:00Z")), 7200);
    assert_eq!(paris_offset_seconds(ts("2026-03-29T00:59:59Z")), 3600);
    assert_eq!(paris_offset_seconds(ts("2026-03-29T01:00:00Z")), 7200);
    assert_eq!(paris_offset_seconds(ts("2026-10-25T00:59:59Z")), 7200);
    assert_eq!(paris_offset_seconds(ts("2026-10-25T01:00:00Z")), 3600);
    assert_eq!(
        paris_date(ts("2025-12-31T22:59:59Z")).to_string(),
        "2025-12-31"
    );
    assert_eq!(
        paris_date(ts("2025-12-31T23:00:00Z")).to_string(),
        "2026-01-01"
    );
    let d = Date::from_calendar_date(2026, Month::July, 14).expect("date");
    assert_eq!(paris_midnight(d), ts("2026-07-13T22:00:00Z"));
}

/// One row of the billing table: each cites the rule it checks.
struct Row {
    name: &'static str,
    rule: &'static str,
    requester: (&'static str, Option<&'static str>),
    expert: (&'static str, Option<&'static str>),
    state: CaseState,
    at: &'static str,
    /// Previous acts of this requester / expert for the same patient, in the same year.
    prior_req: usize,
    prior_exp: usize,
    /// Expected (billable, cents) for the requester and the expert.
    req: Option<i64>,
    exp: Option<i64>,
}

const W: &str = "2026-03-10T10:00:00Z";
const OLD: &str = "2024-06-10T10:00:00Z";

#[rustfmt::skip]
fn table() -> Vec<Row> {
    use CaseState::*;
    let row = |name, rule, requester, expert, state, at, prior_req, prior_exp, req, exp| Row {
        name, rule, requester, expert, state, at, prior_req, prior_exp, req, exp,
    };
    vec![
        // R3: who may bill the request, each profession, with a doctor expert (TE2 23 € in 2026).
        row("GP requester",                 "R3", ("10", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("midwife requester",            "R3", ("50", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("nurse requester",              "R3", ("60", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("psychiatric nurse requester",  "R3", ("69", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("physiotherapist requester",    "R3", ("70", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("podiatrist requester",         "R3", ("80", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("speech therapist requester",   "R3", ("91", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("orthoptist requester",         "R3", ("92", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("pharmacist may request, not bill", "R3", ("21", None), ("10", None), Answered, W, 0, 0, None, Some(2300)),
        row("dentist may request, not bill",    "R3", ("40", None), ("10", None), Answered, W, 0, 0, None, Some(2300)),
        row("psychologist may not bill",        "R3", ("93", None), ("10", None), Answered, W, 0, 0, None, Some(2300)),
        row("dietician may not bill",           "R3", ("95", None), ("10", None), Answered, W, 0, 0, None, Some(2300)),
        // R4: the expert side.
        row("midwife expert bills TE2",     "R4", ("10", None), ("50", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("nurse cannot bill TE2",        "R4", ("10", None), ("60", None), Answered, W, 0, 0, Some(1000), None),
        row("closed case keeps its acts",   "R4", ("60", None), ("10", None), Closed,   W, 0, 0, Some(1000), Some(2300)),
        // R8 / R9 / R10: no act performed.
        row("declined: nothing",            "R8", ("10", None), ("10", None), Declined,   W, 0, 0, None, None),
        row("declined, nurse requester",    "R8", ("60", None), ("50", None), Declined,   W, 0, 0, None, None),
        row("cancelled: nothing",           "R8", ("10", None), ("10", None), Cancelled,  W, 0, 0, None, None),
        row("cancelled in progress",        "R8", ("70", None), ("10", None), Cancelled,  W, 0, 0, None, None),
        row("expired: nothing",             "R9", ("10", None), ("10", None), Expired,    W, 0, 0, None, None),
        row("not answered yet",             "R10", ("10", None), ("10", None), InProgress, W, 0, 0, None, None),
        // R11: date-effective tariffs, switching at midnight Paris time on 2026-01-01.
        row("TE2 20 € in 2025",             "R11", ("10", None), ("10", None), Answered, "2025-06-01T10:00:00Z", 0, 0, Some(1000), Some(2000)),
        row("TE2 20 € at 23:59:59 Paris on 31 Dec", "R11", ("10", None), ("10", None), Answered, "2025-12-31T22:59:59Z", 0, 0, Some(1000), Some(2000)),
        row("TE2 23 € at 00:00 Paris on 1 Jan",     "R11", ("10", None), ("10", None), Answered, "2025-12-31T23:00:00Z", 0, 0, Some(1000), Some(2300)),
        row("TE2 23 € later in 2026",       "R11", ("50", None), ("50", None), Answered, "2026-11-23T10:00:00Z", 0, 0, Some(1000), Some(2300)),
        // R14: annual limits.
        row("4th act still billable",       "R14", ("10", None), ("10", None), Answered, W, 3, 3, Some(1000), Some(2300)),
        row("5th act over the limit",       "R14", ("10", None), ("10", None), Answered, W, 4, 4, None, None),
        row("nurse limit 4",                "R14", ("60", None), ("10", None), Answered, W, 4, 0, None, Some(2300)),
        row("physio 2nd act billable",      "R14", ("70", None), ("10", None), Answered, W, 1, 0, Some(1000), Some(2300)),
        row("physio 3rd act over limit 2",  "R14", ("70", None), ("10", None), Answered, W, 2, 0, None, Some(2300)),
        row("speech therapist default 4",   "R14", ("91", None), ("10", None), Answered, W, 3, 0, Some(1000), Some(2300)),
        row("expert over, requester not",   "R14", ("60", None), ("10", None), Answered, W, 0, 4, Some(1000), None),
        row("last year's acts do not count", "R14", ("10", None), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
        // R15: same MSP.
        row("same MSP: nothing",            "R15", ("60", Some("msp1")), ("10", Some("msp1")), Answered, W, 0, 0, None, None),
        row("same MSP, physio and GP",      "R15", ("70", Some("msp1")), ("10", Some("msp1")), Answered, W, 0, 0, None, None),
        row("different MSPs bill",          "R15", ("60", Some("msp1")), ("10", Some("msp2")), Answered, W, 0, 0, Some(1000), Some(2300)),
        row("one side in an MSP bills",     "R15", ("60", Some("msp1")), ("10", None), Answered, W, 0, 0, Some(1000), Some(2300)),
    ]
}

#[test]
fn billing_table() {
    let pack = RulePack::current();
    let rows = table();
    assert!(rows.len() >= 30);
    for r in rows {
        let f = facts(
            party("req", r.requester.0, r.requester.1),
            party("exp", r.expert.0, r.expert.1),
            r.state,
            r.at,
        );
        let mut p = prior("req", "RQD", r.prior_req, r.at, "pat");
        p.extend(prior("exp", "TE2", r.prior_exp, r.at, "pat"));
        // Acts of last year, and for other patients, never count (R14).
        p.extend(prior("req", "RQD", 5, OLD, "pat"));
        p.extend(prior("exp", "TE2", 5, r.at, "other-patient"));
        // Shift prior acts a day earlier so R13 does not fire here (tested apart).
        for a in &mut p {
            if a.patient_id == "pat" && a.at.micros() > ts(OLD).micros() {
                a.at = a.at.plus_days(-1);
            }
        }
        let a = assess(pack, &f, &p);
        assert_eq!(a.decisions.len(), 2, "{}", r.name);
        for (d, want) in a.decisions.iter().zip([r.req, r.exp]) {
            assert_eq!(
                d.amount_cents, want,
                "{} ({}): {:?} got {:?}: {}",
                r.name, r.rule, d.side, d.amount_cents, d.explanation
            );
            assert_eq!(d.billable, want.is_some(), "{}", r.name);
            assert!(
                !d.explanation.is_empty() && !d.rule.is_empty(),
                "{}",
                r.name
            );
            assert!(d.tiers_payant, "R12");
            if !d.billable {
                // The refusal cites a rule of the pack.
                assert!(
                    ["R3", "R4", "R8", "R9", "R10", "R14", "R15"].contains(&d.rule.as_str()),
                    "{}: {}",
                    r.name,
                    d.rule
                );
            }
        }
        // The row's own rule is the one cited when a side is refused.
        if let Some(d) = a.decisions.iter().find(|d| !d.billable) {
            assert_eq!(d.rule, r.rule, "{}: {}", r.name, d.explanation);
        }
        assert!(a.warnings.is_empty(), "{}: {:?}", r.name, a.warnings);
    }
}

#[test]
fn r13_warns_of_another_act_the_same_day() {
    let pack = RulePack::current();
    let f = facts(
        party("req", "10", None),
        party("exp", "10", None),
        CaseState::Answered,
        W,
    );
    let p = prior("exp", "TE2", 1, "2026-03-10T08:00:00Z", "pat");
    let a = assess(pack, &f, &p);
    assert_eq!(a.warnings.len(), 1);
    assert_eq!(a.warnings[0].rule, "R13");
    assert_eq!(a.warnings[0].professional_id, "exp");
    // Still billable: the warning tells the professional, the decision stands.
    assert!(a.decisions.iter().all(|d| d.billable));
}

#[test]
fn rolling_period_counts_the_last_365_days() {
    let mut pack = RulePack::current().clone();
    pack.annual_period = AnnualPeriod::Rolling;
    let f = facts(
        party("req", "70", None),
        party("exp", "10", None),
        CaseState::Answered,
        W,
    );
    // Two physiotherapist acts in December 2025: a new calendar year, but within 365 days.
    let p = prior("req", "RQD", 2, "2025-12-01T10:00:00Z", "pat");
    let a = assess(&pack, &f, &p);
    assert!(!a.decisions[0].billable && a.decisions[0].rule == "R14");
    let a = assess(RulePack::current(), &f, &p);
    assert!(
        a.decisions[0].billable,
        "calendar year: a new year, a new count"
    );
}

fn any_profession() -> impl Strategy<Value = String> {
    proptest::sample::select(codes::professions().keys().cloned().collect::<Vec<_>>())
}

fn any_state() -> impl Strategy<Value = CaseState> {
    proptest::sample::select(CaseState::ALL.to_vec())
}

proptest! {
    /// R14: whatever order cases come in, recording every billable act never takes a
    /// counter past its limit.
    #[test]
    fn counters_never_exceed_limits(
        cases in proptest::collection::vec((0usize..3, 0i64..730, any_profession()), 1..40),
    ) {
        let pack = RulePack::current();
        let start = ts("2025-01-01T08:00:00Z");
        let mut recorded: Vec<PriorAct> = Vec::new();
        let mut sorted = cases.clone();
        sorted.sort_by_key(|c| c.1);
        for (i, (patient, day, prof)) in sorted.iter().enumerate() {
            let at = start.plus_days(*day).plus_seconds(i as i64);
            let mut f = facts(party(&format!("req{prof}"), prof, None), party("exp", "10", None), CaseState::Answered, "2025-01-01T00:00:00Z");
            f.case_id = format!("c{i}");
            f.patient_id = format!("p{patient}");
            f.answered_at = Some(at);
            for d in assess(pack, &f, &recorded).decisions.into_iter().filter(|d| d.billable) {
                recorded.push(PriorAct { case_id: f.case_id.clone(), professional_id: d.professional_id, patient_id: f.patient_id.clone(), code: d.code, at });
            }
        }
        for a in &recorded {
            let side = if a.code == "TE2" { Side::Expert } else { Side::Requester };
            let act = pack.act(side).expect("act");
            let prof = if side == Side::Expert { "10".to_string() } else {
                sorted.iter().enumerate().find(|(i, _)| format!("c{i}") == a.case_id).map(|(_, c)| c.2.clone()).unwrap_or_default()
            };
            let (s, e) = period(pack.annual_period, a.at);
            let n = recorded.iter().filter(|b| b.professional_id == a.professional_id && b.patient_id == a.patient_id && b.code == a.code && b.at >= s && b.at < e).count() as u32;
            prop_assert!(n <= act.limit_for(&prof), "{n} acts of {} in a period", a.code);
        }
    }

    /// R11: the TE2 tariff is 20 € up to the last microsecond of 2025 in Paris and 23 € from
    /// 00:00 Paris time on 2026-01-01 (23:00 UTC on 31 December).
    #[test]
    fn tariff_switches_exactly_at_midnight_paris(offset_us in -10_000_000_000i64..10_000_000_000i64) {
        let te2 = RulePack::current().act(Side::Expert).expect("TE2");
        let switch = ts("2025-12-31T23:00:00Z");
        let at = Timestamp(switch.micros() + offset_us);
        let cents = te2.tariff_at(at).map(|t| t.cents);
        prop_assert_eq!(cents, Some(if offset_us < 0 { 2000 } else { 2300 }));
    }

    /// A case never yields two acts of the same code, and only answered (or closed) cases
    /// yield any act.
    #[test]
    fn never_two_acts_of_one_code(
        req in any_profession(), exp in any_profession(), state in any_state(),
        day in 0i64..900, msp in any::<bool>(),
    ) {
        let mut f = facts(party("req", &req, msp.then_some("m")), party("exp", &exp, msp.then_some("m")), state, "2025-01-01T00:00:00Z");
        if f.answered_at.is_some() {
            f.answered_at = Some(ts("2025-01-01T00:00:00Z").plus_days(day));
        }
        let a = assess(RulePack::current(), &f, &[]);
        let billable: Vec<&Decision> = a.decisions.iter().filter(|d| d.billable).collect();
        let mut codes: Vec<&str> = billable.iter().map(|d| d.code.as_str()).collect();
        codes.sort();
        codes.dedup();
        prop_assert_eq!(codes.len(), billable.len());
        if !matches!(state, CaseState::Answered | CaseState::Closed) || msp {
            prop_assert!(billable.is_empty());
        }
    }
}
