//! Facts about the client of an HTTP request that several routes need:
//! whether a browser could have sent it cross-site without a CORS preflight
//! (the CSRF rule), its address behind trusted proxies, and whether its
//! body is JSON.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

use crate::graphql::ClientAddr;

/// The refusal text of the CSRF rule (Apollo Server's, which clients know).
pub const CSRF_MESSAGE: &str = "This operation has been blocked as a potential Cross-Site Request \
    Forgery (CSRF). Please either specify a 'content-type' header (with a type that is not one \
    of application/x-www-form-urlencoded, multipart/form-data, text/plain) or provide a \
    non-empty value for one of the following headers: x-apollo-operation-name, \
    apollo-require-preflight, authorization";

/// Whether a browser would have sent a CORS preflight for this request, so
/// it cannot be a cross-site forgery: a non-simple content type, or a
/// header outside the CORS safelist that clients send on purpose.
pub fn preflighted(headers: &HeaderMap) -> bool {
    let content_type_forces = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|media| {
            !media.is_empty()
                && !matches!(
                    media.as_str(),
                    "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
                )
        });
    let header_forces = [
        "x-apollo-operation-name",
        "apollo-require-preflight",
        "authorization",
    ]
    .iter()
    .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()));
    content_type_forces || header_forces
}

/// The client's address: the socket peer, or with `hops` trusted proxies in
/// front, the address the outermost of them saw (from `X-Forwarded-For`).
pub fn client_addr(headers: &HeaderMap, peer: Option<SocketAddr>, hops: usize) -> ClientAddr {
    let peer_ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    if hops == 0 {
        return ClientAddr(peer_ip);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    // Each proxy appends the address it received the request from, so of
    // the last `hops` entries (appended by our proxies) the first is the
    // client as the outermost trusted proxy saw it.
    let ip = match forwarded.len().checked_sub(hops) {
        Some(i) => forwarded[i],
        None => forwarded.first().copied().unwrap_or(peer_ip),
    };
    ClientAddr(ip)
}

/// `application/json`, optionally with `charset=utf-8`.
pub fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let charset_ok = parts.all(|p| {
        let p = p.trim().to_ascii_lowercase();
        !p.starts_with("charset=") || matches!(p.as_str(), "charset=utf-8" | "charset=\"utf-8\"")
    });
    media.eq_ignore_ascii_case("application/json") && charset_ok
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    #[test]
    fn csrf_preflight_rule() {
        let with = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            preflighted(&h)
        };
        assert!(!with(&[]));
        assert!(!with(&[("content-type", "text/plain")]));
        assert!(!with(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )]));
        assert!(!with(&[(
            "content-type",
            "multipart/form-data; boundary=x"
        )]));
        assert!(!with(&[("x-apollo-operation-name", "")]));
        assert!(with(&[("content-type", "application/json")]));
        assert!(with(&[("apollo-require-preflight", "true")]));
        assert!(with(&[("x-apollo-operation-name", "Q")]));
        assert!(with(&[("authorization", "Bearer x")]));
    }

    #[test]
    fn client_address_behind_proxies() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.7, 10.0.0.2"),
        );
        assert_eq!(client_addr(&h, Some(peer), 0).0.to_string(), "10.0.0.9");
        assert_eq!(client_addr(&h, Some(peer), 1).0.to_string(), "10.0.0.2");
        assert_eq!(client_addr(&h, Some(peer), 2).0.to_string(), "203.0.113.7");
        assert_eq!(client_addr(&h, Some(peer), 3).0.to_string(), "1.1.1.1");
        assert_eq!(client_addr(&h, Some(peer), 5).0.to_string(), "1.1.1.1");
        assert_eq!(
            client_addr(&HeaderMap::new(), Some(peer), 1).0.to_string(),
            "10.0.0.9"
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("Application/JSON;charset=UTF-8"));
        assert!(!is_json_content_type("application/json; charset=latin1"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
    }
}
