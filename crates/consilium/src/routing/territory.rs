//! French territories for acceptance rules (pure): départements, the INSEE regions they
//! belong to (the 2016 regions), postcodes. Used to validate rules and to place a request.

/// (INSEE region code, name, départements).
const REGIONS: &[(&str, &str, &[&str])] = &[
    ("01", "Guadeloupe", &["971"]),
    ("02", "Martinique", &["972"]),
    ("03", "Guyane", &["973"]),
    ("04", "La Réunion", &["974"]),
    ("06", "Mayotte", &["976"]),
    (
        "11",
        "Île-de-France",
        &["75", "77", "78", "91", "92", "93", "94", "95"],
    ),
    (
        "24",
        "Centre-Val de Loire",
        &["18", "28", "36", "37", "41", "45"],
    ),
    (
        "27",
        "Bourgogne-Franche-Comté",
        &["21", "25", "39", "58", "70", "71", "89", "90"],
    ),
    ("28", "Normandie", &["14", "27", "50", "61", "76"]),
    ("32", "Hauts-de-France", &["02", "59", "60", "62", "80"]),
    (
        "44",
        "Grand Est",
        &["08", "10", "51", "52", "54", "55", "57", "67", "68", "88"],
    ),
    ("52", "Pays de la Loire", &["44", "49", "53", "72", "85"]),
    ("53", "Bretagne", &["22", "29", "35", "56"]),
    (
        "75",
        "Nouvelle-Aquitaine",
        &[
            "16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87",
        ],
    ),
    (
        "76",
        "Occitanie",
        &[
            "09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82",
        ],
    ),
    (
        "84",
        "Auvergne-Rhône-Alpes",
        &[
            "01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74",
        ],
    ),
    (
        "93",
        "Provence-Alpes-Côte d'Azur",
        &["04", "05", "06", "13", "83", "84"],
    ),
    ("94", "Corse", &["2A", "2B"]),
];

/// The INSEE region of a département (`None` for anything that is not one).
pub fn region_of(departement: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(_, _, deps)| deps.contains(&departement))
        .map(|(code, _, _)| *code)
}

/// Whether `s` is a département code (`01`…`95` with `2A`/`2B` for Corsica, `971`…`976`).
pub fn is_departement(s: &str) -> bool {
    region_of(s).is_some()
}

/// Whether `s` is an INSEE region code.
pub fn is_region(s: &str) -> bool {
    REGIONS.iter().any(|(code, _, _)| *code == s)
}

/// Whether `s` looks like a French postcode (5 digits).
pub fn is_postcode(s: &str) -> bool {
    s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_departement_once_in_one_region() {
        let mut all: Vec<&str> = REGIONS.iter().flat_map(|r| r.2.iter().copied()).collect();
        assert_eq!(
            all.len(),
            96 + 5,
            "96 in mainland France and Corsica, 5 overseas"
        );
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 101);
        assert_eq!(REGIONS.len(), 18);
    }

    #[test]
    fn vectors() {
        assert_eq!(region_of("87"), Some("75"));
        assert_eq!(region_of("2B"), Some("94"));
        assert_eq!(region_of("974"), Some("04"));
        assert_eq!(region_of("75"), Some("11"));
        assert_eq!(region_of("20"), None);
        assert_eq!(region_of("96"), None);
        assert_eq!(region_of("975"), None);
        assert!(is_region("84") && !is_region("99"));
        assert!(is_postcode("87000") && !is_postcode("8700") && !is_postcode("8700A"));
    }
}
