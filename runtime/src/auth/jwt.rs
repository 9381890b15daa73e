//! JSON Web Token verification (RFC 7519 / 7515, compact form), for the
//! tenant's identity provider and for Cloudflare Access assertions.
//!
//! Order of checks: size (≤ 8 KiB) → shape (three base64url parts, JSON
//! header and payload) → algorithm (only the tenant's allow-list of RS256,
//! ES256, EdDSA; `none` and HMAC never) → key (`kid` in the tenant's key
//! set, of a type that fits the algorithm) → signature (the [`Crypto`]
//! port: WebCrypto on workerd) → `exp` / `nbf` with the allowed skew →
//! `iss` → `aud` → the user claim. Every refusal carries a reason for the
//! log line; the client only ever learns "not accepted".

use serde_json::{Map, Value};

use super::jwks::{Jwk, KeySet};
use crate::ports::{Crypto, SigAlg};

/// The largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused (logged, never sent to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    TooLarge,
    Malformed(&'static str),
    Algorithm(String),
    UnknownKid(String),
    KeyMismatch(String),
    BadSignature,
    Expired,
    NotYetValid,
    MissingExp,
    Issuer(String),
    Audience,
    NoUser,
    /// The key set could not be fetched (and none is cached).
    KeysUnavailable(String),
}

impl Refused {
    /// The reason as the log line says it (no token material).
    pub fn reason(&self) -> String {
        match self {
            Refused::TooLarge => format!("token longer than {MAX_TOKEN_BYTES} bytes"),
            Refused::Malformed(what) => format!("malformed token: {what}"),
            Refused::Algorithm(a) => format!("algorithm `{}` not accepted", clip(a)),
            Refused::UnknownKid(k) => format!("unknown kid `{}`", clip(k)),
            Refused::KeyMismatch(k) => format!("key `{}` does not fit the token's algorithm", clip(k)),
            Refused::BadSignature => "bad signature".into(),
            Refused::Expired => "expired".into(),
            Refused::NotYetValid => "not yet valid (nbf)".into(),
            Refused::MissingExp => "no exp claim".into(),
            Refused::Issuer(i) => format!("wrong issuer `{}`", clip(i)),
            Refused::Audience => "wrong audience".into(),
            Refused::NoUser => "no user claim".into(),
            Refused::KeysUnavailable(e) => format!("keys unavailable: {e}"),
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A claim by name: the exact name first (Auth0-style URL claims
    /// contain dots), else a dotted path into nested objects
    /// (`realm_access.roles`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.0.get(name) {
            return Some(v);
        }
        let mut parts = name.split('.');
        let mut cur = self.0.get(parts.next()?)?;
        for p in parts {
            cur = cur.get(p)?;
        }
        Some(cur)
    }

    /// The user id: a non-empty string (or a number) claim.
    pub fn user(&self, claim: &str) -> Option<String> {
        match self.get(claim)? {
            Value::String(s) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Roles: an array of strings, or one space- or comma-separated string.
    pub fn roles(&self, claim: &str) -> Vec<String> {
        let mut out: Vec<String> = match self.get(claim) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(s)) => s.split([' ', ',']).filter(|r| !r.is_empty()).map(str::to_string).collect(),
            _ => vec![],
        };
        out.truncate(64);
        out
    }
}

/// What a token must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub algorithms: &'a [SigAlg],
    pub clock_skew_secs: u32,
    pub now_ms: f64,
}

/// The parts of a token before its signature is checked.
#[derive(Debug)]
pub struct Parsed<'t> {
    pub alg: SigAlg,
    pub kid: Option<String>,
    pub signing_input: &'t [u8],
    pub signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

fn b64(s: &str) -> Result<Vec<u8>, Refused> {
    super::b64url_decode(s).ok_or(Refused::Malformed("not base64url"))
}

/// Parse and check the header against the allow-list (no key needed).
pub fn parse<'t>(token: &'t str, allowed: &[SigAlg]) -> Result<Parsed<'t>, Refused> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refused::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Refused::Malformed("not three parts"));
    };
    let header: Map<String, Value> = serde_json::from_slice(&b64(h)?).map_err(|_| Refused::Malformed("header is not a JSON object"))?;
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = match alg_name {
        "RS256" => SigAlg::Rs256,
        "ES256" => SigAlg::Es256,
        "EdDSA" => SigAlg::EdDsa,
        other => return Err(Refused::Algorithm(other.to_string())),
    };
    if !allowed.contains(&alg) {
        return Err(Refused::Algorithm(alg_name.to_string()));
    }
    // A critical extension we do not understand must be refused (RFC 7515 §4.1.11).
    if header.contains_key("crit") {
        return Err(Refused::Malformed("unsupported `crit` header"));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64(p)?).map_err(|_| Refused::Malformed("payload is not a JSON object"))?;
    let signature = b64(s)?;
    Ok(Parsed {
        alg,
        kid: header.get("kid").and_then(Value::as_str).map(str::to_string),
        signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
        signature,
        claims,
    })
}

/// Check the time, issuer and audience claims.
pub fn check_claims(claims: &Map<String, Value>, e: &Expect<'_>) -> Result<(), Refused> {
    let now = e.now_ms / 1000.0;
    let skew = f64::from(e.clock_skew_secs);
    let exp = claims.get("exp").and_then(Value::as_f64).ok_or(Refused::MissingExp)?;
    if now > exp + skew {
        return Err(Refused::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().ok_or(Refused::Malformed("nbf is not a number"))?;
        if now + skew < nbf {
            return Err(Refused::NotYetValid);
        }
    }
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != e.issuer {
        return Err(Refused::Issuer(iss.to_string()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == e.audience,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(e.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(Refused::Audience);
    }
    Ok(())
}

/// The key for a token: by `kid`; without a `kid`, the only key of the
/// set that fits the algorithm.
pub fn pick_key<'k>(keys: &'k KeySet, kid: Option<&str>, alg: SigAlg) -> Result<&'k Jwk, Refused> {
    let key = match kid {
        Some(k) => keys.by_kid(k).ok_or_else(|| Refused::UnknownKid(k.to_string()))?,
        None => {
            let mut fitting = keys.keys.iter().filter(|j| j.fits(alg));
            match (fitting.next(), fitting.next()) {
                (Some(j), None) => j,
                _ => return Err(Refused::UnknownKid(String::new())),
            }
        }
    };
    if !key.fits(alg) {
        return Err(Refused::KeyMismatch(key.kid.clone()));
    }
    Ok(key)
}

/// Verify the signature of a parsed token with `key`.
pub async fn verify_signature(crypto: &dyn Crypto, parsed: &Parsed<'_>, key: &Jwk) -> Result<(), Refused> {
    match crypto
        .verify(parsed.alg, &key.import_json, parsed.signing_input, &parsed.signature)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refused::BadSignature),
        Err(e) => Err(Refused::KeyMismatch(format!("{}: {e}", key.kid))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> String {
        super::super::b64url_encode(v.to_string().as_bytes())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.{}", enc(&header), enc(&claims), super::super::b64url_encode(b"sig"))
    }

    const ALL: &[SigAlg] = &[SigAlg::Rs256, SigAlg::Es256, SigAlg::EdDsa];

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_looked_at() {
        for alg in ["none", "HS256", "HS512", "PS256", ""] {
            let t = token(serde_json::json!({"alg": alg}), serde_json::json!({}));
            assert!(matches!(parse(&t, ALL), Err(Refused::Algorithm(_))), "{alg}");
        }
        let t = token(serde_json::json!({"alg": "ES256"}), serde_json::json!({}));
        assert!(matches!(parse(&t, &[SigAlg::Rs256]), Err(Refused::Algorithm(_))));
    }

    #[test]
    fn shape_errors() {
        assert_eq!(parse("a.b", ALL).unwrap_err(), Refused::Malformed("not three parts"));
        assert_eq!(parse("a.b.c.d", ALL).unwrap_err(), Refused::Malformed("not three parts"));
        assert_eq!(parse("!!.b.c", ALL).unwrap_err(), Refused::Malformed("not base64url"));
        assert_eq!(parse(&"x".repeat(9000), ALL).unwrap_err(), Refused::TooLarge);
        let t = token(serde_json::json!({"alg": "RS256", "crit": ["b64"]}), serde_json::json!({}));
        assert!(matches!(parse(&t, ALL), Err(Refused::Malformed(_))));
    }

    #[test]
    fn claims_time_issuer_audience() {
        let e = Expect {
            issuer: "https://idp/",
            audience: "api",
            algorithms: ALL,
            clock_skew_secs: 60,
            now_ms: 1_000_000.0,
        };
        let ok = serde_json::json!({"iss": "https://idp/", "aud": ["x", "api"], "exp": 1000, "nbf": 1000});
        assert_eq!(check_claims(ok.as_object().unwrap(), &e), Ok(()));
        let c = |v: Value| check_claims(v.as_object().unwrap(), &e);
        assert_eq!(
            c(serde_json::json!({"iss": "https://idp/", "aud": "api", "exp": 939})),
            Err(Refused::Expired)
        );
        assert_eq!(
            c(serde_json::json!({"iss": "https://idp/", "aud": "api", "exp": 941})),
            Ok(()),
            "within skew"
        );
        assert_eq!(
            c(serde_json::json!({"iss": "https://idp/", "aud": "api", "exp": 2000, "nbf": 1061})),
            Err(Refused::NotYetValid)
        );
        assert_eq!(
            c(serde_json::json!({"iss": "https://idp/", "aud": "api"})),
            Err(Refused::MissingExp)
        );
        assert!(matches!(
            c(serde_json::json!({"iss": "https://evil/", "aud": "api", "exp": 2000})),
            Err(Refused::Issuer(_))
        ));
        assert_eq!(
            c(serde_json::json!({"iss": "https://idp/", "aud": "other", "exp": 2000})),
            Err(Refused::Audience)
        );
    }

    #[test]
    fn claim_lookup_exact_then_dotted() {
        let c = Claims(
            serde_json::json!({"https://acme.example.com/roles": ["a"], "realm_access": {"roles": "b c"}, "sub": 42})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(c.roles("https://acme.example.com/roles"), ["a"]);
        assert_eq!(c.roles("realm_access.roles"), ["b", "c"]);
        assert_eq!(c.user("sub").as_deref(), Some("42"));
        assert_eq!(c.user("email"), None);
    }
}
