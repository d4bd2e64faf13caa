//! The border between a buyer's request and a seller's component, both ways: which requests
//! are the platform's own (credentials, payments), which cookies a component sees, and which
//! response headers it may set. Each is an allow list: what is not known to be safe is
//! dropped.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use marquee_identity as auth;

/// A path inside a namespace as a component's router would read it, whatever its spelling:
/// percent-decoded (until it stops changing), lower case, without `;` parameters, empty or
/// `.` segments, and with `..` applied. Two spellings a router could take for one route
/// have one canonical form, so a check on it cannot be sidestepped by `//login`,
/// `%6cogin`, `LOGIN`, `login;x` or `login/`.
pub(crate) fn canonical_segments(path: &str) -> Vec<Cow<'_, str>> {
    // Most paths need nothing decoded and nothing folded: they are only split, unallocated.
    if !path.contains('%') {
        return resolved(path.split(['/', '\\']).filter_map(folded));
    }
    let mut decoded = path.to_string();
    for _ in 0..4 {
        let next = percent_encoding::percent_decode_str(&decoded).decode_utf8_lossy().into_owned();
        if next == decoded {
            break;
        }
        decoded = next;
    }
    resolved(decoded.split(['/', '\\']).filter_map(folded).map(|s| Cow::Owned(s.into_owned())))
}

/// A segment without its `;` parameters and in lower case; `None` for an empty or `.` one.
fn folded(segment: &str) -> Option<Cow<'_, str>> {
    let segment = segment.split(';').next().unwrap_or("").trim();
    match segment {
        "" | "." => None,
        _ if segment.bytes().any(|b| b.is_ascii_uppercase()) => Some(Cow::Owned(segment.to_ascii_lowercase())),
        _ => Some(Cow::Borrowed(segment)),
    }
}

/// The segments with each `..` applied.
fn resolved<'a>(parts: impl Iterator<Item = Cow<'a, str>>) -> Vec<Cow<'a, str>> {
    let mut segments = Vec::new();
    for part in parts {
        if part == ".." {
            segments.pop();
        } else {
            segments.push(part);
        }
    }
    segments
}

/// Where passwords and refresh tokens would travel. They are the platform's alone: no
/// component, built-in or a seller's, is ever handed a request to these paths.
const CREDENTIAL_ROUTES: &[&str] = &["signup", "login", "refresh", "logout", "password"];

/// Whether a request to this path inside a namespace carries credentials a component must
/// never see.
pub(crate) fn is_credential_path(segments: &[Cow<'_, str>]) -> bool {
    matches!(segments, [api, auth, route, ..] if api == "api" && auth == "auth" && CREDENTIAL_ROUTES.contains(&route.as_ref()))
}

/// Whether a path is under a performance's `/api/auth/`, where a component checks codes a
/// caller could guess (a presale code): the platform's log-in limits apply there.
pub(crate) fn is_auth_path(segments: &[Cow<'_, str>]) -> bool {
    matches!(segments, [api, auth, ..] if api == "api" && auth == "auth")
}

/// Whether a request is the payment of a hold (`POST …/api/holds/{id}/confirm`), whose card
/// data only the host reads.
pub(crate) fn is_payment(method: &http::Method, segments: &[Cow<'_, str>]) -> bool {
    method == http::Method::POST && matches!(segments, [api, holds, _, confirm] if api == "api" && holds == "holds" && confirm == "confirm")
}

/// Takes every `Cookie` header off a request bound for a component and puts back only the
/// component's own cookies; returns the signature half of a browser session, if any. A
/// header that is not plain ASCII, or a pair without a name, cannot be read the way a
/// browser meant it: it is dropped whole, never passed through.
pub(crate) fn take_session_cookies(headers: &mut HeaderMap) -> Option<String> {
    let values: Vec<HeaderValue> = headers.get_all(http::header::COOKIE).iter().cloned().collect();
    headers.remove(http::header::COOKIE);
    let mut signature = None;
    let mut kept: Vec<String> = Vec::new();
    for value in &values {
        let Ok(text) = value.to_str() else { continue };
        let pairs: Option<Vec<(&str, &str)>> = text
            .split(';')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').map(|(n, v)| (n.trim(), v.trim())).filter(|(n, _)| is_token(n)))
            .collect();
        let Some(pairs) = pairs else { continue };
        for (name, value) in pairs {
            if name == auth::SIGNATURE_COOKIE {
                signature = Some(value.to_string());
            } else if !is_platform_name(name) {
                kept.push(format!("{name}={value}"));
            }
        }
    }
    if let Ok(value) = HeaderValue::try_from(kept.join("; "))
        && !value.is_empty()
    {
        headers.insert(http::header::COOKIE, value);
    }
    signature
}

/// Cookie names the platform keeps for itself.
fn is_platform_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("mq_") || lower.starts_with("__host-") || lower.starts_with("__secure-")
}

/// An RFC 9110 token: what a cookie's or a header's name may be.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Response headers a component may set; every other one is dropped. The platform adds its
/// own security headers to every answer.
const ALLOWED_HEADERS: &[&str] = &[
    "content-type",
    "content-language",
    "content-disposition",
    "content-encoding",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "vary",
    "retry-after",
    "allow",
    "cache-control",
    "location",
    "set-cookie",
];

/// `Cache-Control` directives a component may use: none lets a shared cache keep an answer
/// that may be one buyer's.
const CACHE_DIRECTIVES: &[&str] = &["no-store", "no-cache", "private", "max-age", "must-revalidate", "immutable"];

/// Most cookies one answer may set, and the longest a `Set-Cookie` may be.
pub(crate) const MAX_COOKIES: usize = 4;
pub(crate) const MAX_COOKIE_BYTES: usize = 1024;

/// Filters a component's response headers for namespace `ns` to the allow list, with each
/// policed header kept only when it stays inside `/p/{ns}/`.
pub(crate) fn guard_response(ns: &str, headers: &mut HeaderMap) {
    let own = format!("/p/{ns}/");
    let allowed = |name: &HeaderName, value: &HeaderValue, cookies: &mut usize| {
        ALLOWED_HEADERS.contains(&name.as_str())
            && value.to_str().is_ok_and(|text| match name.as_str() {
                "cache-control" => cache_control_allowed(text),
                "location" => inside(&own, text),
                "set-cookie" => {
                    *cookies += 1;
                    *cookies <= MAX_COOKIES && cookie_allowed(&own, text)
                }
                _ => true,
            })
    };
    // Most answers set nothing refused: checked first, the map is rebuilt only when not.
    let mut cookies = 0;
    if headers.iter().all(|(name, value)| allowed(name, value, &mut cookies)) {
        return;
    }
    let mut cookies = 0;
    let mut name: Option<HeaderName> = None;
    for (next, value) in std::mem::take(headers) {
        // A `HeaderMap` iterated by value names a header once, before all of its values.
        if let Some(next) = next {
            name = Some(next);
        }
        if let Some(name) = &name
            && allowed(name, &value, &mut cookies)
        {
            headers.append(name.clone(), value);
        }
    }
}

fn cache_control_allowed(value: &str) -> bool {
    value.split(',').map(|d| d.trim().split('=').next().unwrap_or("").to_ascii_lowercase()).all(|d| CACHE_DIRECTIVES.contains(&d.as_str()))
}

/// Whether a path stays inside the namespace's own pages: it starts with `/p/{ns}/` (or is
/// `/p/{ns}`) and nothing in it could lead a browser elsewhere.
fn inside(own: &str, path: &str) -> bool {
    let plain = path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'%');
    plain && (path.starts_with(own) || path == own.trim_end_matches('/')) && !path.split(['/', '?', '#']).any(|s| s == "..")
}

/// Whether a component's `Set-Cookie` only sets a cookie of its own for its own pages: a
/// named, non-platform cookie of capped size, with a `Path` inside `/p/{ns}/` and no `Domain`.
fn cookie_allowed(own: &str, set_cookie: &str) -> bool {
    if set_cookie.len() > MAX_COOKIE_BYTES {
        return false;
    }
    let mut parts = set_cookie.split(';');
    let Some((name, _)) = parts.next().and_then(|pair| pair.split_once('=')) else { return false };
    let name = name.trim();
    if !is_token(name) || is_platform_name(name) {
        return false;
    }
    let mut path_inside = false;
    for attribute in parts {
        let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        match key.trim().to_ascii_lowercase().as_str() {
            "domain" => return false,
            "path" if !inside(own, value.trim()) => return false,
            "path" => path_inside = true,
            _ => {}
        }
    }
    path_inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(path: &str) -> Vec<Cow<'_, str>> {
        canonical_segments(path)
    }

    #[test]
    fn every_spelling_of_a_credential_path_is_the_platform_s() {
        for path in ["/api/auth/login", "/api/auth/login/", "//api/auth//login", "/api/auth/%6cogin", "/api/auth/%256cogin", "/API/Auth/LOGIN", "/api/auth/login;x", "/api/auth/signup/", "/api/x/../auth/login", "/api\\auth\\logout", "/api/auth/./refresh"] {
            assert!(is_credential_path(&segments(path)), "{path}");
        }
        for path in ["/api/auth/me", "/api/auth/admit", "/api/info", "/api/authx/login", "/"] {
            assert!(!is_credential_path(&segments(path)), "{path}");
        }
        assert!(is_auth_path(&segments("//api//auth/admit")));
        assert!(!is_auth_path(&segments("/api/info")));
    }

    #[test]
    fn every_spelling_of_a_confirm_is_a_payment() {
        let post = http::Method::POST;
        for path in ["/api/holds/h_1/confirm", "//api/holds/h_1/confirm/", "/api/holds/h_1/%63onfirm", "/API/HOLDS/h_1/CONFIRM;x"] {
            assert!(is_payment(&post, &segments(path)), "{path}");
        }
        assert!(!is_payment(&http::Method::GET, &segments("/api/holds/h_1/confirm")));
        assert!(!is_payment(&post, &segments("/api/holds/h_1")));
    }

    fn cookies_of(header: &[&[u8]]) -> (Option<String>, Option<String>) {
        let mut headers = HeaderMap::new();
        for value in header {
            headers.append(http::header::COOKIE, HeaderValue::from_bytes(value).unwrap());
        }
        let signature = take_session_cookies(&mut headers);
        (signature, headers.get(http::header::COOKIE).map(|v| v.to_str().unwrap().to_string()))
    }

    #[test]
    fn a_component_sees_only_its_own_cookies_and_an_unreadable_header_is_dropped_whole() {
        assert_eq!(cookies_of(&[b"mq_sig=S; theme=dark; mq_refresh=R; MQ_x=1"]), (Some("S".into()), Some("theme=dark".into())));
        // Every Cookie header is read (HTTP/2 sends one per cookie).
        assert_eq!(cookies_of(&[b"theme=dark", b"mq_sig=S"]), (Some("S".into()), Some("theme=dark".into())));
        // A non-ASCII byte or a nameless pair: the header goes, platform cookies and all.
        assert_eq!(cookies_of(&["mq_sig=S; junk=café".as_bytes()]), (None, None));
        assert_eq!(cookies_of(&[b"=mq_sig=S; a=1"]), (None, None));
        assert_eq!(cookies_of(&[b"mq_sig=S; junk"]), (None, None));
        assert_eq!(cookies_of(&[b"a=1", "b=é".as_bytes()]), (None, Some("a=1".into())));
    }

    fn guarded(headers: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        guard_response("gala", &mut map);
        map.iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string())).collect()
    }

    #[test]
    fn only_allowed_headers_pass_and_cookies_and_redirects_stay_in_their_namespace() {
        let kept = guarded(&[
            ("content-type", "text/html"),
            ("cache-control", "private, max-age=60"),
            ("location", "/p/gala/orders"),
            ("set-cookie", "theme=dark; Path=/p/gala/; Max-Age=60"),
            ("set-cookie", "cart=1; path=/p/gala"),
        ]);
        assert_eq!(kept.len(), 5, "{kept:?}");
        for (name, value) in [
            ("nel", "{}"),
            ("report-to", "{}"),
            ("reporting-endpoints", "a=\"https://evil.example\""),
            ("alt-svc", "h3=\":443\""),
            ("service-worker-allowed", "/"),
            ("link", "</x.js>; rel=preload"),
            ("speculation-rules", "\"/rules.json\""),
            ("set-login", "logged-in"),
            ("origin-agent-cluster", "?0"),
            ("referrer-policy", "unsafe-url"),
            ("refresh", "0; url=https://evil.example/"),
            ("content-security-policy", "script-src *"),
            ("x-frame-options", "ALLOWALL"),
            ("cache-control", "public, max-age=31536000"),
            ("cache-control", "s-maxage=60"),
            ("location", "https://evil.example/"),
            ("location", "//evil.example/"),
            ("location", "/p/gala/../../console/"),
            ("location", "/p/galaxy/"),
            ("location", "/p/gala/%2e%2e/x"),
            ("set-cookie", "bomb=AAAA; Path=/; Max-Age=31536000"),
            ("set-cookie", "bomb=AAAA"),
            ("set-cookie", "=mq_sig=evil; Path=/p/gala/"),
            ("set-cookie", "mq_sig=evil; Path=/p/gala/"),
            ("set-cookie", "__Host-x=1; Path=/p/gala/"),
            ("set-cookie", "a=1; Path=/p/gala/; Domain=example.com"),
            ("set-cookie", "a=1; Path=/p/gala/; Path=/"),
            ("set-cookie", "a=1; Path=/p/gala2/"),
        ] {
            assert!(guarded(&[(name, value)]).is_empty(), "{name}: {value} passed");
        }
        let big = format!("big={}; Path=/p/gala/", "A".repeat(MAX_COOKIE_BYTES));
        assert!(guarded(&[("set-cookie", &big)]).is_empty());
        let many: Vec<(&str, &str)> = std::iter::repeat_n(("set-cookie", "a=1; Path=/p/gala/"), 10).collect();
        assert_eq!(guarded(&many).len(), MAX_COOKIES);
    }
}
