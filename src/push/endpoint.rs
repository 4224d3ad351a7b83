//! A push resource is a URL a client chose, and the server POSTs to it: without care that is a request forgery
//! into the server's own network. Only https to public addresses is allowed (unless the operator allows local
//! endpoints), and the address a message goes to is the one that was checked, not a second DNS answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A push resource, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// `host[:port]` as the Host header carries it.
    pub authority: String,
    pub path: String,
    /// `scheme://host[:port]`: the VAPID token's audience (RFC 8292 §2).
    pub origin: String,
}

/// The longest push resource accepted (real ones are well under 1,000 characters).
const MAX_URL: usize = 2048;

/// Parses `url` as an absolute https URL (http too when `allow_local`).
pub fn parse(url: &str, allow_local: bool) -> Result<Endpoint, String> {
    let url = url.trim();
    if url.len() > MAX_URL {
        return Err(format!("the push resource is longer than {MAX_URL} characters"));
    }
    let uri: http::Uri = url.parse().map_err(|_| "the push resource is not a URL".to_string())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if allow_local => false,
        Some("http") => return Err("the push resource must be https (RFC 8030 §8)".into()),
        _ => return Err("the push resource must be an https URL".into()),
    };
    let authority = uri.authority().ok_or("the push resource names no host")?;
    if authority.as_str().contains('@') {
        return Err("the push resource may not carry credentials".into());
    }
    let host = authority.host().trim_matches(['[', ']']).to_ascii_lowercase();
    if host.is_empty() {
        return Err("the push resource names no host".into());
    }
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let scheme = if https { "https" } else { "http" };
    Ok(Endpoint {
        url: url.to_string(),
        https,
        authority: authority.as_str().to_string(),
        origin: format!("{scheme}://{}", authority.as_str()),
        path: uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into()),
        host,
        port,
    })
}

/// The addresses `ep` may be reached at, each allowed; an error when any answer is not (a name that resolves to
/// both a public and a private address is refused: which one a connection would use is not ours to pick).
pub async fn resolve(ep: &Endpoint, allow_local: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match ep.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, ep.port)],
        Err(_) => tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::lookup_host((ep.host.as_str(), ep.port)),
        )
        .await
        .map_err(|_| format!("{} did not resolve in time", ep.host))?
        .map_err(|e| format!("{} does not resolve: {e}", ep.host))?
        .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{} has no address", ep.host));
    }
    if !allow_local && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!("{} resolves to {}, a local or private address", ep.host, bad.ip()));
    }
    Ok(addrs)
}

/// Whether `ip` is a globally reachable unicast address: not loopback, private (RFC 1918, RFC 4193), link-local
/// (cloud metadata services live at 169.254.169.254), shared (RFC 6598), documentation, multicast or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: it reaches IPv4 addresses, private ones too
                || s[0] == 0x2002 // 6to4, likewise
                || v6 == Ipv6Addr::UNSPECIFIED)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space, RFC 6598
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking, RFC 2544
        || o[0] >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn push_resources_are_https_urls_without_credentials() {
        let ep = parse("https://up.example.net/yohd4yai5Phiz1wi?x=1", false).unwrap();
        assert_eq!((ep.host.as_str(), ep.port, ep.path.as_str()), ("up.example.net", 443, "/yohd4yai5Phiz1wi?x=1"));
        assert_eq!(ep.origin, "https://up.example.net");
        assert!(parse("http://up.example.net/x", false).is_err());
        assert!(parse("http://127.0.0.1:9/x", true).is_ok());
        assert!(parse("ftp://up.example.net/x", true).is_err());
        assert!(parse("/relative", true).is_err());
        assert!(parse("https://user:pw@up.example.net/x", false).is_err());
        assert_eq!(parse("https://[::1]:8443/p", false).unwrap().host, "::1");
    }

    #[tokio::test]
    async fn a_name_or_literal_for_a_local_address_is_refused_unless_allowed() {
        let ep = parse("https://127.0.0.1:9/x", false).unwrap();
        assert!(resolve(&ep, false).await.unwrap_err().contains("local or private"));
        assert_eq!(resolve(&ep, true).await.unwrap(), vec!["127.0.0.1:9".parse().unwrap()]);
        let ep = parse("https://localhost:9/x", false).unwrap();
        assert!(resolve(&ep, false).await.is_err());
    }
}
