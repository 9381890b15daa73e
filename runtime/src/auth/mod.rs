//! Authentication and authorisation: who is calling, and may they.
//!
//! The tenant file's `auth` (per environment) says which methods a tenant
//! accepts: a JWT from its identity provider, a Cloudflare Access
//! assertion, an API key, or — in development environments only — none.
//! [`authenticate`] turns a request into a [`Principal`]; [`require_roles`]
//! checks a route's roles.
//!
//! Which credential is used (docs/auth.md):
//! 1. `authorization: Bearer <token>` — a token starting `tak_` is an API
//!    key, anything else a JWT;
//! 2. `x-api-key: <key>`;
//! 3. `cf-access-jwt-assertion` (when the tenant uses Access);
//! 4. nothing presented and `none` allowed: the development user named by
//!    `x-user-id` (roles from `x-user-roles`).
//!
//! A credential that is presented is verified even where `none` is
//! allowed: a bad token is never downgraded to anonymous.
//!
//! Invariants:
//! - [`Principal`] has private fields and is built only here, so a
//!   handler that takes one ran after authentication;
//! - a refusal is 401 `unauthenticated` with `www-authenticate`, and its
//!   envelope says only "not accepted"; the reason (expired, wrong
//!   audience, unknown kid, another tenant's key …) goes to the log line
//!   through [`Failure::log_detail`], never a token or key;
//! - a token or key of another tenant is refused: JWTs are checked
//!   against this tenant's issuer, audience and keys; API keys carry their
//!   tenant and are looked up under this tenant's own storage key.

pub mod api_keys;
pub mod jwks;
pub mod jwt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::app::envelope::{ErrorCode, Failure};
use crate::http::{Header, Incoming};
use crate::ports::{Ports, SigAlg};
use crate::tenancy::resolve::TenantCtx;
use crate::tenants::{AuthConfig, JwtAlg, KeySource};
use jwks::{KeyCache, KeySet};
use jwt::{Claims, Expect, Refused};

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    Jwt,
    Access,
    ApiKey,
    /// `none` in a development environment.
    Development,
}

impl AuthMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::Access => "access",
            AuthMethod::ApiKey => "api-key",
            AuthMethod::Development => "development",
        }
    }
}

/// The authenticated caller. Only [`authenticate`] builds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    user: String,
    roles: Vec<String>,
    method: AuthMethod,
}

impl Principal {
    pub fn user(&self) -> &str {
        &self.user
    }
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    pub fn method(&self) -> AuthMethod {
        self.method
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
pub(crate) fn b64url_encode(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// The `www-authenticate` challenge for a tenant's config.
fn challenge(ctx: &TenantCtx, cfg: &AuthConfig, presented: bool) -> String {
    let realm = ctx.tenant().as_str();
    let mut schemes = Vec::new();
    if cfg.jwt.is_some() || cfg.api_keys.is_some() {
        schemes.push(if presented {
            format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
        } else {
            format!("Bearer realm=\"{realm}\"")
        });
    }
    if cfg.access.is_some() {
        schemes.push(format!("CloudflareAccess realm=\"{realm}\""));
    }
    if schemes.is_empty() {
        schemes.push(format!("Bearer realm=\"{realm}\""));
    }
    schemes.join(", ")
}

fn refuse(ctx: &TenantCtx, cfg: &AuthConfig, presented: bool, reason: impl Into<String>) -> Failure {
    let message = if presented {
        "the credentials were not accepted"
    } else {
        "authentication required"
    };
    Failure::new(ErrorCode::Unauthenticated, message)
        .with_header("www-authenticate", challenge(ctx, cfg, presented))
        .with_log_detail(reason)
}

fn algs(list: &[JwtAlg]) -> Vec<SigAlg> {
    list.iter()
        .map(|a| match a {
            JwtAlg::Rs256 => SigAlg::Rs256,
            JwtAlg::Es256 => SigAlg::Es256,
            JwtAlg::EdDsa => SigAlg::EdDsa,
        })
        .collect()
}

/// The per-isolate state authentication keeps: fetched key sets, and the
/// inline key sets of the tenant file parsed once (not per request).
#[derive(Default)]
pub struct AuthState {
    pub keys: KeyCache,
    inline: std::cell::RefCell<Vec<(usize, std::rc::Rc<KeySet>)>>,
}

impl AuthState {
    /// The parsed key set of a static inline list, by its address.
    fn inline(&self, keys: &'static [crate::tenants::Jwk]) -> std::rc::Rc<KeySet> {
        let id = keys.as_ptr() as usize;
        if let Some((_, set)) = self.inline.borrow().iter().find(|(k, _)| *k == id) {
            return set.clone();
        }
        let set = std::rc::Rc::new(KeySet::from_static(keys));
        self.inline.borrow_mut().push((id, set.clone()));
        set
    }
}

struct JwtCheck<'a> {
    keys: KeySource,
    expect: Expect<'a>,
}

async fn verify_jwt(token: &str, check: &JwtCheck<'_>, ports: &Ports, state: &AuthState) -> Result<Claims, Refused> {
    let parsed = jwt::parse(token, check.expect.algorithms)?;
    let set = match check.keys {
        KeySource::Inline(keys) => state.inline(keys),
        KeySource::Url(url) => state
            .keys
            .get(&*ports.http, url, check.expect.now_ms, parsed.kid.as_deref())
            .await
            .map_err(Refused::KeysUnavailable)?,
    };
    let key = jwt::pick_key(&set, parsed.kid.as_deref(), parsed.alg)?;
    jwt::verify_signature(&*ports.crypto, &parsed, key).await?;
    jwt::check_claims(&parsed.claims, &check.expect)?;
    Ok(Claims(parsed.claims))
}

fn jwt_failure(ctx: &TenantCtx, cfg: &AuthConfig, what: &str, r: Refused) -> Failure {
    match r {
        Refused::KeysUnavailable(e) => Failure::new(
            ErrorCode::AuthUnavailable,
            "the identity provider's keys cannot be fetched; try again shortly",
        )
        .with_header("retry-after", "5")
        .with_log_detail(format!("{what}: keys unavailable: {e}")),
        r => refuse(ctx, cfg, true, format!("{what}: {}", r.reason())),
    }
}

/// A development user id: 1–128 of `[A-Za-z0-9._@:-]`.
fn dev_user(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_@:".contains(&b))
}

/// Authenticate a request for `ctx`'s tenant under `cfg` (the tenant's
/// `auth` in the context's environment: `ctx.env_config().auth`).
pub async fn authenticate<R: Incoming>(
    req: &R,
    ctx: &TenantCtx,
    cfg: &AuthConfig,
    ports: &Ports,
    state: &AuthState,
) -> Result<Principal, Failure> {
    let now_ms = ports.clock.now_ms();
    let authz = req.header(Header::Authorization);
    let api_key = req.header(Header::ApiKey);
    let access = if cfg.access.is_some() {
        req.header(Header::CfAccessJwtAssertion)
    } else {
        None
    };
    for v in [&authz, &api_key, &access].into_iter().flatten() {
        if v.len() > jwt::MAX_TOKEN_BYTES + 16 {
            return Err(refuse(ctx, cfg, true, format!("credential header of {} bytes", v.len())));
        }
    }

    if let Some(a) = authz {
        let token = match a.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim().to_string(),
            _ => return Err(refuse(ctx, cfg, true, "authorization header is not `Bearer <token>`")),
        };
        if token.starts_with(api_keys::PREFIX) {
            return api_key_principal(&token, ctx, cfg, ports).await;
        }
        let Some(j) = cfg.jwt else {
            return Err(refuse(ctx, cfg, true, "bearer JWT presented, but the tenant accepts no JWT here"));
        };
        let allowed = algs(j.algorithms);
        let check = JwtCheck {
            keys: j.keys,
            expect: Expect {
                issuer: j.issuer,
                audience: j.audience,
                algorithms: &allowed,
                clock_skew_secs: j.clock_skew_secs,
                now_ms,
            },
        };
        let claims = verify_jwt(&token, &check, ports, state)
            .await
            .map_err(|r| jwt_failure(ctx, cfg, "jwt", r))?;
        let user = claims
            .user(j.user_claim)
            .ok_or_else(|| refuse(ctx, cfg, true, format!("jwt: {}", Refused::NoUser.reason())))?;
        return Ok(Principal {
            user,
            roles: claims.roles(j.roles_claim),
            method: AuthMethod::Jwt,
        });
    }
    if let Some(k) = api_key {
        return api_key_principal(k.trim(), ctx, cfg, ports).await;
    }
    if let (Some(token), Some(a)) = (access, cfg.access) {
        let allowed = [SigAlg::Rs256];
        let check = JwtCheck {
            keys: a.keys,
            expect: Expect {
                issuer: a.issuer,
                audience: a.audience,
                algorithms: &allowed,
                clock_skew_secs: 60,
                now_ms,
            },
        };
        let claims = verify_jwt(token.trim(), &check, ports, state)
            .await
            .map_err(|r| jwt_failure(ctx, cfg, "access", r))?;
        // Access identifies people by email, service tokens by common_name.
        let user = claims
            .user("email")
            .or_else(|| claims.user("common_name"))
            .or_else(|| claims.user("sub"))
            .ok_or_else(|| refuse(ctx, cfg, true, "access: no email, common_name or sub"))?;
        return Ok(Principal {
            user,
            roles: claims.roles("groups"),
            method: AuthMethod::Access,
        });
    }
    // `none` is compiled in only for development environments; the
    // environment check is repeated here so that no config can open a
    // stage or prod deployment.
    if cfg.none && ctx.env().is_development() {
        let user = match req.header(Header::UserId) {
            Some(u) if dev_user(u.trim()) => u.trim().to_string(),
            Some(_) => return Err(refuse(ctx, cfg, true, "x-user-id is not 1-128 of [A-Za-z0-9._@:-]")),
            None => "anonymous".to_string(),
        };
        let roles = req
            .header(Header::UserRoles)
            .map(|r| {
                r.split(',')
                    .map(str::trim)
                    .filter(|r| dev_user(r))
                    .take(64)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        return Ok(Principal {
            user,
            roles,
            method: AuthMethod::Development,
        });
    }
    Err(refuse(ctx, cfg, false, "no credentials"))
}

async fn api_key_principal(key: &str, ctx: &TenantCtx, cfg: &AuthConfig, ports: &Ports) -> Result<Principal, Failure> {
    let Some(ak) = cfg.api_keys else {
        return Err(refuse(ctx, cfg, true, "api key presented, but the tenant accepts no API keys here"));
    };
    let Some(p) = api_keys::parse(key) else {
        return Err(refuse(ctx, cfg, true, "api key: malformed"));
    };
    if p.tenant != ctx.tenant().as_str() {
        return Err(refuse(ctx, cfg, true, "api key: issued for another tenant"));
    }
    let Some(kv) = ports.kv(ak.kv_binding) else {
        return Err(Failure::new(
            ErrorCode::BindingUnavailable,
            "API keys cannot be checked: this deployment lacks their KV binding",
        )
        .with_log_detail(format!("binding {} missing", ak.kv_binding)));
    };
    let stored = kv.get(&api_keys::storage_key(ctx, &p.hash_hex)).await.map_err(|e| {
        Failure::new(
            ErrorCode::AuthUnavailable,
            "API keys cannot be checked right now; try again shortly",
        )
        .with_header("retry-after", "5")
        .with_log_detail(format!("api key: KV: {e}"))
    })?;
    let Some(text) = stored else {
        return Err(refuse(ctx, cfg, true, "api key: unknown or revoked"));
    };
    let rec: api_keys::KeyRecord = serde_json::from_str(&text).map_err(|_| refuse(ctx, cfg, true, "api key: unreadable record"))?;
    if rec.tenant != ctx.tenant().as_str() || rec.env != ctx.env().as_str() {
        return Err(refuse(ctx, cfg, true, "api key: record of another tenant or environment"));
    }
    Ok(Principal {
        user: format!("key:{}", rec.name),
        roles: rec.roles,
        method: AuthMethod::ApiKey,
    })
}

/// 403 unless the principal has one of `roles` (empty: anyone).
pub fn require_roles(p: &Principal, roles: &[&str]) -> Result<(), Failure> {
    if roles.is_empty() || roles.iter().any(|r| p.has_role(r)) {
        return Ok(());
    }
    Err(Failure::new(
        ErrorCode::Forbidden,
        format!(
            "this route needs the role {}",
            roles.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" or ")
        ),
    )
    .with_log_detail(format!("user has roles [{}]", p.roles.join(","))))
}

/// A principal for tests of code behind authentication (not compiled
/// into the Worker).
#[cfg(test)]
pub fn principal_for_tests(user: &str, roles: &[&str]) -> Principal {
    Principal {
        user: user.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        method: AuthMethod::Development,
    }
}
