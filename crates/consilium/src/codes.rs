//! National code lists, compiled in from `data/` (copies of `../shared/data/`, checked by a
//! test to stay identical): professions (TRE_G15) and specialties (TRE_R38).

use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Profession {
    pub code: String,
    pub label: String,
    /// R4: may answer (and bill TE2): doctors and midwives.
    pub may_answer_te2: bool,
    /// R3: may bill the request (RQD).
    pub may_bill_rqd: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Specialty {
    pub code: String,
    pub label: String,
}

pub const PROFESSIONS_CSV: &str = include_str!("../data/professions_tre_g15.csv");
pub const SPECIALTIES_CSV: &str = include_str!("../data/specialites_tre_r38.csv");

fn rows(csv: &str) -> impl Iterator<Item = Vec<&str>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.splitn(4, ',').map(str::trim).collect())
}

pub fn professions() -> &'static BTreeMap<String, Profession> {
    static P: OnceLock<BTreeMap<String, Profession>> = OnceLock::new();
    P.get_or_init(|| {
        rows(PROFESSIONS_CSV)
            .filter(|r| r.len() == 4)
            .map(|r| {
                (
                    r[0].to_string(),
                    Profession {
                        code: r[0].to_string(),
                        label: r[1].to_string(),
                        may_answer_te2: r[2] == "true",
                        may_bill_rqd: r[3] == "true",
                    },
                )
            })
            .collect()
    })
}

pub fn specialties() -> &'static BTreeMap<String, Specialty> {
    static S: OnceLock<BTreeMap<String, Specialty>> = OnceLock::new();
    S.get_or_init(|| {
        SPECIALTIES_CSV
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(','))
            .map(|(c, l)| {
                (
                    c.trim().to_string(),
                    Specialty {
                        code: c.trim().to_string(),
                        label: l.trim().trim_matches('"').to_string(),
                    },
                )
            })
            .collect()
    })
}

pub fn profession(code: &str) -> Option<&'static Profession> {
    professions().get(code)
}

pub fn specialty(code: &str) -> Option<&'static Specialty> {
    specialties().get(code)
}

/// R2/R4: only professions flagged `may_answer_te2` (doctors 10, midwives 50) may be experts.
pub fn may_be_expert(profession_code: &str) -> bool {
    profession(profession_code).is_some_and(|p| p.may_answer_te2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_load() {
        assert_eq!(professions().len(), 30);
        assert!(may_be_expert("10"));
        assert!(may_be_expert("50"));
        assert!(!may_be_expert("60"));
        assert!(!may_be_expert("99"));
        assert!(specialties().len() >= 80);
        assert!(specialty("SM26").is_some());
        assert!(specialty("SM53").is_some());
        assert!(specialty("SM54").is_some());
    }

    #[test]
    fn compiled_lists_match_shared_data_when_present() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        if !shared.exists() {
            return; // shared/ is beside the clone in CI and on developer machines
        }
        for (name, ours) in [
            ("professions_tre_g15.csv", PROFESSIONS_CSV),
            ("specialites_tre_r38.csv", SPECIALTIES_CSV),
        ] {
            let theirs = std::fs::read_to_string(shared.join(name)).expect("readable");
            assert_eq!(
                theirs, ours,
                "{name} differs from ../shared/data: copy it again"
            );
        }
    }
}
