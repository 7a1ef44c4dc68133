//! The client's address behind reverse proxies. `X-Forwarded-For` is believed only when the
//! connection comes from a configured proxy (`trusted_proxies`: addresses or CIDR ranges);
//! it is then read from the right (each proxy appends the address it saw), skipping the
//! trusted proxies: the first address that is not one is the client. Anyone can write the
//! left part of the header, so it is never read past an untrusted hop.

use std::net::IpAddr;

/// Trusted proxies: (network, prefix length).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl TrustedProxies {
    /// Parses `["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]`.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for raw in list {
            let s = raw.trim();
            let (addr, len) = match s.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (s, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("trusted_proxies: '{s}' is not an address or a CIDR range"))?;
            let ip = canonical(ip);
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| format!("trusted_proxies: bad prefix length in '{s}'"))?,
            };
            out.push((ip, len));
        }
        Ok(Self(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(net, len)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                u32::from(*n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
                u128::from(*n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }

    /// The client's address for a connection from `peer` carrying these `X-Forwarded-For`
    /// values (all the header's lines, in order).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// `203.0.113.9`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.9:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("valid")
    }

    #[test]
    fn parses_addresses_and_ranges_and_refuses_garbage() {
        assert!(proxies(&["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]).trusts(ip("10.1.2.3")));
        for bad in ["10.0.0.0/33", "example.org", "::/129", "1.2.3.4/x", ""] {
            assert!(TrustedProxies::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_match_by_prefix() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        assert!(p.trusts(ip("10.255.0.1")));
        assert!(!p.trusts(ip("11.0.0.1")));
        assert!(p.trusts(ip("192.168.1.7")));
        assert!(!p.trusts(ip("192.168.1.8")));
        assert!(p.trusts(ip("fd12::1")));
        assert!(!p.trusts(ip("fe80::1")));
        // An IPv4 peer seen as IPv4-mapped IPv6.
        assert!(p.trusts(ip("::ffff:10.0.0.1")));
        assert!(proxies(&["0.0.0.0/0"]).trusts(ip("203.0.113.1")));
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), &["203.0.113.9"]),
            ip("127.0.0.1")
        );
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            p.client(ip("198.51.100.1"), &["203.0.113.9"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            p.client(ip("127.0.0.1"), &["203.0.113.9"]),
            ip("203.0.113.9")
        );
        // A client writing its own header cannot choose its address: the rightmost
        // untrusted hop is taken.
        assert_eq!(
            p.client(ip("127.0.0.1"), &["1.2.3.4, 203.0.113.9, 10.0.0.5"]),
            ip("203.0.113.9")
        );
        // Several header lines are one list.
        assert_eq!(
            p.client(ip("127.0.0.1"), &["1.2.3.4", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Garbage stops the walk at the nearest trusted hop.
        assert_eq!(p.client(ip("127.0.0.1"), &["nonsense"]), ip("127.0.0.1"));
        assert_eq!(
            p.client(ip("127.0.0.1"), &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(p.client(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
    }

    proptest! {
        /// Whatever an untrusted client sends, its address is its own.
        #[test]
        fn untrusted_peers_keep_their_address(a in any::<u32>(), header in ".{0,80}") {
            let p = proxies(&["10.0.0.0/8"]);
            let peer = IpAddr::V4(std::net::Ipv4Addr::from(a));
            prop_assume!(!p.trusts(peer));
            prop_assert_eq!(p.client(peer, &[header.as_str()]), peer);
        }
    }
}
