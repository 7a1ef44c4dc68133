//! Webhooks, the pure part: which URLs may receive events (SSRF care), the signature, the
//! event types and the body. Nothing here touches the network or the database.

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "Consilium-Signature";
/// The header naming the event type.
pub const EVENT_HEADER: &str = "Consilium-Event";
/// The header carrying the event's id (the same on every retry: receivers deduplicate on it).
pub const DELIVERY_HEADER: &str = "Consilium-Delivery";

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// What happened to a case, as practice software is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "case.submitted")]
    Submitted,
    #[serde(rename = "case.assigned")]
    Assigned,
    #[serde(rename = "case.accepted")]
    Accepted,
    #[serde(rename = "case.declined")]
    Declined,
    #[serde(rename = "case.forwarded")]
    Forwarded,
    /// A routing step of the team's policy (offered to a member, handed to the assigners).
    #[serde(rename = "case.routed")]
    Routed,
    #[serde(rename = "case.info_requested")]
    InfoRequested,
    #[serde(rename = "case.info_provided")]
    InfoProvided,
    #[serde(rename = "case.answered")]
    Answered,
    #[serde(rename = "case.cancelled")]
    Cancelled,
    #[serde(rename = "case.closed")]
    Closed,
    #[serde(rename = "case.expired")]
    Expired,
    #[serde(rename = "report.signed")]
    ReportSigned,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::Submitted,
        EventType::Assigned,
        EventType::Accepted,
        EventType::Declined,
        EventType::Forwarded,
        EventType::Routed,
        EventType::InfoRequested,
        EventType::InfoProvided,
        EventType::Answered,
        EventType::Cancelled,
        EventType::Closed,
        EventType::Expired,
        EventType::ReportSigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Submitted => "case.submitted",
            EventType::Assigned => "case.assigned",
            EventType::Accepted => "case.accepted",
            EventType::Declined => "case.declined",
            EventType::Forwarded => "case.forwarded",
            EventType::Routed => "case.routed",
            EventType::InfoRequested => "case.info_requested",
            EventType::InfoProvided => "case.info_provided",
            EventType::Answered => "case.answered",
            EventType::Cancelled => "case.cancelled",
            EventType::Closed => "case.closed",
            EventType::Expired => "case.expired",
            EventType::ReportSigned => "report.signed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The event of a case use case (its audit action), if it has one (drafts have none).
    pub fn of_action(action: &str) -> Option<Self> {
        Some(match action {
            "case.submit" => EventType::Submitted,
            "case.assign" => EventType::Assigned,
            "case.accept" => EventType::Accepted,
            "case.decline" => EventType::Declined,
            "case.forward" => EventType::Forwarded,
            "case.request_info" => EventType::InfoRequested,
            "case.provide_info" => EventType::InfoProvided,
            "case.answer" | "case.convert_to_consultation" => EventType::Answered,
            "case.cancel" => EventType::Cancelled,
            "case.close" => EventType::Closed,
            "case.expire" => EventType::Expired,
            _ => return None,
        })
    }
}

/// The case an event is about: identifiers and state only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventCase {
    pub id: String,
    /// The case number shown to users (`CAS-…`).
    pub number: String,
    pub state: String,
}

/// One event, as queued (the link is added when the body is built).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub case: EventCase,
}

/// The JSON body sent: the event, with the link to the case. No patient data: the case is
/// named by its id and number, and the receiver opens the link (signed in) to see more.
pub fn body(event: &Event, link: &str) -> String {
    serde_json::json!({
        "id": event.id,
        "type": event.kind.as_str(),
        "created_at": event.created_at,
        "case": {
            "id": event.case.id,
            "number": event.case.number,
            "state": event.case.state,
            "link": link,
        },
    })
    .to_string()
}

type HmacSha256 = hmac::Hmac<sha2_v011::Sha256>;

/// HMAC-SHA256 of `"<t>.<body>"` under the webhook's secret (the whole `whsec_…` string),
/// hex-encoded.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The value of the [`SIGNATURE_HEADER`].
pub fn signature_header(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", signature(secret, t, body))
}

/// What a receiver does: parse the header, check the signature in constant time and that
/// `t` is within `tolerance_s` of `now_s`. Provided for receivers written in Rust and for
/// the tests.
pub fn verify(secret: &str, header: &str, body: &str, now_s: i64, tolerance_s: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now_s - t).abs() > tolerance_s {
        return false;
    }
    let Ok(body_mac) = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    sigs.iter().any(|s| {
        let Ok(given) = hex::decode(s) else {
            return false;
        };
        let mut mac = body_mac.clone();
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.verify_slice(&given).is_ok()
    })
}

/// Whether an address may receive webhooks: public unicast only. Loopback is allowed only
/// with `allow_loopback` (tests, a receiver on the same machine); private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast and documentation ranges never are
/// (they would let a user make the server reach its own network: SSRF).
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_allowed(v4, allow_loopback);
            }
            if v6.is_loopback() {
                return allow_loopback;
            }
            let seg0 = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || seg0 == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || v6 == Ipv6Addr::UNSPECIFIED
                || seg0 == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64 to any v4
        }
    }
}

fn v4_allowed(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || o[0] >= 240) // reserved
}

/// Whether a host name means this machine.
fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// Checks a webhook URL when it is registered and again before each delivery: `https`
/// only, no credentials in it, no fragment, and a host that is not an address of a private
/// network. With `allow_loopback`, `http` or `https` to a loopback address (or `localhost`)
/// is accepted too: for tests and a receiver on the same machine, never in production.
/// Host names are resolved at delivery, where every address they resolve to is checked.
pub fn check_url(raw: &str, allow_loopback: bool) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err("is too long".into());
    }
    let u = url::Url::parse(raw).map_err(|_| "is not a URL".to_string())?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry credentials (the signature authenticates us)".into());
    }
    if u.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    let loopback = match u.host() {
        None => return Err("has no host".into()),
        Some(url::Host::Domain(d)) => {
            if is_local_name(d) {
                true
            } else if d.contains('.') {
                false
            } else {
                return Err("needs a fully qualified host name".into());
            }
        }
        Some(url::Host::Ipv4(ip)) => {
            let ip = IpAddr::V4(ip);
            if !address_allowed(ip, true) {
                return Err("points to a private or reserved address".into());
            }
            ip.is_loopback()
        }
        Some(url::Host::Ipv6(ip)) => {
            let ip = IpAddr::V6(ip);
            if !address_allowed(ip, true) {
                return Err("points to a private or reserved address".into());
            }
            ip.is_loopback() || ip.to_canonical().is_loopback()
        }
    };
    if loopback && !allow_loopback {
        return Err("points to this machine (loopback), which is refused".into());
    }
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        "http" => Err("must use https".into()),
        _ => Err("must be an https URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let h = signature_header("whsec_x", 1_700_000_000, "{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_x", &h, "{\"a\":1}", 1_700_000_100, 300));
        // Another body, secret, timestamp, or too old: refused.
        assert!(!verify("whsec_x", &h, "{\"a\":2}", 1_700_000_100, 300));
        assert!(!verify("whsec_y", &h, "{\"a\":1}", 1_700_000_100, 300));
        let moved = h.replace("t=1700000000", "t=1700000001");
        assert!(!verify("whsec_x", &moved, "{\"a\":1}", 1_700_000_100, 300));
        assert!(!verify("whsec_x", &h, "{\"a\":1}", 1_700_001_000, 300));
        assert!(!verify("whsec_x", "v1=00", "{}", 0, 300));
    }

    #[test]
    fn urls_https_public_only() {
        assert!(check_url("https://hooks.example.org/consilium", false).is_ok());
        assert!(check_url("https://93.184.216.34/x", false).is_ok());
        for bad in [
            "http://hooks.example.org/x",
            "ftp://hooks.example.org/x",
            "https://user:pw@hooks.example.org/x",
            "https://hooks.example.org/x#frag",
            "https://intranet/x",
            "https://localhost/x",
            "https://app.localhost/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(check_url("http://localhost:8080/hook", true).is_ok());
        assert!(check_url("http://[::1]:8080/hook", true).is_ok());
        // Allowing loopback never allows plain http elsewhere, nor private networks.
        assert!(check_url("http://hooks.example.org/x", true).is_err());
        assert!(check_url("https://10.0.0.1/x", true).is_err());
        assert!(check_url("http://192.168.0.10/x", true).is_err());
    }

    #[test]
    fn event_types_round_trip() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
        }
        assert_eq!(EventType::of_action("case.update"), None);
        assert_eq!(
            EventType::of_action("case.submit"),
            Some(EventType::Submitted)
        );
    }

    #[test]
    fn the_body_has_no_room_for_patient_data() {
        let e = Event {
            id: "ev1".into(),
            kind: EventType::Answered,
            created_at: "2026-11-23T09:00:00Z".into(),
            case: EventCase {
                id: "c1".into(),
                number: "CAS-2026-000001".into(),
                state: "answered".into(),
            },
        };
        let v: serde_json::Value = serde_json::from_str(&body(&e, "https://x/cases/c1")).unwrap();
        let keys: Vec<_> = v["case"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "link", "number", "state"]);
        let top: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(top, ["case", "created_at", "id", "type"]);
    }

    proptest! {
        #[test]
        fn private_v4_never_allowed(a in 0u8..=255, b in 0u8..=255, c in 0u8..=255) {
            for ip in [
                Ipv4Addr::new(10, a, b, c),
                Ipv4Addr::new(172, 16 + (a % 16), b, c),
                Ipv4Addr::new(192, 168, b, c),
                Ipv4Addr::new(169, 254, b, c),
                Ipv4Addr::new(127, a, b, c),
            ] {
                prop_assert!(!address_allowed(IpAddr::V4(ip), false));
                prop_assert!(!address_allowed(IpAddr::V6(ip.to_ipv6_mapped()), false));
            }
        }

        #[test]
        fn any_signature_change_is_refused(t in 0i64..4_000_000_000, body in ".{0,64}", flip in 0usize..64) {
            let h = signature_header("whsec_k", t, &body);
            prop_assert!(verify("whsec_k", &h, &body, t, 300));
            let sig = h.split("v1=").nth(1).unwrap().to_string();
            let mut chars: Vec<char> = sig.chars().collect();
            let i = flip % chars.len();
            chars[i] = if chars[i] == '0' { '1' } else { '0' };
            let bad: String = chars.into_iter().collect();
            let forged = format!("t={t},v1={bad}");
            prop_assert!(!verify("whsec_k", &forged, &body, t, 300));
        }
    }
}
