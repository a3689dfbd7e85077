//! Web origins (`scheme://host[:port]`) in one canonical form, so that every allowlist here
//! (CORS and CSRF at the gateway, the return URLs payments hands to the payment provider)
//! compares the same way, and a URL's origin is read once, strictly.

/// `scheme://host[:port]` in canonical form: lowercase, without the scheme's default port.
/// Refuses anything else (paths, user info, `null`, other schemes).
pub fn normalize_origin(text: &str) -> Result<String, String> {
    let refuse = || format!("`{text}` is not an origin (expected http(s)://host[:port])");
    let (scheme, authority) = text.split_once("://").ok_or_else(refuse)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(refuse()),
    };
    if authority.is_empty()
        || authority
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\') || !b.is_ascii_graphic())
    {
        return Err(refuse());
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(refuse)?;
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(refuse());
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(refuse)?),
        };
        (format!("[{inside}]"), port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.clone(), None),
        }
    };
    if host.is_empty() {
        return Err(refuse());
    }
    match port {
        Some(port) if port.parse::<u16>().is_err() => Err(refuse()),
        Some(port) if port != default_port => Ok(format!("{scheme}://{host}:{port}")),
        _ => Ok(format!("{scheme}://{host}")),
    }
}

/// The origin of an absolute http(s) URL (a `Referer`, a return URL), normalized; `None` when
/// it has none. User info (`https://app@evil.example`) has no origin.
pub fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    normalize_origin(&format!("{scheme}://{}", &rest[..end])).ok()
}

/// True when `origin` (normalized) names this machine: plain `http://` is acceptable only there.
pub fn is_loopback(origin: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalize() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example.com:443").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            normalize_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        assert_eq!(normalize_origin("http://[::1]:80").unwrap(), "http://[::1]");
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://user@app.example.com",
            "ftp://app.example.com",
            "https://",
            "https://a:99999",
            "null",
            "https://[zz]",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
        assert_eq!(
            origin_of_url("https://app.example.com:443/a/b?c#d").as_deref(),
            Some("https://app.example.com")
        );
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for local in [
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://127.0.0.9:1",
            "http://[::1]:80",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "https://app.example.com",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "http://[::2]",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
