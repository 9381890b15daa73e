//! The route table, with each route's policy as data: methods, the body
//! it takes, who may call it, whether it is rate-limited, whether it
//! exists outside development environments. The pipeline
//! ([`super::handle`]) enforces the policy before any handler runs; the
//! OpenAPI document (`crate::openapi`) is generated from the same table.
//!
//! A path no route has is 404 `not_found`; a known path with another
//! method is 405 `method_not_allowed` with `allow`. `OPTIONS` is answered
//! on every route (CORS preflight, or the `allow` list). Paths match
//! exactly, except a trailing `{id}` segment (no `/` inside).

use crate::http::Method;

/// The handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Me,
    KeysList,
    KeysCreate,
    KeysRevoke,
    DevStream,
    Chat,
    ChatCompletions,
    SessionsList,
    SessionGet,
    SessionDelete,
    DocumentsIngest,
    DocumentsList,
    DocumentDelete,
    DocumentJob,
    Search,
    DevRetrieve,
    ToolsList,
    ToolCall,
    AuditList,
    Tts,
    Playground,
    PlaygroundLog,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No authentication, no rate limit (`/health`; the playground page and
    /// its log links, in development environments only).
    Public,
    /// Any authenticated principal with one of `roles` (empty: any).
    Principal { roles: &'static [&'static str] },
}

/// One method on one path.
#[derive(Debug)]
pub struct RouteSpec {
    pub path: &'static str,
    pub method: Method,
    pub route: Route,
    /// Name used in logs and as the OpenAPI operation id.
    pub name: &'static str,
    pub access: Access,
    /// Charged to the tenant's rate limits.
    pub limited: bool,
    /// The largest body accepted, in bytes (0: none).
    pub max_body: u64,
    /// Served only in development environments (404 elsewhere).
    pub dev_only: bool,
    /// Spends model tokens: the handler charges the rate limit together
    /// with its token-budget reservation (one round trip), after reading
    /// and checking its body; it must call
    /// [`crate::limits::check_with`] before anything else happens.
    pub budgeted: bool,
}

const ADMIN: &[&str] = &["admin"];
/// A chat request body: up to 512 KiB.
const CHAT_BODY: u64 = 512 * 1024;
/// A document batch: up to 1 MiB (the pipeline's cap for any body).
const DOCS_BODY: u64 = 1024 * 1024;
const ANYONE: Access = Access::Principal { roles: &[] };

/// A table entry; every route behind a principal is rate-limited.
const fn spec(path: &'static str, method: Method, route: Route, name: &'static str, access: Access, max_body: u64) -> RouteSpec {
    RouteSpec {
        path,
        method,
        route,
        name,
        access,
        limited: matches!(access, Access::Principal { .. }),
        max_body,
        dev_only: false,
        budgeted: false,
    }
}

pub static ROUTES: &[RouteSpec] = &[
    spec("/health", Method::Get, Route::Health, "health", Access::Public, 0),
    spec("/health", Method::Head, Route::Health, "health", Access::Public, 0),
    spec("/v1/me", Method::Get, Route::Me, "me", ANYONE, 0),
    spec(
        "/v1/keys",
        Method::Get,
        Route::KeysList,
        "keys.list",
        Access::Principal { roles: ADMIN },
        0,
    ),
    spec(
        "/v1/keys",
        Method::Post,
        Route::KeysCreate,
        "keys.create",
        Access::Principal { roles: ADMIN },
        4 * 1024,
    ),
    spec(
        "/v1/keys/{id}",
        Method::Delete,
        Route::KeysRevoke,
        "keys.revoke",
        Access::Principal { roles: ADMIN },
        0,
    ),
    RouteSpec {
        budgeted: true,
        ..spec("/chat", Method::Post, Route::Chat, "chat", ANYONE, CHAT_BODY)
    },
    RouteSpec {
        budgeted: true,
        ..spec(
            "/v1/chat/completions",
            Method::Post,
            Route::ChatCompletions,
            "chat.completions",
            ANYONE,
            CHAT_BODY,
        )
    },
    spec("/sessions", Method::Get, Route::SessionsList, "sessions.list", ANYONE, 0),
    spec("/sessions/{id}", Method::Get, Route::SessionGet, "sessions.get", ANYONE, 0),
    spec("/sessions/{id}", Method::Delete, Route::SessionDelete, "sessions.delete", ANYONE, 0),
    spec(
        "/documents",
        Method::Post,
        Route::DocumentsIngest,
        "documents.ingest",
        ANYONE,
        DOCS_BODY,
    ),
    spec("/documents", Method::Get, Route::DocumentsList, "documents.list", ANYONE, 0),
    spec(
        "/documents/{id}",
        Method::Delete,
        Route::DocumentDelete,
        "documents.delete",
        ANYONE,
        0,
    ),
    spec("/documents/jobs/{id}", Method::Get, Route::DocumentJob, "documents.job", ANYONE, 0),
    RouteSpec {
        budgeted: true,
        ..spec("/search", Method::Post, Route::Search, "search", ANYONE, 16 * 1024)
    },
    spec("/tools", Method::Get, Route::ToolsList, "tools.list", ANYONE, 0),
    RouteSpec {
        budgeted: true,
        ..spec("/tools/{id}", Method::Post, Route::ToolCall, "tools.call", ANYONE, DOCS_BODY)
    },
    spec(
        "/audit",
        Method::Get,
        Route::AuditList,
        "audit.list",
        Access::Principal { roles: ADMIN },
        0,
    ),
    RouteSpec {
        // The handler charges the rate limit once the text passed its checks.
        budgeted: true,
        ..spec("/tts", Method::Post, Route::Tts, "tts", ANYONE, 128 * 1024)
    },
    RouteSpec {
        dev_only: true,
        ..spec(
            "/v1/dev/retrieve",
            Method::Post,
            Route::DevRetrieve,
            "dev.retrieve",
            ANYONE,
            16 * 1024,
        )
    },
    RouteSpec {
        dev_only: true,
        ..spec("/v1/dev/stream", Method::Get, Route::DevStream, "dev.stream", ANYONE, 0)
    },
    // The developer playground: a static page and the log lines it links
    // to. Public (the page sends the development user's headers itself; a
    // link cannot), in environments whose config enables it (development).
    RouteSpec {
        dev_only: true,
        ..spec("/_playground", Method::Get, Route::Playground, "playground", Access::Public, 0)
    },
    RouteSpec {
        dev_only: true,
        ..spec(
            "/_playground/log/{id}",
            Method::Get,
            Route::PlaygroundLog,
            "playground.log",
            Access::Public,
            0,
        )
    },
];

/// The routes of one path, with the `{id}` it captured.
#[derive(Debug)]
pub struct PathMatch<'p> {
    pub path: &'static str,
    pub specs: Vec<&'static RouteSpec>,
    pub param: Option<&'p str>,
}

impl PathMatch<'_> {
    /// The `allow` header: the methods, then `OPTIONS`.
    pub fn allow(&self) -> String {
        let mut v: Vec<&str> = self.specs.iter().map(|s| s.method.as_str()).collect();
        v.push("OPTIONS");
        v.join(", ")
    }

    pub fn for_method(&self, m: Method) -> Option<&'static RouteSpec> {
        self.specs.iter().copied().find(|s| s.method == m)
    }
}

fn matches<'p>(pattern: &str, path: &'p str) -> Option<Option<&'p str>> {
    match pattern.strip_suffix("{id}") {
        None => (pattern == path).then_some(None),
        Some(prefix) => {
            let id = path.strip_prefix(prefix)?;
            (!id.is_empty() && !id.contains('/') && id.len() <= 128).then_some(Some(id))
        }
    }
}

/// The routes for a path.
pub fn find(path: &str) -> Option<PathMatch<'_>> {
    let mut found: Option<PathMatch<'_>> = None;
    for spec in ROUTES {
        if let Some(param) = matches(spec.path, path) {
            match &mut found {
                Some(m) if m.path == spec.path => m.specs.push(spec),
                Some(_) => {}
                None => {
                    found = Some(PathMatch {
                        path: spec.path,
                        specs: vec![spec],
                        param,
                    })
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_every_method_of_the_path_and_options() {
        assert_eq!(find("/health").unwrap().allow(), "GET, HEAD, OPTIONS");
        assert_eq!(find("/v1/keys").unwrap().allow(), "GET, POST, OPTIONS");
        assert_eq!(find("/v1/keys/abc").unwrap().allow(), "DELETE, OPTIONS");
    }

    #[test]
    fn paths_match_exactly_and_ids_are_one_segment() {
        assert!(find("/health").is_some());
        for p in ["/health/", "/HEALTH", "/health/x", "/", "", "/v1/keys/", "/v1/keys/a/b"] {
            assert!(find(p).is_none(), "{p}");
        }
        assert_eq!(find("/v1/keys/0123abcd").unwrap().param, Some("0123abcd"));
    }

    #[test]
    fn only_health_and_the_development_playground_are_public_and_every_other_route_is_limited() {
        for r in ROUTES {
            let public = r.route == Route::Health || (r.dev_only && matches!(r.route, Route::Playground | Route::PlaygroundLog));
            assert_eq!(r.access == Access::Public, public, "{}", r.path);
            assert_eq!(r.limited, r.access != Access::Public, "{}", r.path);
            assert!(r.max_body == 0 || r.method == Method::Post, "{}", r.path);
        }
    }
}
