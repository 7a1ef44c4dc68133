//! Instants are stored as microseconds since the Unix epoch, UTC, in a 64-bit integer:
//! the same representation on SQLite and PostgreSQL, and it sorts correctly on both.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

impl Timestamp {
    pub fn from_micros(us: i64) -> Self {
        Self(us)
    }
    pub fn micros(self) -> i64 {
        self.0
    }
    pub fn plus_days(self, days: i64) -> Self {
        Self(self.0 + days * MICROS_PER_DAY)
    }
    pub fn plus_seconds(self, s: i64) -> Self {
        Self(self.0 + s * MICROS_PER_SECOND)
    }
    pub fn to_offset(self) -> OffsetDateTime {
        let nanos = i128::from(self.0) * 1000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
    pub fn from_offset(t: OffsetDateTime) -> Self {
        Self((t.unix_timestamp_nanos() / 1000) as i64)
    }
    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-23T13:47:00.000000Z`.
    pub fn to_rfc3339(self) -> String {
        let t = self.to_offset();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .map(Self::from_offset)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 date-time"))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}
impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_and_ordering() {
        let t = Timestamp(1_795_000_000_123_456);
        let s = t.to_rfc3339();
        assert!(s.ends_with('Z'));
        assert_eq!(Timestamp::parse_rfc3339(&s), Some(t));
        // Fixed width text sorts like the integer.
        let u = t.plus_days(7);
        assert!(u.to_rfc3339() > s);
    }

    #[test]
    fn parses_offsets_into_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-23T14:00:00+01:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-23T13:00:00.000000Z");
    }
}
