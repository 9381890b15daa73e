//! The rules of `auth` blocks (docs/tenant-format.md#auth).
//!
//! Each block is checked once on its own ([`check_block`]: every method's
//! values, inline keys, the API-key KV binding), then per environment
//! ([`check_env`]) for which block applies there — the environment's own,
//! which replaces the tenant-level one, or else the tenant-level one — and
//! whether it may (`none` only in development environments) and must (a
//! method outside them) be there. Every problem is a `tenant::auth::*`
//! diagnostic; credentials pasted into an auth setting are
//! `tenant::secret::value`.

use std::collections::HashMap;

use super::{secret_check_with, Cx, PlatformInfo};
use crate::diag::{did_you_mean, Diagnostic};
use crate::raw::decode::Sp;
use crate::raw::*;
use crate::resolved::{self as res, defaults, JwtAlg};
use crate::source::{Format, Span};
use crate::validate::rules::*;

const SECRET_HELP: &str = "an `auth` block holds public values only (issuers, audiences, key URLs, public keys): remove the credential, and if it is real, rotate it: it is in git history";

/// A credential pasted where a public value belongs. True when flagged.
fn pasted_secret(cx: &mut Cx<'_>, s: &Sp<String>, what: &str) -> bool {
    // Issuers, audiences and key ids are often random-looking ids: only the
    // certain shapes count here, never mere entropy.
    secret_check_with(cx, s, &format_args!("`{what}`"), false, false, SECRET_HELP)
}

/// Checks one `auth` block and returns what it resolves to (meaningful
/// only when no error was reported).
pub(super) fn check_block(cx: &mut Cx<'_>, p: &PlatformInfo, a: &RawAuth) -> res::Auth {
    res::Auth {
        jwt: a.jwt.as_ref().and_then(|j| check_jwt(cx, j)),
        access: a.access.as_ref().and_then(|x| check_access(cx, x)),
        api_keys: a.api_keys.as_ref().filter(|k| k.enabled).map(|k| check_api_keys(cx, p, k)),
        none: a.none.as_ref().is_some_and(|n| n.value),
    }
}

/// Does the block enable anything at all (`none` included)?
fn enables_something(a: &RawAuth) -> bool {
    a.jwt.is_some() || a.access.is_some() || a.api_keys.as_ref().is_some_and(|k| k.enabled) || a.none.as_ref().is_some_and(|n| n.value)
}

/// The environment rules: which block applies to `e`, and whether it may
/// and must be there.
pub(super) fn check_env(cx: &mut Cx<'_>, pe: &res::Environment, e: &RawTenantEnv, t: &RawTenant) {
    let (block, inherited) = match (&e.auth, &t.auth) {
        (Some(a), _) => (Some(a), false),
        (None, Some(a)) => (Some(a), true),
        (None, None) => (None, false),
    };
    let env = &pe.name;
    let kdl = cx.fmt(e.name.span) == Format::Kdl;
    if pe.development {
        // Any method may be enabled here, `none` included, or none at all:
        // then every request that needs a caller is refused (fail closed).
        return;
    }
    let Some(a) = block else {
        let help = if kdl {
            "add `auth { jwt issuer=\"…\" audience=\"…\" { jwks-url \"…\" } }`, `auth { api-keys #true }` or `auth { access team-domain=\"…\" audience=\"…\" }`: tenant-level for every environment, or inside this `env` block"
        } else {
            "add `\"auth\": { \"jwt\": { \"issuer\": \"…\", \"audience\": \"…\", \"jwks_url\": \"…\" } }`, `\"auth\": { \"api_keys\": true }` or `\"auth\": { \"access\": { \"team_domain\": \"…\", \"audience\": \"…\" } }`: tenant-level for every environment, or in this environment"
        };
        cx.err(
            Diagnostic::error(
                "tenant::auth::missing",
                format!("environment `{env}` has no authentication"),
                e.name.span,
                "no `auth` applies here",
            )
            .with_help(help),
        );
        return;
    };
    if let Some(none) = a.none.as_ref().filter(|n| n.value) {
        let dev_flag = if kdl { "`development=#true`" } else { "`\"development\": true`" };
        let d = if inherited {
            let help = if kdl {
                format!("give `env \"{env}\"` its own `auth {{ … }}` without `none` (it replaces the tenant-level one there), or move `none #true` into the `auth` blocks of the development environments")
            } else {
                format!("give environment `{env}` its own `\"auth\": {{ … }}` without `none` (it replaces the tenant-level one there), or move `\"none\": true` into the `auth` of the development environments")
            };
            Diagnostic::error(
                "tenant::auth::none",
                format!("the tenant-level `auth` accepts unauthenticated requests (`none`) in environment `{env}`, which is not a development environment"),
                none.span,
                format!("applies to `{env}`"),
            )
            .with_label(e.name.span, format!("`{env}` has no `auth` of its own"))
            .with_help(help)
        } else {
            Diagnostic::error(
                "tenant::auth::none",
                format!("`none` is not allowed in environment `{env}`, which is not a development environment"),
                none.span,
                "unauthenticated requests",
            )
            .with_help(format!(
                "remove `none`: only environments marked {dev_flag} in the platform file may accept requests without credentials"
            ))
        };
        cx.err(d);
        return;
    }
    if a.broken || enables_something(a) {
        return;
    }
    let help = if kdl {
        "enable a method: `jwt issuer=\"…\" audience=\"…\" { … }`, `api-keys #true` or `access team-domain=\"…\" audience=\"…\"`"
    } else {
        "enable a method: `\"jwt\": { … }`, `\"api_keys\": true` or `\"access\": { … }`"
    };
    let d = if inherited {
        Diagnostic::error(
            "tenant::auth::missing",
            format!("environment `{env}` uses the tenant-level `auth`, which enables no method"),
            a.key_span,
            "no method enabled",
        )
        .with_label(e.name.span, format!("`{env}` has no `auth` of its own"))
    } else {
        Diagnostic::error(
            "tenant::auth::missing",
            format!("the `auth` of environment `{env}` enables no method"),
            a.key_span,
            "no method enabled",
        )
    };
    cx.err(d.with_help(help));
}

// ------------------------------------------------------------------ methods

fn check_jwt(cx: &mut Cx<'_>, j: &RawJwt) -> Option<res::Jwt> {
    let before = cx.diags.error_count();
    let kdl = cx.fmt(j.head) == Format::Kdl;
    for (field, code, value) in [
        ("issuer", "tenant::auth::issuer", &j.issuer),
        ("audience", "tenant::auth::audience", &j.audience),
    ] {
        let Some(v) = value else { continue };
        if pasted_secret(cx, v, field) {
            continue;
        }
        if v.value.trim().is_empty() {
            let help = match field {
                "issuer" => "the `iss` claim of this tenant's tokens, exactly as the identity provider writes it, e.g. \"https://login.acme.example.com/\"",
                _ => "the `aud` value of this tenant's tokens, e.g. the API identifier registered with the identity provider",
            };
            cx.err(Diagnostic::error(code, format!("`{field}` is empty"), v.span, "empty").with_help(help));
        }
    }
    let algorithms = check_algorithms(cx, j.algorithms.as_ref());
    let keys_name = if kdl { "`key` nodes" } else { "`keys`" };
    let url_name = if kdl { "jwks-url" } else { "jwks_url" };
    let keys = match (&j.jwks_url, &j.keys) {
        (Some(u), Some(k)) => {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key-source",
                    format!("`jwt` has both `{url_name}` and inline keys"),
                    u.span,
                    "keys fetched from here",
                )
                .with_label(k.span, "and written here")
                .with_help(format!(
                    "keep one: `{url_name}` for a real identity provider, inline {keys_name} for development and tests"
                )),
            );
            None
        }
        (None, None) if j.incomplete => None, // a misspelt `jwks-url`, say: reported already
        (None, None) => {
            let help = if kdl {
                "add `jwks-url \"https://…/.well-known/jwks.json\"` (the identity provider's key set) inside `jwt`, or inline public keys as `key kid=\"…\" kty=\"RSA\" n=\"…\" e=\"AQAB\"` for development and tests"
            } else {
                "add `\"jwks_url\": \"https://…/.well-known/jwks.json\"` (the identity provider's key set), or inline public keys as `\"keys\": [{ \"kid\": \"…\", \"kty\": \"RSA\", \"n\": \"…\", \"e\": \"AQAB\" }]` for development and tests"
            };
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key-source",
                    format!("`jwt` has neither `{url_name}` nor inline keys: no token could be verified"),
                    j.head,
                    "no keys",
                )
                .with_help(help),
            );
            None
        }
        (Some(u), None) => check_url(cx, u, url_name).then(|| res::KeySource::Url(u.value.clone())),
        (None, Some(k)) => check_keys(cx, k, &algorithms, Owner::Jwt).map(res::KeySource::Inline),
    };
    let claim = |cx: &mut Cx<'_>, c: &Option<Sp<String>>, name: &str, default: &str| -> String {
        let Some(c) = c else { return default.to_string() };
        if !pasted_secret(cx, c, name) && (c.value.is_empty() || c.value.chars().any(char::is_whitespace)) {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::claim",
                    format!("`{}` is not a claim name", c.value),
                    c.span,
                    "empty or with whitespace",
                )
                .with_help(format!(
                    "the name of a claim in the token, without spaces, e.g. \"{default}\"; leave it out for \"{default}\""
                )),
            );
        }
        c.value.clone()
    };
    let user_claim = claim(
        cx,
        &j.user_claim,
        if kdl { "user-claim" } else { "user_claim" },
        defaults::USER_CLAIM,
    );
    let roles_claim = claim(
        cx,
        &j.roles_claim,
        if kdl { "roles-claim" } else { "roles_claim" },
        defaults::ROLES_CLAIM,
    );
    if cx.diags.error_count() > before {
        return None;
    }
    Some(res::Jwt {
        issuer: j.issuer.as_ref()?.value.clone(),
        audience: j.audience.as_ref()?.value.clone(),
        keys: keys?,
        algorithms,
        user_claim,
        roles_claim,
        clock_skew_secs: j.clock_skew.as_ref().map(|c| c.value as u32).unwrap_or(defaults::CLOCK_SKEW_SECS),
    })
}

fn check_access(cx: &mut Cx<'_>, x: &RawAccess) -> Option<res::Access> {
    let before = cx.diags.error_count();
    let kdl = cx.fmt(x.head) == Format::Kdl;
    let team_domain = x.team_domain.as_ref().and_then(|td| {
        if pasted_secret(cx, td, if kdl { "team-domain" } else { "team_domain" }) {
            return None;
        }
        match check_team_domain(&td.value) {
            Ok(()) => Some(td.value.clone()),
            Err((msg, help)) => {
                cx.err(Diagnostic::error("tenant::auth::team-domain", msg, td.span, "not a team domain").with_help(help));
                None
            }
        }
    });
    if let Some(aud) = &x.audience {
        if !pasted_secret(cx, aud, "audience") && !is_access_aud(&aud.value) {
            let help = if is_access_aud(&aud.value.to_ascii_lowercase()) {
                format!("write it in lowercase: \"{}\"", aud.value.to_ascii_lowercase())
            } else {
                "copy the Application Audience (AUD) Tag from Zero Trust → Access → Applications → the application's Overview: 64 hexadecimal characters".to_string()
            };
            cx.err(
                Diagnostic::error(
                    "tenant::auth::audience",
                    format!("`{}` is not an Access AUD tag", aud.value),
                    aud.span,
                    "expected 64 lowercase hex characters",
                )
                .with_help(help),
            );
        }
    }
    let url_name = if kdl { "certs-url" } else { "certs_url" };
    let keys = match (&x.certs_url, &x.keys) {
        (Some(u), Some(k)) => {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key-source",
                    format!("`access` has both `{url_name}` and inline keys"),
                    u.span,
                    "keys fetched from here",
                )
                .with_label(k.span, "and written here")
                .with_help(
                    "keep one (or neither: the keys then come from https://<team-domain>/cdn-cgi/access/certs); inline keys are for development and tests",
                ),
            );
            None
        }
        (Some(u), None) => check_url(cx, u, url_name).then(|| res::KeySource::Url(u.value.clone())),
        (None, Some(k)) => check_keys(cx, k, &[JwtAlg::Rs256], Owner::Access).map(res::KeySource::Inline),
        (None, None) => team_domain
            .as_ref()
            .map(|td| res::KeySource::Url(format!("https://{td}/cdn-cgi/access/certs"))),
    };
    if cx.diags.error_count() > before {
        return None;
    }
    let team_domain = team_domain?;
    Some(res::Access {
        issuer: format!("https://{team_domain}"),
        team_domain,
        audience: x.audience.as_ref()?.value.clone(),
        keys: keys?,
    })
}

/// A Zero Trust team domain: a hostname of at least two labels, no
/// wildcard, scheme, path or trailing dot.
fn check_team_domain(td: &str) -> Result<(), (String, String)> {
    let example = "write the team domain only, e.g. `acme.cloudflareaccess.com`";
    if let Some((_, rest)) = td.split_once("://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        return Err(("a team domain has no scheme".into(), format!("write `{host}`")));
    }
    if td.starts_with("*.") {
        return Err(("a team domain cannot be a wildcard".into(), example.into()));
    }
    if let Some(stripped) = td.strip_suffix('.') {
        return Err(("a team domain has no trailing dot".into(), format!("write `{stripped}`")));
    }
    check_host(td)?;
    if !td.contains('.') {
        return Err(("a team domain has at least two labels".into(), example.into()));
    }
    Ok(())
}

fn check_url(cx: &mut Cx<'_>, u: &Sp<String>, name: &str) -> bool {
    if pasted_secret(cx, u, name) {
        return false;
    }
    match check_key_url(&u.value) {
        Ok(()) => true,
        Err((msg, help)) => {
            cx.err(Diagnostic::error("tenant::auth::url", msg, u.span, "invalid key URL").with_help(help));
            false
        }
    }
}

fn check_api_keys(cx: &mut Cx<'_>, p: &PlatformInfo, k: &RawApiKeys) -> res::ApiKeys {
    let named = k.kv.as_ref().map(|n| n.value.clone());
    if !p.parsed {
        // Without a platform file there are no bindings to check against.
        return res::ApiKeys {
            kv_binding: named.unwrap_or_default(),
        };
    }
    let kdl = cx.fmt(k.span) == Format::Kdl;
    let kv_names: Vec<&str> = p
        .resolved
        .bindings
        .iter()
        .filter(|b| matches!(b.kind, res::BindingKind::Kv))
        .map(|b| b.name.as_str())
        .collect();
    let name_it = |b: &str| {
        if kdl {
            format!("`api-keys kv=\"{b}\"`")
        } else {
            format!("`\"api_keys\": {{ \"kv\": \"{b}\" }}`")
        }
    };
    match &k.kv {
        Some(n) => match p.resolved.bindings.iter().find(|b| b.name == n.value) {
            Some(b) if matches!(b.kind, res::BindingKind::Kv) => {}
            Some(b) => {
                let kind = match &b.kind {
                    res::BindingKind::DurableObject { .. } => "a durable-object",
                    res::BindingKind::Vectorize { .. } => "a vectorize",
                    res::BindingKind::Ai => "an ai",
                    res::BindingKind::AnalyticsEngine { .. } => "an analytics-engine",
                    res::BindingKind::Queue => "a queue",
                    res::BindingKind::Kv => "a kv",
                };
                let mut d = Diagnostic::error(
                    "tenant::auth::kv",
                    format!("`{}` is {kind} binding, not a KV binding", n.value),
                    n.span,
                    "not a KV binding",
                );
                if let Some((decl, _)) = p.binding_spans.get(&b.name) {
                    d = d.with_label(*decl, "declared here");
                }
                cx.err(d.with_help(match kv_names.as_slice() {
                    [] => "API keys are kept in a KV namespace: declare a `kv` binding in the platform file".to_string(),
                    names => format!("API keys are kept in a KV namespace: name a KV binding ({})", names.join(", ")),
                }));
            }
            None => {
                let d = Diagnostic::error(
                    "tenant::auth::kv",
                    format!("unknown KV binding `{}`", n.value),
                    n.span,
                    "not declared in the platform file",
                );
                let all: Vec<&str> = p.resolved.bindings.iter().map(|b| b.name.as_str()).collect();
                let help = match did_you_mean(&n.value, kv_names.iter().copied()).or_else(|| did_you_mean(&n.value, all.iter().copied())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if kv_names.is_empty() => {
                        "the platform declares no KV binding: add one (e.g. `kv API_KEYS`) to the platform file".to_string()
                    }
                    None => format!("the platform's KV bindings: {}", kv_names.join(", ")),
                };
                cx.err(d.with_help(help));
            }
        },
        None => match kv_names.as_slice() {
            [_] => {}
            [] => cx.err(
                Diagnostic::error(
                    "tenant::auth::kv",
                    "API keys need a KV binding, and the platform declares none",
                    k.span,
                    "no KV binding to keep keys in",
                )
                .with_help("declare a `kv` binding in the platform file (e.g. `kv API_KEYS`) and give every tenant its namespace"),
            ),
            names => cx.err(
                Diagnostic::error(
                    "tenant::auth::kv",
                    format!("the platform has {} KV bindings: which one holds the API keys?", names.len()),
                    k.span,
                    "KV binding not named",
                )
                .with_help(format!("name one, e.g. {} (KV bindings: {})", name_it(names[0]), names.join(", "))),
            ),
        },
    }
    res::ApiKeys {
        kv_binding: named
            .or_else(|| (kv_names.len() == 1).then(|| kv_names[0].to_string()))
            .unwrap_or_default(),
    }
}

// ------------------------------------------------------------------ algorithms

/// Why an algorithm name is refused (message, help), or `None` for an allowed one.
fn refuse_algorithm(a: &str) -> Option<(String, String)> {
    let allowed = JWT_ALGORITHMS.join(", ");
    if JwtAlg::from_name(a).is_some() {
        return None;
    }
    Some(if a.eq_ignore_ascii_case("none") {
        (
            format!("`{a}` is not a signature algorithm"),
            format!("`none` turns signature verification off: anyone could write a token this tenant accepts. Use {allowed}"),
        )
    } else if a.len() > 2 && a.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) {
        (
            format!("`{a}` is an HMAC algorithm"),
            format!("HMAC tokens are checked with a shared secret; with the public keys configured here, anyone holding a public key could forge tokens. Use {allowed}"),
        )
    } else {
        let close = JWT_ALGORITHMS
            .iter()
            .find(|x| x.eq_ignore_ascii_case(a))
            .copied()
            .or_else(|| did_you_mean(a, JWT_ALGORITHMS.iter().copied()));
        (
            format!("`{a}` is not a supported algorithm"),
            match close {
                Some(s) => format!("did you mean `{s}`? supported: {allowed}"),
                None => format!("supported: {allowed}"),
            },
        )
    })
}

/// The accepted algorithms, sorted; default RS256.
fn check_algorithms(cx: &mut Cx<'_>, algs: Option<&(Span, Vec<Sp<String>>)>) -> Vec<JwtAlg> {
    let Some((span, list)) = algs else {
        return vec![JwtAlg::Rs256];
    };
    if list.is_empty() {
        cx.err(
            Diagnostic::error("tenant::auth::algorithm", "`algorithms` is empty", *span, "no algorithm").with_help(format!(
                "list at least one of {}, or leave it out for RS256",
                JWT_ALGORITHMS.join(", ")
            )),
        );
        return vec![];
    }
    let mut seen: HashMap<JwtAlg, Span> = HashMap::new();
    let mut out = Vec::new();
    for a in list {
        if let Some((msg, help)) = refuse_algorithm(&a.value) {
            cx.err(Diagnostic::error("tenant::auth::algorithm", msg, a.span, "not allowed").with_help(help));
            continue;
        }
        let alg = JwtAlg::from_name(&a.value).expect("allowed");
        if let Some(first) = seen.get(&alg) {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::algorithm",
                    format!("`{}` is listed twice in `algorithms`", a.value),
                    a.span,
                    "listed again",
                )
                .with_label(*first, "first listed here")
                .with_help("remove one of them"),
            );
            continue;
        }
        seen.insert(alg, a.span);
        out.push(alg);
    }
    out.sort();
    out
}

// ------------------------------------------------------------------ inline keys

#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Jwt,
    Access,
}

fn check_keys(cx: &mut Cx<'_>, keys: &RawKeys, allowed: &[JwtAlg], owner: Owner) -> Option<Vec<res::Jwk>> {
    let before = cx.diags.error_count();
    if keys.written == 0 {
        cx.err(
            Diagnostic::error(
                "tenant::auth::key-source",
                "`keys` is empty: no token could be verified",
                keys.span,
                "no keys",
            )
            .with_help("list at least one public key, or leave `keys` out"),
        );
        return None;
    }
    let mut kids: HashMap<&str, Span> = HashMap::new();
    let mut out = Vec::new();
    for k in &keys.keys {
        if let Some(kid) = &k.kid {
            if let Some(first) = kids.get(kid.value.as_str()) {
                cx.err(
                    Diagnostic::error(
                        "tenant::auth::duplicate-kid",
                        format!("key id `{}` is used twice", kid.value),
                        kid.span,
                        "second key with this id",
                    )
                    .with_label(*first, "first key with this id")
                    .with_help("give every key its own `kid`: a token names the key that verifies it by its `kid`"),
                );
            } else {
                kids.insert(&kid.value, kid.span);
            }
        }
        if let Some(j) = check_jwk(cx, k, allowed, owner) {
            out.push(j);
        }
    }
    if cx.diags.error_count() > before || out.len() != keys.written {
        return None;
    }
    out.sort_by(|a, b| a.kid.cmp(&b.kid));
    Some(out)
}

/// The algorithm a key type (and curve) signs with.
fn fits(kty: &str) -> JwtAlg {
    match kty {
        "EC" => JwtAlg::Es256,
        "OKP" => JwtAlg::EdDsa,
        _ => JwtAlg::Rs256,
    }
}

fn check_jwk(cx: &mut Cx<'_>, k: &RawJwk, allowed: &[JwtAlg], owner: Owner) -> Option<res::Jwk> {
    let before = cx.diags.error_count();
    let kid = k.kid.as_ref().map(|s| s.value.as_str()).unwrap_or("?");
    check_jwk_identity(cx, k, kid);
    let kty = k.kty.as_ref()?;
    let (needs, kind) = key_shape(cx, kty, kid)?;
    let key = KeyCx { k, kid, kty, needs, kind };
    check_jwk_members(cx, &key);
    check_jwk_values(cx, &key);
    check_jwk_algorithm(cx, &key, allowed, owner);
    if cx.diags.error_count() > before {
        return None;
    }
    let s = |v: &Option<Sp<String>>| v.as_ref().map(|x| x.value.clone());
    Some(res::Jwk {
        kid: k.kid.as_ref()?.value.clone(),
        kty: kty.value.clone(),
        alg: s(&k.alg),
        crv: s(&k.crv),
        n: s(&k.n),
        e: s(&k.e),
        x: s(&k.x),
        y: s(&k.y),
    })
}

/// One JWK as its checks see it: the key, its id, its type, the members
/// its type needs and the type's name for messages.
struct KeyCx<'a> {
    k: &'a RawJwk,
    kid: &'a str,
    kty: &'a Sp<String>,
    needs: &'static [&'static str],
    kind: &'static str,
}

/// Private key material (`tenant::auth::private-key`) and an empty `kid`.
fn check_jwk_identity(cx: &mut Cx<'_>, k: &RawJwk, kid: &str) {
    if let Some((first, rest)) = k.private.split_first() {
        let names: Vec<String> = k.private.iter().map(|m| format!("`{}`", m.value)).collect();
        let mut d = Diagnostic::error(
            "tenant::auth::private-key",
            format!("key `{kid}` holds private key material ({})", names.join(", ")),
            first.span,
            "private key member",
        );
        for m in rest {
            d = d.with_label(m.span, "private key member");
        }
        cx.err(d.with_help("this is a private key: remove it, rotate the key pair, and publish only the public JWK"));
    }
    if let Some(id) = &k.kid {
        if !pasted_secret(cx, id, "kid") && id.value.trim().is_empty() {
            cx.err(
                Diagnostic::error("tenant::auth::key", "a key's `kid` is empty", id.span, "empty")
                    .with_help("give the key an id, e.g. \"k1\": tokens name their key in the `kid` header"),
            );
        }
    }
}

/// The members a key type needs and its name; `None` (reported) for a
/// symmetric or unknown key type.
fn key_shape(cx: &mut Cx<'_>, kty: &Sp<String>, kid: &str) -> Option<(&'static [&'static str], &'static str)> {
    let shape: (&'static [&'static str], &'static str) = match kty.value.as_str() {
        "RSA" => (&["n", "e"], "an RSA key"),
        "EC" => (&["crv", "x", "y"], "an EC key"),
        "OKP" => (&["crv", "x"], "an OKP key"),
        "oct" => {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key",
                    format!("key `{kid}` is a symmetric (`oct`) key"),
                    kty.span,
                    "a shared secret",
                )
                .with_help("a symmetric key is a shared secret: anyone who can read this file could mint tokens. Use an asymmetric key pair (RSA, EC P-256 or Ed25519) and write only its public half here; if this key was real, rotate it"),
            );
            return None;
        }
        other => {
            let mut d = Diagnostic::error(
                "tenant::auth::key",
                format!("unsupported key type `{other}`"),
                kty.span,
                "not RSA, EC or OKP",
            );
            d = match KEY_TYPES.iter().find(|t| t.eq_ignore_ascii_case(other)) {
                Some(t) => d.with_help(format!(
                    "did you mean `{t}`? key types: RSA (RS256), EC (P-256, ES256), OKP (Ed25519, EdDSA)"
                )),
                None => d.with_help("key types: RSA (RS256), EC (P-256, ES256), OKP (Ed25519, EdDSA)"),
            };
            cx.err(d);
            return None;
        }
    };
    Some(shape)
}

/// Members present that the key type does not have, missing ones it needs,
/// and the curve.
fn check_jwk_members(cx: &mut Cx<'_>, key: &KeyCx<'_>) {
    let KeyCx { k, kid, kty, needs, kind } = *key;
    let members: [(&str, &Option<Sp<String>>); 5] = [("crv", &k.crv), ("n", &k.n), ("e", &k.e), ("x", &k.x), ("y", &k.y)];
    for (name, value) in members {
        match value {
            Some(v) if !needs.contains(&name) => cx.err(
                Diagnostic::error(
                    "tenant::auth::key",
                    format!("`{name}` does not belong to {kind}"),
                    v.span,
                    "not a member of this key type",
                )
                .with_help(format!(
                    "remove it: {kind} has {}",
                    needs.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                )),
            ),
            None if needs.contains(&name) => cx.err(
                Diagnostic::error(
                    "tenant::auth::key",
                    format!("key `{kid}` ({}) is missing `{name}`", kty.value),
                    k.head,
                    format!("`{name}` required"),
                )
                .with_help(format!(
                    "{kind} needs {}",
                    needs.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                )),
            ),
            _ => {}
        }
    }
    if let Some(crv) = &k.crv {
        let want = if kty.value == "EC" { "P-256" } else { "Ed25519" };
        if needs.contains(&"crv") && crv.value != want {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key",
                    format!("curve `{}` is not supported for {kind}", crv.value),
                    crv.span,
                    format!("expected `{want}`"),
                )
                .with_help(if kty.value == "EC" {
                    "EC keys use P-256 (ES256); other curves are not accepted"
                } else {
                    "OKP keys use Ed25519 (EdDSA); other curves are not accepted"
                }),
            );
        }
    }
}

/// Values: unpadded base64url, of the right size (RSA modulus bits, curve
/// point lengths); then `use`.
fn check_jwk_values(cx: &mut Cx<'_>, key: &KeyCx<'_>) {
    let KeyCx { k, kid, kty, needs, .. } = *key;
    // Values: unpadded base64url, of the right size.
    let decoded = |cx: &mut Cx<'_>, name: &str, v: &Option<Sp<String>>| -> Option<Vec<u8>> {
        let v = v.as_ref()?;
        if !needs.contains(&name) {
            return None;
        }
        match decode_base64url(&v.value) {
            Some(b) if !b.is_empty() => Some(b),
            _ => {
                cx.err(
                    Diagnostic::error(
                        "tenant::auth::key",
                        format!("`{name}` of key `{kid}` is not unpadded base64url"),
                        v.span,
                        "not base64url",
                    )
                    .with_help("write the value as JSON Web Keys do: the URL-safe alphabet (A–Z a–z 0–9 - _), no `=` padding, no spaces"),
                );
                None
            }
        }
    };
    let n = decoded(cx, "n", &k.n);
    let _e = decoded(cx, "e", &k.e);
    let x = decoded(cx, "x", &k.x);
    let y = decoded(cx, "y", &k.y);
    if let (Some(n), Some(span)) = (&n, k.n.as_ref().map(|v| v.span)) {
        let bits = bit_length(n);
        if bits < 2048 {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key",
                    format!("the RSA modulus of key `{kid}` has {bits} bits, fewer than 2048"),
                    span,
                    format!("{bits} bits"),
                )
                .with_help("RSA keys below 2048 bits are too weak to trust: generate a 2048-bit (or larger) key pair"),
            );
        }
    }
    let point = |cx: &mut Cx<'_>, name: &str, b: &Option<Vec<u8>>, v: &Option<Sp<String>>| {
        if let (Some(b), Some(v)) = (b, v) {
            if b.len() != 32 {
                let what = if kty.value == "EC" {
                    "a P-256 coordinate"
                } else {
                    "an Ed25519 public key"
                };
                cx.err(
                    Diagnostic::error(
                        "tenant::auth::key",
                        format!("`{name}` of key `{kid}` is {} bytes; {what} is 32", b.len()),
                        v.span,
                        format!("{} bytes", b.len()),
                    )
                    .with_help("copy the key's public JWK as published, without changes"),
                );
            }
        }
    };
    if kty.value != "RSA" {
        point(cx, "x", &x, &k.x);
        point(cx, "y", &y, &k.y);
    }
    if let Some(u) = &k.use_ {
        if u.value != "sig" {
            cx.err(
                Diagnostic::error(
                    "tenant::auth::key",
                    format!("key `{kid}` has `use` `{}`, not `sig`", u.value),
                    u.span,
                    "not a signature key",
                )
                .with_help("a key that verifies tokens has `use` \"sig\" (or no `use`): publish the signing key, not an encryption key"),
            );
        }
    }
}

/// `alg`: allowed at all, fits the key type, accepted by the block.
fn check_jwk_algorithm(cx: &mut Cx<'_>, key: &KeyCx<'_>, allowed: &[JwtAlg], owner: Owner) {
    let KeyCx { k, kid, kty, kind, .. } = *key;
    let natural = fits(&kty.value);
    let refuse = |cx: &mut Cx<'_>, alg: JwtAlg, span: Span| {
        let help = match owner {
            Owner::Jwt => format!("add \"{}\" to `algorithms`, or remove the key", alg.name()),
            Owner::Access => "Cloudflare Access signs with RS256: use the team's RSA keys".to_string(),
        };
        let accepted: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
        cx.err(
            Diagnostic::error(
                "tenant::auth::key",
                format!(
                    "key `{kid}` signs with {}, which this block does not accept ({})",
                    alg.name(),
                    if accepted.is_empty() {
                        "none".to_string()
                    } else {
                        accepted.join(", ")
                    }
                ),
                span,
                format!("{} key", alg.name()),
            )
            .with_help(help),
        );
    };
    match &k.alg {
        Some(a) => match refuse_algorithm(&a.value) {
            Some((msg, help)) => cx.err(Diagnostic::error("tenant::auth::algorithm", msg, a.span, "not allowed").with_help(help)),
            None => {
                let alg = JwtAlg::from_name(&a.value).expect("allowed");
                if alg != natural {
                    cx.err(
                        Diagnostic::error(
                            "tenant::auth::key",
                            format!("`alg` `{}` does not fit {kind}", a.value),
                            a.span,
                            "wrong algorithm for the key type",
                        )
                        .with_help(format!("{kind} signs with {}", natural.name())),
                    );
                } else if !allowed.contains(&alg) {
                    refuse(cx, alg, a.span);
                }
            }
        },
        None if !allowed.is_empty() && !allowed.contains(&natural) => refuse(cx, natural, kty.span),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::refuse_algorithm;

    /// Found by the fuzz tests: an algorithm name with a multi-byte
    /// character at byte 1 was sliced inside it.
    #[test]
    fn an_algorithm_name_with_a_multibyte_character_is_refused_not_a_panic() {
        assert!(refuse_algorithm("Hé256").is_some());
        assert!(refuse_algorithm("é").is_some());
        assert!(refuse_algorithm("HS256").unwrap().0.contains("HMAC"));
        assert!(refuse_algorithm("RS256").is_none());
    }
}
