//! Where outbound webhooks may be sent. A webhook's URL is checked when it is added (the
//! scheme, and a host that is plainly this machine or a private network), and every delivery
//! checks the addresses its host resolves to and connects only to one that passed
//! ([`address_allowed`]), so a name that later resolves somewhere internal gets nowhere.
//! The path and query of a webhook URL are a secret (a Slack incoming-webhook URL is its own
//! credential): past creation only [`redact`]'s `https://host/…` is shown or recorded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What outbound webhooks may reach. The defaults are the only safe ones; both switches
/// exist for tests and local development with a receiver on this machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Also accept `http://` URLs (`PORTAL_WEBHOOKS_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Also deliver to loopback, link-local and private addresses
    /// (`PORTAL_WEBHOOKS_ALLOW_PRIVATE`).
    pub allow_private: bool,
}

/// Why a delivery was not attempted: the receiver's address is one webhooks may not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressNotAllowed;

impl std::fmt::Display for AddressNotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("address not allowed")
    }
}

impl std::error::Error for AddressNotAllowed {}

/// Why a webhook URL was refused when it was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefused {
    /// Not an https URL with a host: the input is wrong.
    Invalid(String),
    /// A valid URL to somewhere webhooks may not go (plain http, this machine, a private
    /// network).
    NotAllowed(String),
}

impl UrlRefused {
    pub fn message(&self) -> &str {
        match self {
            UrlRefused::Invalid(m) | UrlRefused::NotAllowed(m) => m,
        }
    }
}

/// Host names that always mean this machine or a network that is not the internet.
fn internal_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || [
            ".localhost",
            ".local",
            ".localdomain",
            ".internal",
            ".home.arpa",
        ]
        .iter()
        .any(|suffix| host.ends_with(suffix))
}

/// Checks a webhook URL as it is added: `https://` (or `http://` when the policy allows it)
/// with a host, no credentials, and no host that is plainly internal (a loopback, private,
/// link-local or otherwise special address, or a name like `localhost`). Names are not
/// resolved here; every delivery checks what they resolve to.
pub fn check_url(raw: &str, policy: WebhookPolicy) -> Result<url::Url, UrlRefused> {
    let raw = raw.trim();
    let parsed =
        url::Url::parse(raw).map_err(|e| UrlRefused::Invalid(format!("is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(UrlRefused::NotAllowed(
                "must start with https://: webhooks carry signed events and are not sent in the clear"
                    .to_owned(),
            ));
        }
        other => {
            return Err(UrlRefused::Invalid(format!(
                "is a {other} URL: webhooks are sent over https"
            )));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlRefused::Invalid(
            "must not carry a user name or password".to_owned(),
        ));
    }
    let allowed = match parsed.host() {
        None => return Err(UrlRefused::Invalid("names no host".to_owned())),
        Some(url::Host::Ipv4(ip)) => address_allowed(IpAddr::V4(ip), policy),
        Some(url::Host::Ipv6(ip)) => address_allowed(IpAddr::V6(ip), policy),
        Some(url::Host::Domain(name)) => policy.allow_private || !internal_name(name),
    };
    if !allowed {
        return Err(UrlRefused::NotAllowed(
            "points at this machine or a private network: webhooks go to receivers on the internet"
                .to_owned(),
        ));
    }
    Ok(parsed)
}

/// The URL a delivery sends to, when it still passes the policy: the scheme, and the
/// address when the host is one. A host name is left to the delivery's resolver, which
/// connects only to the addresses [`address_allowed`] lets through.
pub fn delivery_target(raw: &str, policy: WebhookPolicy) -> Result<url::Url, AddressNotAllowed> {
    let parsed = url::Url::parse(raw.trim()).map_err(|_| AddressNotAllowed)?;
    let scheme_ok = parsed.scheme() == "https" || (policy.allow_http && parsed.scheme() == "http");
    let host_ok = match parsed.host() {
        None => false,
        Some(url::Host::Ipv4(ip)) => address_allowed(IpAddr::V4(ip), policy),
        Some(url::Host::Ipv6(ip)) => address_allowed(IpAddr::V6(ip), policy),
        Some(url::Host::Domain(_)) => true,
    };
    if scheme_ok && host_ok {
        Ok(parsed)
    } else {
        Err(AddressNotAllowed)
    }
}

/// Whether a delivery may connect to this address. Never: unspecified, multicast,
/// broadcast or reserved addresses. Only when the policy allows private receivers:
/// loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10),
/// link-local (169.254/16 with the cloud metadata address, fe80::/10) and the like. IPv6
/// forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn address_allowed(ip: IpAddr, policy: WebhookPolicy) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, policy),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_allowed(v4, policy),
            None => v6_allowed(v6, policy),
        },
    }
}

fn v4_allowed(ip: Ipv4Addr, policy: WebhookPolicy) -> bool {
    let [a, b, ..] = ip.octets();
    let never = ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0 // "this network"
        || a >= 240; // reserved
    let internal = ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)); // benchmarking
    !never && (policy.allow_private || !internal)
}

fn v6_allowed(ip: Ipv6Addr, policy: WebhookPolicy) -> bool {
    let first = ip.segments()[0];
    let never = ip.is_unspecified() || ip.is_multicast();
    let internal = ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0; // site-local (deprecated), fec0::/10
    !never && (policy.allow_private || !internal)
}

/// The IPv4 address an IPv6 address stands for, when it stands for one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        // IPv4-compatible, ::a.b.c.d (deprecated, still routed by some stacks).
        return Some(v4(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64, 64:ff9b::/96.
        return Some(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4, 2002:a.b.c.d::/48.
        return Some(v4(s[1], s[2]));
    }
    None
}

/// A webhook URL as it may be shown and recorded: scheme, host and port, and `…` for the
/// rest, which may be a secret (`https://hooks.slack.com/…`).
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(u) => match u.host_str() {
            Some(host) => {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}/…", u.scheme())
            }
            None => format!("{}:…", u.scheme()),
        },
        Err(_) => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: WebhookPolicy = WebhookPolicy {
        allow_http: false,
        allow_private: false,
    };
    const TESTING: WebhookPolicy = WebhookPolicy {
        allow_http: true,
        allow_private: true,
    };

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn internal_and_special_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
        ] {
            assert!(!address_allowed(ip(refused), STRICT), "{refused}");
        }
        for allowed in [
            "1.1.1.1",
            "52.95.110.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(address_allowed(ip(allowed), STRICT), "{allowed}");
        }
    }

    #[test]
    fn the_testing_policy_reaches_this_machine_but_never_special_addresses() {
        assert!(address_allowed(ip("127.0.0.1"), TESTING));
        assert!(address_allowed(ip("::ffff:10.0.0.1"), TESTING));
        for never in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
            assert!(!address_allowed(ip(never), TESTING), "{never}");
        }
    }

    #[test]
    fn urls_are_https_with_a_public_host() {
        assert!(check_url("https://hooks.slack.com/services/T/B/x", STRICT).is_ok());
        let refused = |url: &str| match check_url(url, STRICT) {
            Err(UrlRefused::NotAllowed(m)) => m,
            other => panic!("{url}: {other:?}"),
        };
        let invalid = |url: &str| match check_url(url, STRICT) {
            Err(UrlRefused::Invalid(m)) => m,
            other => panic!("{url}: {other:?}"),
        };
        assert!(refused("http://hooks.example.com/x").contains("https://"));
        assert!(invalid("ftp://example.com").contains("ftp"));
        assert!(invalid("https://user:pw@example.com/").contains("password"));
        for internal in [
            "https://127.0.0.1:22/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.8/hook",
            "https://localhost:8443/",
            "https://printer.local/",
            "https://metadata.google.internal/",
        ] {
            assert!(refused(internal).contains("private network"), "{internal}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", TESTING).is_ok());
        assert!(check_url("http://0.0.0.0:9000/hook", TESTING).is_err());
    }

    #[test]
    fn a_delivery_goes_only_to_an_allowed_scheme_and_address() {
        assert!(delivery_target("https://hooks.example.com/x", STRICT).is_ok());
        assert!(delivery_target("http://hooks.example.com/x", STRICT).is_err());
        assert!(delivery_target("https://127.0.0.1:22/", STRICT).is_err());
        assert!(delivery_target("https://[::ffff:a9fe:a9fe]/", STRICT).is_err());
        assert!(delivery_target("http://127.0.0.1:22/", TESTING).is_ok());
    }

    #[test]
    fn a_redacted_url_keeps_only_scheme_host_and_port() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("http://127.0.0.1:9000/hook?token=s3cret"),
            "http://127.0.0.1:9000/…"
        );
        assert_eq!(redact("not a url"), "…");
    }
}
