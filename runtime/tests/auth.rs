//! Authentication natively: JWTs (RS256, ES256, EdDSA) with inline keys
//! and a JWKS URL, Cloudflare Access assertions, API keys, development
//! users — every refusal the issue lists, each asserting the 401 envelope
//! shape, the `www-authenticate` header, and that the reason reaches the
//! log (through `Failure::log_detail`) but not the client.

#![allow(clippy::result_large_err)]

mod support;

use serde_json::{json, Value};
use support::{block_on, keys, other_rsa, rsa_jwk, sign_raw_rsa, Harness};
use tenants_runtime::app::envelope::{ErrorCode, Failure};
use tenants_runtime::auth::{self, api_keys, AuthMethod, Principal};
use tenants_runtime::http::TestRequest;
use tenants_runtime::tenancy::resolve::{resolve, Deployment, TenantCtx};
use tenants_runtime::tenants::{AccessConfig, ApiKeysConfig, AuthConfig, EnvName, Jwk, JwtAlg, JwtConfig, KeySource, TenantId};

const ISS: &str = "https://login.test.example/";
const AUD: &str = "acme-ai";
const NOW: f64 = 1_764_950_400_000.0;

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn s(v: &Value, k: &str) -> Option<&'static str> {
    v.get(k)
        .and_then(Value::as_str)
        .map(|x| &*Box::leak(x.to_string().into_boxed_str()))
}

fn static_jwk(v: &Value) -> Jwk {
    Jwk {
        kid: s(v, "kid").unwrap(),
        kty: s(v, "kty").unwrap(),
        alg: s(v, "alg"),
        crv: s(v, "crv"),
        n: s(v, "n"),
        e: s(v, "e"),
        x: s(v, "x"),
        y: s(v, "y"),
    }
}

fn inline_keys() -> KeySource {
    let k = keys();
    let jwks: Vec<Jwk> = vec![
        static_jwk(&k.rsa_jwk("rs")),
        static_jwk(&k.ec_jwk("ec")),
        static_jwk(&k.ed_jwk("ed")),
    ];
    KeySource::Inline(Box::leak(jwks.into_boxed_slice()))
}

fn jwt_cfg(keys: KeySource) -> &'static AuthConfig {
    leak(AuthConfig {
        jwt: Some(JwtConfig {
            issuer: ISS,
            audience: AUD,
            keys,
            algorithms: &[JwtAlg::Rs256, JwtAlg::Es256, JwtAlg::EdDsa],
            user_claim: "sub",
            roles_claim: "roles",
            clock_skew_secs: 60,
        }),
        access: None,
        api_keys: Some(ApiKeysConfig { kv_binding: "CACHE" }),
        none: false,
    })
}

fn ctx(t: TenantId, e: EnvName) -> TenantCtx {
    let host = t.config().envs[e as usize].hosts[0].trim_start_matches("*.");
    resolve(&Deployment::complete(t, e), Some(host), None).unwrap()
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISS, "aud": AUD, "sub": "user-1", "roles": ["reader"], "exp": NOW / 1000.0 + 600.0, "iat": NOW / 1000.0});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn run(h: &Harness, cfg: &AuthConfig, c: &TenantCtx, req: TestRequest) -> Result<Principal, Failure> {
    let ports = h.ports();
    block_on(auth::authenticate(&req, c, cfg, &ports, &h.auth))
}

fn bearer(token: &str) -> TestRequest {
    TestRequest::get("/v1/me").with("authorization", &format!("Bearer {token}"))
}

fn harness() -> Harness {
    Harness::new(&[NOW])
}

/// A refusal: 401 with a challenge, a reason for the log, and a message
/// that names no check.
fn refused(r: Result<Principal, Failure>, reason_has: &str) {
    let f = r.expect_err("refused");
    assert_eq!(f.code, ErrorCode::Unauthenticated, "{f:?}");
    assert!(
        f.headers
            .iter()
            .any(|(n, v)| *n == "www-authenticate" && v.starts_with("Bearer realm=\"acme\"")),
        "{f:?}"
    );
    let why = f.log_detail.clone().unwrap_or_default();
    assert!(why.contains(reason_has), "log detail `{why}` lacks `{reason_has}`");
    assert!(
        f.message == "the credentials were not accepted" || f.message == "authentication required",
        "{}",
        f.message
    );
}

#[test]
fn valid_tokens_of_each_algorithm_give_a_principal() {
    let h = harness();
    let c = ctx(TenantId::Acme, EnvName::Stage);
    let cfg = jwt_cfg(inline_keys());
    for (alg, kid) in [("RS256", "rs"), ("ES256", "ec"), ("EdDSA", "ed")] {
        let t = keys().sign(alg, kid, &claims(json!({})));
        let p = run(&h, cfg, &c, bearer(&t)).unwrap_or_else(|f| panic!("{alg}: {f:?}"));
        assert_eq!(p.user(), "user-1");
        assert_eq!(p.roles(), ["reader"]);
        assert_eq!(p.method(), AuthMethod::Jwt);
    }
}

#[test]
fn every_bad_token_is_refused_with_its_reason_in_the_log_only() {
    let h = harness();
    let c = ctx(TenantId::Acme, EnvName::Stage);
    let cfg = jwt_cfg(inline_keys());
    let k = keys();
    let now = NOW / 1000.0;
    let t = |extra: Value| k.sign("RS256", "rs", &claims(extra));
    refused(run(&h, cfg, &c, bearer(&t(json!({"exp": now - 61.0})))), "expired");
    refused(run(&h, cfg, &c, bearer(&t(json!({"nbf": now + 61.0})))), "not yet valid");
    refused(
        run(&h, cfg, &c, bearer(&t(json!({"iss": "https://evil.example/"})))),
        "wrong issuer",
    );
    refused(run(&h, cfg, &c, bearer(&t(json!({"aud": "globex-ai"})))), "wrong audience");
    // alg none: no signature at all.
    let none = format!(
        "{}.{}.",
        support::b64(br#"{"alg":"none","kid":"rs"}"#),
        support::b64(claims(json!({})).to_string().as_bytes())
    );
    refused(run(&h, cfg, &c, bearer(&none)), "algorithm `none`");
    // HS256 "signed" with the RSA public key as the HMAC secret.
    let hs = {
        use sha2::Sha256;
        let input = format!(
            "{}.{}",
            support::b64(br#"{"alg":"HS256","kid":"rs"}"#),
            support::b64(claims(json!({})).to_string().as_bytes())
        );
        let secret = k.rsa_jwk("rs").to_string();
        let mac = hmac_sha256::<Sha256>(secret.as_bytes(), input.as_bytes());
        format!("{input}.{}", support::b64(&mac))
    };
    refused(run(&h, cfg, &c, bearer(&hs)), "algorithm `HS256`");
    // Tampered payload: roles raised after signing.
    let good = t(json!({}));
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = support::b64(claims(json!({"roles": ["admin"]})).to_string().as_bytes());
    refused(run(&h, cfg, &c, bearer(&parts.join("."))), "bad signature");
    // Unknown kid.
    refused(
        run(&h, cfg, &c, bearer(&k.sign("RS256", "nope", &claims(json!({}))))),
        "unknown kid",
    );
    // A key of the wrong type for the algorithm (ES256 header, RSA kid).
    let mixed = {
        let t = k.sign("ES256", "ec", &claims(json!({})));
        let mut p: Vec<String> = t.split('.').map(str::to_string).collect();
        p[0] = support::b64(br#"{"alg":"ES256","kid":"rs"}"#);
        p.join(".")
    };
    refused(run(&h, cfg, &c, bearer(&mixed)), "does not fit");
    // No exp, no user.
    let mut c2 = claims(json!({}));
    c2.as_object_mut().unwrap().remove("exp");
    refused(run(&h, cfg, &c, bearer(&k.sign("RS256", "rs", &c2))), "no exp");
    let mut c3 = claims(json!({}));
    c3.as_object_mut().unwrap().remove("sub");
    refused(run(&h, cfg, &c, bearer(&k.sign("RS256", "rs", &c3))), "no user claim");
    // Garbage, and an 8 KiB+ header.
    refused(run(&h, cfg, &c, bearer("garbage")), "malformed");
    refused(run(&h, cfg, &c, bearer(&"A".repeat(9 * 1024))), "bytes");
    refused(
        run(&h, cfg, &c, TestRequest::get("/").with("authorization", "Basic dXNlcjpwdw==")),
        "not `Bearer",
    );
    // Nothing at all: "authentication required", without error=.
    let f = run(&h, cfg, &c, TestRequest::get("/")).unwrap_err();
    assert_eq!(f.message, "authentication required");
    assert_eq!(f.headers[0].1, "Bearer realm=\"acme\"");
}

/// HMAC-SHA256 (RFC 2104), to forge an HS256 token in the test.
fn hmac_sha256<D: sha2::Digest>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > 64 { D::digest(key).to_vec() } else { key.to_vec() };
    k.resize(64, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = D::digest([ipad.as_slice(), data].concat());
    D::digest([opad.as_slice(), inner.as_slice()].concat()).to_vec()
}

#[test]
fn another_tenants_token_is_refused() {
    // globex's identity provider (another key) issues a token for globex;
    // presented to acme it fails on the key, and with acme's key but
    // globex's audience it fails on the audience.
    let h = harness();
    let c = ctx(TenantId::Acme, EnvName::Stage);
    let cfg = jwt_cfg(inline_keys());
    let header = json!({"alg": "RS256", "kid": "rs"});
    let theirs = sign_raw_rsa(other_rsa(), &header, &claims(json!({"aud": "globex-ai"})));
    refused(run(&h, cfg, &c, bearer(&theirs)), "bad signature");
    let ours_for_them = keys().sign("RS256", "rs", &claims(json!({"aud": "globex-ai"})));
    refused(run(&h, cfg, &c, bearer(&ours_for_them)), "wrong audience");
}

#[test]
fn jwks_url_is_fetched_once_and_refetched_for_a_new_kid() {
    let h = Harness::with_clock(std::rc::Rc::new(tenants_runtime::ports::memory::ManualClock(std::cell::Cell::new(
        NOW,
    ))));
    let url = "https://login.test.example/.well-known/jwks.json";
    h.http.serve(url, 200, &json!({"keys": [keys().rsa_jwk("rs")]}).to_string());
    let c = ctx(TenantId::Acme, EnvName::Stage);
    let cfg = jwt_cfg(KeySource::Url(url));
    let t = keys().sign("RS256", "rs", &claims(json!({})));
    for _ in 0..5 {
        assert!(run(&h, cfg, &c, bearer(&t)).is_ok());
    }
    assert_eq!(h.http.requests.borrow().len(), 1, "cached per isolate");
    // Unreachable provider and nothing cached: 503, not 401.
    let h2 = harness();
    let f = run(&h2, cfg, &c, bearer(&t)).unwrap_err();
    assert_eq!(f.code, ErrorCode::AuthUnavailable);
}

#[test]
fn access_assertions_are_checked_against_the_team_and_audience() {
    let h = harness();
    let c = ctx(TenantId::Acme, EnvName::Stage);
    let aud = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
    let cfg = leak(AuthConfig {
        jwt: None,
        access: Some(AccessConfig {
            team_domain: "acme.cloudflareaccess.com",
            issuer: "https://acme.cloudflareaccess.com",
            audience: aud,
            keys: KeySource::Inline(Box::leak(vec![static_jwk(&keys().rsa_jwk("acc"))].into_boxed_slice())),
        }),
        api_keys: None,
        none: false,
    });
    let now = NOW / 1000.0;
    let good =
        json!({"iss": "https://acme.cloudflareaccess.com", "aud": [aud], "email": "ann@acme.example.com", "exp": now + 60.0, "sub": "x"});
    let t = keys().sign("RS256", "acc", &good);
    let p = run(&h, cfg, &c, TestRequest::get("/").with("cf-access-jwt-assertion", &t)).unwrap();
    assert_eq!((p.user(), p.method()), ("ann@acme.example.com", AuthMethod::Access));
    let mut other_team = good.clone();
    other_team["iss"] = json!("https://globex.cloudflareaccess.com");
    let t = keys().sign("RS256", "acc", &other_team);
    let f = run(&h, cfg, &c, TestRequest::get("/").with("cf-access-jwt-assertion", &t)).unwrap_err();
    assert_eq!(f.code, ErrorCode::Unauthenticated);
    assert!(f.log_detail.unwrap().contains("wrong issuer"));
    // An Access assertion where the tenant does not use Access is ignored:
    // the request is simply unauthenticated.
    let f = run(
        &h,
        jwt_cfg(inline_keys()),
        &c,
        TestRequest::get("/").with("cf-access-jwt-assertion", "x.y.z"),
    )
    .unwrap_err();
    assert_eq!(f.message, "authentication required");
}

fn store_key(h: &Harness, c: &TenantCtx, key: &str, tenant: &str, env: &str, roles: &[&str]) {
    let hash = api_keys::sha256_hex(key);
    let rec = api_keys::KeyRecord {
        id: hash[..16].to_string(),
        name: "ci".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        tenant: tenant.into(),
        env: env.into(),
        created_at: "2026-12-05T00:00:00Z".into(),
    };
    let json = serde_json::to_string(&rec).unwrap();
    let ports = h.ports();
    block_on(ports.kv("CACHE").unwrap().put(&api_keys::storage_key(c, &hash), &json, Some(&json))).unwrap();
}

#[test]
fn api_keys_work_until_revoked_and_never_across_tenants_or_environments() {
    let h = harness();
    let acme = ctx(TenantId::Acme, EnvName::Stage);
    let cfg = jwt_cfg(inline_keys());
    let key = api_keys::generate("acme", &[7; 32]);
    store_key(&h, &acme, &key, "acme", "stage", &["admin"]);
    for req in [bearer(&key), TestRequest::get("/").with("x-api-key", &key)] {
        let p = run(&h, cfg, &acme, req).unwrap();
        assert_eq!((p.user(), p.method()), ("key:ci", AuthMethod::ApiKey));
        assert!(p.has_role("admin"));
    }
    // globex's key at acme: refused before any lookup.
    let theirs = api_keys::generate("globex", &[7; 32]);
    refused(run(&h, cfg, &acme, bearer(&theirs)), "another tenant");
    // A key whose record was written for another environment.
    let dev_key = api_keys::generate("acme", &[8; 32]);
    store_key(&h, &acme, &dev_key, "acme", "dev", &[]);
    refused(run(&h, cfg, &acme, bearer(&dev_key)), "another tenant or environment");
    // Revoked: the entry is gone.
    h.kv.map.borrow_mut().clear();
    refused(run(&h, cfg, &acme, bearer(&key)), "unknown or revoked");
    // Malformed.
    refused(run(&h, cfg, &acme, bearer("tak_acme_xyz")), "malformed");
}

#[test]
fn development_none_names_the_user_by_header_and_never_outside_development() {
    let h = harness();
    let cfg = leak(AuthConfig {
        jwt: None,
        access: None,
        api_keys: None,
        none: true,
    });
    let dev = ctx(TenantId::Acme, EnvName::Dev);
    let p = run(
        &h,
        cfg,
        &dev,
        TestRequest::get("/").with("x-user-id", "ann").with("x-user-roles", "admin, reader"),
    )
    .unwrap();
    assert_eq!(
        (p.user(), p.roles(), p.method()),
        ("ann", &["admin".to_string(), "reader".to_string()][..], AuthMethod::Development)
    );
    assert_eq!(run(&h, cfg, &dev, TestRequest::get("/")).unwrap().user(), "anonymous");
    // A presented credential is verified, never downgraded to anonymous.
    assert!(run(&h, cfg, &dev, bearer("garbage")).is_err());
    // The same config in stage (which the compiler never emits) still refuses.
    let stage = ctx(TenantId::Acme, EnvName::Stage);
    let f = run(&h, cfg, &stage, TestRequest::get("/").with("x-user-id", "ann")).unwrap_err();
    assert_eq!(f.code, ErrorCode::Unauthenticated);
}

#[test]
fn roles_are_checked() {
    let p = {
        let h = harness();
        let cfg = leak(AuthConfig {
            jwt: None,
            access: None,
            api_keys: None,
            none: true,
        });
        run(
            &h,
            cfg,
            &ctx(TenantId::Acme, EnvName::Dev),
            TestRequest::get("/").with("x-user-roles", "reader"),
        )
        .unwrap()
    };
    assert!(auth::require_roles(&p, &[]).is_ok());
    assert!(auth::require_roles(&p, &["reader", "admin"]).is_ok());
    let f = auth::require_roles(&p, &["admin"]).unwrap_err();
    assert_eq!(f.code, ErrorCode::Forbidden);
    assert!(f.message.contains("`admin`"));
    let _ = rsa_jwk;
}

#[test]
fn the_cli_and_the_worker_agree_on_key_format_storage_key_and_record() {
    use tenants_compiler::ops::api_keys as cli;
    let c = ctx(TenantId::Acme, EnvName::Stage);
    let key = api_keys::generate("acme", &[42; 32]);
    assert_eq!(key, cli::generate("acme", &[42; 32]));
    let hash = api_keys::sha256_hex(&key);
    assert_eq!(hash, cli::sha256_hex(&key));
    assert_eq!(api_keys::storage_key(&c, &hash).as_str(), cli::storage_key("acme", "stage", &hash));
    assert_eq!(
        api_keys::list_prefix(&c, Some("ab")).as_str(),
        cli::list_prefix("acme", "stage", Some("ab"))
    );
    assert_eq!(api_keys::rfc3339(1_764_950_400_000.0), cli::rfc3339(1_764_950_400));
    // A record the CLI writes is one the Worker reads.
    let (k, skey, rec) = cli::issue("acme", "stage", "ci", &["admin".into()], 0).unwrap();
    let json = serde_json::to_string(&rec).unwrap();
    let back: api_keys::KeyRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(skey, api_keys::storage_key(&c, &api_keys::parse(&k).unwrap().hash_hex).as_str());
}
