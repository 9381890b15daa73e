//! The route table: exact paths, the methods each accepts, the body each
//! takes. A path no route has is 404 `not_found`; a known path with another
//! method is 405 `method_not_allowed` with `allow`. `OPTIONS` is answered
//! on every route (CORS preflight, or the `allow` list).

use crate::http::Method;

/// The handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
}

/// One entry of the table.
#[derive(Debug)]
pub struct RouteSpec {
    pub path: &'static str,
    pub route: Route,
    /// Name used in logs.
    pub name: &'static str,
    pub methods: &'static [Method],
    /// The `allow` header: `methods` plus `OPTIONS`.
    pub allow: &'static str,
    /// The largest body accepted, in bytes.
    pub max_body: u64,
}

pub static ROUTES: &[RouteSpec] = &[RouteSpec {
    path: "/health",
    route: Route::Health,
    name: "health",
    methods: &[Method::Get, Method::Head],
    allow: "GET, HEAD, OPTIONS",
    max_body: 0,
}];

/// The route for a path (exact match; a trailing slash is another path).
pub fn find(path: &str) -> Option<&'static RouteSpec> {
    ROUTES.iter().find(|r| r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_every_method_and_options() {
        for r in ROUTES {
            let mut want: Vec<&str> = r.methods.iter().map(|m| m.as_str()).collect();
            want.push("OPTIONS");
            assert_eq!(r.allow, want.join(", "), "{}", r.path);
        }
    }

    #[test]
    fn paths_match_exactly() {
        assert!(find("/health").is_some());
        for p in ["/health/", "/HEALTH", "/health/x", "/", ""] {
            assert!(find(p).is_none(), "{p}");
        }
    }
}
