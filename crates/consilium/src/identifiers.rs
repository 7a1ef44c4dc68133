//! National identifiers, as newtypes that cannot hold an invalid value (domain.md §6).
//! Arithmetic checks catch typos only; a directory look-up (later) catches wrong numbers.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be {expected} characters long, got {got}")]
    Length { expected: usize, got: usize },
    #[error("must contain digits only")]
    NotDigits,
    #[error("check digit does not match: probably a typo")]
    CheckDigit,
    #[error("{0}")]
    Format(&'static str),
}

/// Luhn check over a string of ASCII digits (the last one being the key).
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The Luhn key digit to append to `payload` (ASCII digits).
pub fn luhn_key(payload: &str) -> char {
    for k in b'0'..=b'9' {
        let mut s = String::with_capacity(payload.len() + 1);
        s.push_str(payload);
        s.push(k as char);
        if luhn_valid(&s) {
            return k as char;
        }
    }
    '0'
}

fn normalise(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
        .collect::<String>()
        .to_ascii_uppercase()
}

fn digits_of_len(s: &str, len: usize) -> Result<(), IdError> {
    if s.chars().count() != len {
        return Err(IdError::Length {
            expected: len,
            got: s.chars().count(),
        });
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDigits);
    }
    Ok(())
}

macro_rules! id_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// RPPS: 11 digits, the last a Luhn key over the first 10.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rpps(String);
id_newtype!(Rpps);
impl Rpps {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = normalise(raw);
        digits_of_len(&s, 11)?;
        if !luhn_valid(&s) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
    /// IdNat_PS: `8` + RPPS.
    pub fn idnat_ps(&self) -> String {
        format!("8{}", self.0)
    }
}

/// ADELI: département (2) + category (1) + sequence (5) + Luhn key (1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Adeli(String);
id_newtype!(Adeli);
impl Adeli {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = normalise(raw);
        digits_of_len(&s, 9)?;
        if !luhn_valid(&s) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
    /// Category digit: 1 doctor, 4 dentist, 5 midwife, 6 nurse, 7 physiotherapist,
    /// 8 podiatrist, 9 speech therapist / orthoptist.
    pub fn category(&self) -> char {
        self.0.as_bytes()[2] as char
    }
    /// IdNat_PS: `0` + ADELI.
    pub fn idnat_ps(&self) -> String {
        format!("0{}", self.0)
    }
}

/// INS (NIR or NIA): 13 characters and a 2-digit key, key = 97 − (N mod 97),
/// with Corsica `2A` → 19 and `2B` → 18 in positions 6–7.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ins(String);
id_newtype!(Ins);
impl Ins {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = normalise(raw);
        if s.len() != 15 || !s.is_ascii() {
            return Err(IdError::Length {
                expected: 15,
                got: s.chars().count(),
            });
        }
        let (body, key) = s.split_at(13);
        let number = Self::numeric_body(body)?;
        if !key.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Format(
                "the key (last 2 characters) must be digits",
            ));
        }
        let key: u64 = key.parse().map_err(|_| IdError::NotDigits)?;
        if Self::key_of(number) != key {
            return Err(IdError::CheckDigit);
        }
        if !matches!(body.as_bytes()[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
            return Err(IdError::Format(
                "the first digit (sex) must be 1, 2, 3, 4, 7 or 8",
            ));
        }
        Ok(Self(s))
    }

    fn numeric_body(body: &str) -> Result<u64, IdError> {
        let dept = &body[5..7];
        let replaced = match dept {
            "2A" => format!("{}19{}", &body[..5], &body[7..]),
            "2B" => format!("{}18{}", &body[..5], &body[7..]),
            _ => body.to_string(),
        };
        if !replaced.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Format(
                "must be digits, with 2A or 2B allowed in positions 6–7 (Corsica)",
            ));
        }
        replaced.parse().map_err(|_| IdError::NotDigits)
    }

    fn key_of(number: u64) -> u64 {
        97 - (number % 97)
    }

    /// The 2-digit key for a 13-character body (for generating synthetic data).
    pub fn key_for(body: &str) -> Result<String, IdError> {
        let body = normalise(body);
        if body.len() != 13 || !body.is_ascii() {
            return Err(IdError::Length {
                expected: 13,
                got: body.chars().count(),
            });
        }
        Ok(format!("{:02}", Self::key_of(Self::numeric_body(&body)?)))
    }
}

/// FINESS establishment number: 9 characters, Luhn key last. Corsican numbers start with
/// 2A/2B; the key is then computed with the département read as `20` (assumption, see docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finess(String);
id_newtype!(Finess);
impl Finess {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = normalise(raw);
        if s.len() != 9 || !s.is_ascii() {
            return Err(IdError::Length {
                expected: 9,
                got: s.chars().count(),
            });
        }
        let numeric = if s.starts_with("2A") || s.starts_with("2B") {
            format!("20{}", &s[2..])
        } else {
            s.clone()
        };
        if !numeric.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::NotDigits);
        }
        if !luhn_valid(&numeric) {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
}

/// SIRET: 14 digits, Luhn (La Poste's establishments, SIREN 356000000, use a digit sum
/// divisible by 5 instead).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Siret(String);
id_newtype!(Siret);
impl Siret {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = normalise(raw);
        digits_of_len(&s, 14)?;
        let ok = if s.starts_with("356000000") {
            s.bytes().map(|b| u32::from(b - b'0')).sum::<u32>() % 5 == 0
        } else {
            luhn_valid(&s)
        };
        if !ok {
            return Err(IdError::CheckDigit);
        }
        Ok(Self(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rpps_vectors() {
        assert!(Rpps::parse("10000000009").is_ok());
        assert!(Rpps::parse("10123456781").is_ok());
        assert_eq!(Rpps::parse("10123456782"), Err(IdError::CheckDigit));
        assert!(matches!(
            Rpps::parse("1012345678"),
            Err(IdError::Length { .. })
        ));
        assert_eq!(Rpps::parse("1012345678A"), Err(IdError::NotDigits));
        assert_eq!(
            Rpps::parse("10123456781").map(|r| r.idnat_ps()),
            Ok("810123456781".to_string())
        );
    }

    #[test]
    fn adeli_vectors() {
        let a = Adeli::parse("879101558").expect("valid vector");
        assert_eq!(a.category(), '9');
        assert_eq!(a.idnat_ps(), "0879101558");
        assert_eq!(Adeli::parse("879101559"), Err(IdError::CheckDigit));
    }

    #[test]
    fn ins_vectors() {
        assert_eq!(Ins::key_for("1891275123456").as_deref(), Ok("86"));
        assert_eq!(Ins::key_for("2850599123007").as_deref(), Ok("18"));
        assert_eq!(Ins::key_for("189122A123456").as_deref(), Ok("46"));
        assert!(Ins::parse("189127512345686").is_ok());
        assert!(Ins::parse("2 85 05 99 123 007 18").is_ok());
        assert!(Ins::parse("189122A12345646").is_ok());
        assert!(Ins::parse("189122a12345646").is_ok());
        assert_eq!(Ins::parse("189127512345687"), Err(IdError::CheckDigit));
        assert!(Ins::parse("18912751234568").is_err());
        assert!(Ins::parse("189122C12345646").is_err());
        assert!(Ins::parse("589127512345686").is_err());
    }

    #[test]
    fn siret_and_finess() {
        assert!(Siret::parse("73282932000074").is_ok());
        assert_eq!(Siret::parse("73282932000075"), Err(IdError::CheckDigit));
        let body = "75010001";
        let finess = format!("{body}{}", luhn_key(body));
        assert!(Finess::parse(&finess).is_ok());
    }

    proptest! {
        #[test]
        fn rpps_with_generated_key_is_valid(n in 0u64..10_000_000_000u64) {
            let body = format!("{n:010}");
            let rpps = format!("{body}{}", luhn_key(&body));
            let ok = Rpps::parse(&rpps).is_ok();
            prop_assert!(ok);
        }

        #[test]
        fn rpps_single_digit_typo_is_caught(n in 0u64..10_000_000_000u64, pos in 0usize..11, delta in 1u8..10) {
            let body = format!("{n:010}");
            let rpps = format!("{body}{}", luhn_key(&body));
            let mut bytes = rpps.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let typo = String::from_utf8(bytes).expect("ascii");
            prop_assert_eq!(Rpps::parse(&typo), Err(IdError::CheckDigit));
        }

        #[test]
        fn ins_with_generated_key_is_valid(sex in 1u8..3, rest in 0u64..1_000_000_000_000u64) {
            let body = format!("{sex}{rest:012}");
            let key = Ins::key_for(&body).expect("13 digits");
            let full = format!("{body}{key}");
            prop_assert!(Ins::parse(&full).is_ok());
        }

        #[test]
        fn ins_wrong_key_is_rejected(sex in 1u8..3, rest in 0u64..1_000_000_000_000u64, off in 1u64..97) {
            let body = format!("{sex}{rest:012}");
            let key: u64 = Ins::key_for(&body).expect("13 digits").parse().expect("digits");
            let wrong = (key + off - 1) % 97 + 1;
            prop_assume!(wrong != key);
            prop_assert_eq!(Ins::parse(&format!("{body}{wrong:02}")), Err(IdError::CheckDigit));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,20}") {
            let _ = Rpps::parse(&s);
            let _ = Adeli::parse(&s);
            let _ = Ins::parse(&s);
            let _ = Finess::parse(&s);
            let _ = Siret::parse(&s);
        }
    }
}
