//! The outbound network policy: where an Actor's HTTP requests may go.
//!
//! By default a guest may reach any public address and nothing else:
//! loopback, private, link-local, unique-local, carrier-grade NAT,
//! multicast, broadcast and unspecified addresses (IPv4 and IPv6, IPv4
//! inside IPv6 included) are denied, so a guest cannot reach this server's
//! API, a database beside it, or a cloud metadata service. The check is on
//! the addresses a name resolves to, at connect time, and the connection
//! goes to the address that was checked (a DNS answer that changes between
//! a check and a connect cannot pass). An Actor may narrow the hosts it
//! reaches with `allowedHosts` in actor.json (as Spin's
//! `allowed_outbound_hosts`); only the server's operator can open the
//! private ranges (`--allow-private-outbound`, for development).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a destination is refused; the text names the policy and how to change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The host is not in the Actor's `allowedHosts`.
    HostNotAllowed(String),
    /// The address is private, loopback, link-local, ...
    PrivateAddress { host: String, ip: IpAddr, class: &'static str },
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::HostNotAllowed(dest) => {
                write!(f, "{dest} is not in the Actor's allowedHosts (actor.json); add it there to reach it")
            }
            Denied::PrivateAddress { host, ip, class } => write!(
                f,
                "{host} is {ip}, a {class} address; wactor denies outbound requests to loopback, private and link-local \
                 addresses unless the server runs with --allow-private-outbound"
            ),
        }
    }
}

/// One entry of `allowedHosts`: `[scheme://]host[:port]`, where the host may
/// be `*` or start with `*.` (any subdomain), and the port may be `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl HostPattern {
    pub fn parse(pattern: &str) -> Result<HostPattern, String> {
        let bad = || format!("allowedHosts: \"{pattern}\" is not [scheme://]host[:port] (host may be * or *.domain, port may be *)");
        let (scheme, rest) = match pattern.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, pattern),
        };
        let scheme = scheme.filter(|s| s != "*");
        if scheme.as_deref().is_some_and(|s| s != "http" && s != "https") {
            return Err(bad());
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((h, "")) => (h, None),
            Some((h, p)) => (h, Some(p.strip_prefix(':').ok_or_else(bad)?)),
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        let port = match port {
            None | Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let name = host.strip_prefix("*.").unwrap_or(&host);
        let valid =
            host == "*" || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'_')));
        if !valid || rest.contains('/') {
            return Err(bad());
        }
        Ok(HostPattern { scheme, host, port })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let port_ok = self.port.is_none_or(|p| p == port);
        let host_ok = match self.host.strip_prefix("*.") {
            _ if self.host == "*" => true,
            Some(domain) => host.len() > domain.len() && host.ends_with(domain) && host[..host.len() - domain.len()].ends_with('.'),
            None => self.host == host,
        };
        scheme_ok && port_ok && host_ok
    }
}

/// Where one run's outbound requests may go.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// `None`: every public host; `Some`: only these.
    pub allowed_hosts: Option<Vec<HostPattern>>,
    /// The server's `--allow-private-outbound`.
    pub allow_private: bool,
}

impl OutboundPolicy {
    /// Parses an Actor's `allowedHosts`.
    pub fn new(allowed_hosts: Option<&[String]>, allow_private: bool) -> Result<OutboundPolicy, String> {
        let allowed_hosts = allowed_hosts.map(|list| list.iter().map(|p| HostPattern::parse(p)).collect()).transpose()?;
        Ok(OutboundPolicy { allowed_hosts, allow_private })
    }

    /// Whether the URL's scheme, host and port may be asked for at all.
    pub fn check_host(&self, scheme: &str, host: &str, port: u16) -> Result<(), Denied> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match &self.allowed_hosts {
            Some(patterns) if !patterns.iter().any(|p| p.matches(scheme, &host, port)) => {
                Err(Denied::HostNotAllowed(format!("{scheme}://{host}:{port}")))
            }
            _ => Ok(()),
        }
    }

    /// Whether a resolved address may be connected to.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Denied> {
        match (self.allow_private, non_public_class(ip)) {
            (false, Some(class)) => Err(Denied::PrivateAddress { host: host.to_owned(), ip, class }),
            _ => Ok(()),
        }
    }
}

/// TLS with the Mozilla roots, built once, for every outbound connection
/// the platform or a guest makes.
pub fn tls_client_config() -> std::sync::Arc<rustls::ClientConfig> {
    use std::sync::{Arc, OnceLock};
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// What kind of non-public address `ip` is, if it is one.
pub fn non_public_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => {
            // IPv4 inside IPv6 (mapped, compatible, NAT64) is judged as the IPv4 address it carries.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_class(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return v4_class(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            v6_class(v6)
        }
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match () {
        _ if ip.is_unspecified() || o[0] == 0 => "unspecified (\"this network\")",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if o[0] == 100 && (o[1] & 0xc0) == 64 => "carrier-grade NAT",
        _ if o[0] == 192 && o[1] == 0 && o[2] == 0 => "IETF protocol assignment",
        _ if o[0] == 198 && (o[1] & 0xfe) == 18 => "benchmarking",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_broadcast() || o[0] >= 240 => "reserved",
        _ if ip.is_documentation() => "documentation",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match () {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if (s[0] & 0xfe00) == 0xfc00 => "unique-local (private)",
        _ if (s[0] & 0xffc0) == 0xfe80 => "link-local",
        _ if (s[0] & 0xffc0) == 0xfec0 => "site-local (private)",
        _ if ip.is_multicast() => "multicast",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 => "documentation",
        // IPv4-compatible (deprecated) ::a.b.c.d
        _ if s[0..6] == [0, 0, 0, 0, 0, 0] => return v4_class(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass_by_default() {
        let policy = OutboundPolicy::default();
        for denied in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = denied.parse().unwrap();
            assert!(policy.check_ip("h", ip).is_err(), "{denied} should be denied");
        }
        for allowed in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(policy.check_ip("h", allowed.parse().unwrap()).is_ok(), "{allowed} should pass");
        }
        let open = OutboundPolicy { allow_private: true, ..Default::default() };
        assert!(open.check_ip("h", "127.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn allowed_hosts_match_scheme_host_and_port() {
        let policy = OutboundPolicy::new(
            Some(&["https://api.example.com".into(), "*.cdn.example.org:8443".into(), "http://127.0.0.1:*".into()]),
            false,
        )
        .unwrap();
        assert!(policy.check_host("https", "api.example.com", 443).is_ok());
        assert!(policy.check_host("http", "api.example.com", 80).is_err());
        assert!(policy.check_host("https", "a.cdn.example.org", 8443).is_ok());
        assert!(policy.check_host("https", "cdn.example.org", 8443).is_err());
        assert!(policy.check_host("https", "evilcdn.example.org", 8443).is_err());
        assert!(policy.check_host("http", "127.0.0.1", 9999).is_ok());
        assert!(policy.check_host("https", "other.com", 443).is_err());
        assert!(OutboundPolicy::new(Some(&["ftp://x".into()]), false).is_err());
        assert!(OutboundPolicy::new(Some(&["x.com/path".into()]), false).is_err());
        assert!(OutboundPolicy::new(Some(&["x.com:99999".into()]), false).is_err());
        let v6 = OutboundPolicy::new(Some(&["[::1]".into(), "http://[fe80::2]:81".into()]), true).unwrap();
        assert!(v6.check_host("https", "[::1]", 443).is_ok());
        assert!(v6.check_host("http", "fe80::2", 81).is_ok());
        assert!(OutboundPolicy::new(None, false).unwrap().check_host("https", "anything.test", 443).is_ok());
    }
}
