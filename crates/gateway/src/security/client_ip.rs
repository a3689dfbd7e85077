//! The client's IP address, as far as it can be trusted.
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is read only when the TCP
//! peer is one of our own proxies (a configured CIDR list; by default none is trusted). Each proxy
//! appends the address it received the connection from, so the list is walked from the right,
//! skipping our proxies, and the first address that is not ours is the client: everything left
//! of it was written by the client itself and proves nothing. An unreadable entry stops the walk
//! at the last proxy that is trusted, rather than believing anything beyond it.

use std::{
    fmt,
    future::{Ready, ready},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    str::FromStr,
};

use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest,
    dev::Payload,
    http::header::{HeaderMap, HeaderName},
};

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// An IP network such as `10.0.0.0/8` or `fd00::/8`; a bare address is a single host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// True when `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`)
    /// count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = mask_u32(self.prefix);
                u32::from(ip) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = mask_u128(self.prefix);
                u128::from(ip) & mask == u128::from(network)
            }
            _ => false,
        }
    }
}

fn mask_u32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_u128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR"))?;
        let network = network.to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: prefix length must be 0..={max}"))?,
        };
        let masked = match network {
            IpAddr::V4(ip) => IpAddr::V4((u32::from(ip) & mask_u32(prefix)).into()),
            IpAddr::V6(ip) => IpAddr::V6((u128::from(ip) & mask_u128(prefix)).into()),
        };
        // A set host bit is almost always a typo for a different network; refusing it beats
        // silently trusting more (or fewer) addresses than the operator meant.
        if masked != network {
            return Err(format!(
                "`{text}` has host bits set (did you mean {masked}/{prefix}?)"
            ));
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    networks: Vec<Cidr>,
}

impl TrustedProxies {
    /// Trust no proxy: the client is always the TCP peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a CIDR list, reporting every bad entry.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, Vec<String>> {
        let mut networks = Vec::new();
        let mut problems = Vec::new();
        for entry in list {
            match entry.as_ref().parse::<Cidr>() {
                Ok(cidr) => networks.push(cidr),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(Self { networks })
        } else {
            Err(problems)
        }
    }

    /// True when `ip` is one of our proxies.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }

    /// The client address given the TCP peer and the request headers; `None` only when there is
    /// no peer (not a TCP connection).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let entries: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .flat_map(|value| value.to_str().unwrap_or("?").split(','))
            .collect();
        let mut nearest = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_forwarded_entry(entry) else {
                return Some(nearest);
            };
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            nearest = ip;
        }
        Some(nearest)
    }

    /// The client address of `req`; [`Ipv4Addr::UNSPECIFIED`] when it has no TCP peer, so such
    /// requests share one rate-limit budget instead of escaping it.
    pub fn resolve(&self, req: &HttpRequest) -> IpAddr {
        self.client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]` or `[::1]:80`.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// The client address of the request (see the module docs).
///
/// Set in the request extensions by the rate limiter; as an extractor it falls back to resolving
/// with the `TrustedProxies` in the app data, and then to the TCP peer alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl FromRequest for ClientIp {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(ip) = req.extensions().get::<ClientIp>() {
            return ready(Ok(*ip));
        }
        let ip = if let Some(trusted) = req.app_data::<actix_web::web::Data<TrustedProxies>>() {
            trusted.resolve(req)
        } else if let Some(trusted) = req.app_data::<TrustedProxies>() {
            trusted.resolve(req)
        } else {
            TrustedProxies::none().resolve(req)
        };
        ready(Ok(ClientIp(ip)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse(&["10.0.0.0/8", "fd00::/8", "192.0.2.7"]).unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.0.9")),
            "v4-mapped counts as v4"
        );
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert_eq!(net.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn bad_cidrs_are_refused_with_a_reason() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "nope",
            "10.0.0.1/8",
            "10.0.0.0/x",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let error = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(error.contains("10.0.0.0/8"), "{error}");
        let problems = TrustedProxies::parse(&["10.0.0.0/8", "bad", "1.2.3.4/40"]).unwrap_err();
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let headers = xff(&["1.1.1.1"]);
        assert_eq!(
            trusted().client_ip(Some(ip("203.0.113.5")), &headers),
            Some(ip("203.0.113.5"))
        );
        assert_eq!(
            TrustedProxies::none().client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("10.0.0.1")),
            "by default no proxy is trusted"
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_wins() {
        // The client forged 6.6.6.6; our two proxies appended the real address and each other.
        let headers = xff(&["6.6.6.6, 198.51.100.4", "10.0.0.3"]);
        assert_eq!(
            trusted().client_ip(Some(ip("10.0.0.2")), &headers),
            Some(ip("198.51.100.4"))
        );
        let headers = xff(&["6.6.6.6,198.51.100.4:4711"]);
        assert_eq!(
            trusted().client_ip(Some(ip("10.0.0.2")), &headers),
            Some(ip("198.51.100.4")),
            "a port is ignored"
        );
        let headers = xff(&["[2001:db8::5]:443, fd00::1"]);
        assert_eq!(
            trusted().client_ip(Some(ip("10.0.0.2")), &headers),
            Some(ip("2001:db8::5"))
        );
    }

    #[test]
    fn garbage_stops_at_the_nearest_trusted_hop() {
        let headers = xff(&["198.51.100.4, not-an-ip, 10.0.0.9"]);
        assert_eq!(
            trusted().client_ip(Some(ip("10.0.0.2")), &headers),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn a_chain_of_only_proxies_gives_the_leftmost() {
        let headers = xff(&["10.0.0.5, 10.0.0.4"]);
        assert_eq!(
            trusted().client_ip(Some(ip("10.0.0.2")), &headers),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(
            trusted().client_ip(Some(ip("10.0.0.2")), &HeaderMap::new()),
            Some(ip("10.0.0.2")),
            "no header: the proxy itself"
        );
    }

    #[actix_web::test]
    async fn the_extractor_uses_the_trusted_proxies_in_app_data() {
        use actix_web::{App, HttpResponse, test as actix_test, web};
        let app = actix_test::init_service(App::new().app_data(web::Data::new(trusted())).route(
            "/",
            web::get().to(|ip: ClientIp| async move { HttpResponse::Ok().body(ip.0.to_string()) }),
        ))
        .await;
        let req = actix_test::TestRequest::get()
            .peer_addr("10.0.0.2:443".parse().unwrap())
            .insert_header((X_FORWARDED_FOR, "198.51.100.4"))
            .to_request();
        assert_eq!(
            actix_test::call_and_read_body(&app, req).await,
            "198.51.100.4"
        );
        let req = actix_test::TestRequest::get()
            .peer_addr("203.0.113.9:443".parse().unwrap())
            .insert_header((X_FORWARDED_FOR, "198.51.100.4"))
            .to_request();
        assert_eq!(
            actix_test::call_and_read_body(&app, req).await,
            "203.0.113.9"
        );
    }

    #[test]
    fn mapped_peers_are_canonical() {
        assert_eq!(
            TrustedProxies::none().client_ip(Some(ip("::ffff:203.0.113.1")), &HeaderMap::new()),
            Some(ip("203.0.113.1"))
        );
        assert_eq!(
            TrustedProxies::none().client_ip(None, &HeaderMap::new()),
            None
        );
    }
}
