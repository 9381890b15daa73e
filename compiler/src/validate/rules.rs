//! Value-level rules shared by validation: name patterns, hostnames, dates,
//! and the heuristics that spot a secret value where only a name belongs.

/// `^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`: tenant ids, env names, tool names.
pub fn is_slug(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// `^[A-Z][A-Z0-9_]*$`, at most 64 characters: binding, secret and var names.
pub fn is_upper_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_uppercase()
        && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// A Rust/JS class name: `^[A-Z][A-Za-z0-9]*$`.
pub fn is_class_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 64 && b[0].is_ascii_uppercase() && b.iter().all(|c| c.is_ascii_alphanumeric())
}

/// A Workers AI model id: `@<namespace>/<author>/<name>`, e.g. `@cf/meta/llama-3.1-8b-instruct`.
pub fn is_model_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('@') else { return false };
    let mut parts = rest.splitn(2, '/');
    let (Some(ns), Some(path)) = (parts.next(), parts.next()) else {
        return false;
    };
    !ns.is_empty()
        && ns.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !path.is_empty()
        && path.bytes().all(|c| c.is_ascii_alphanumeric() || b"._/-".contains(&c))
}

pub fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Vectorize index names: lowercase letters, digits and dashes, ≤ 32 characters.
pub fn is_index_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Queue names (Cloudflare Queues): lowercase letters, digits and dashes, 1–63 characters.
pub fn is_queue_name(s: &str) -> bool {
    (1..=63).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Analytics Engine dataset names: letters, digits and `_`, ≤ 64 characters.
pub fn is_dataset_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (2000..=2099).contains(&y) && d >= 1 && d <= days
}

/// Check a CORS origin as written in a tenant file: `https://host` or
/// `http://host`, optionally with a port, nothing else (no path, no
/// trailing slash, no wildcard: an origin is compared exactly). Returns the
/// origin as browsers send it in `Origin`, or a message and a help text.
pub fn check_origin(o: &str) -> Result<String, (String, String)> {
    let example = "e.g. `https://app.acme.example.com` or `http://localhost:3000`";
    if o == "*" || o.contains('*') {
        return Err((
            "a CORS origin cannot be a wildcard".into(),
            format!("list each origin that may call this tenant, {example}"),
        ));
    }
    let Some((scheme, rest)) = o.split_once("://") else {
        return Err(("a CORS origin needs a scheme".into(), format!("write `https://{o}`; {example}")));
    };
    if scheme != "https" && scheme != "http" {
        return Err((
            format!("unsupported scheme `{scheme}` in a CORS origin"),
            format!("use https (or http for local development), {example}"),
        ));
    }
    if rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Err((
            "a CORS origin has no path".into(),
            format!(
                "write `{scheme}://{}`: browsers send scheme, host and port only",
                rest.split(['/', '?', '#']).next().unwrap_or("")
            ),
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) || p.parse::<u32>().map_or(true, |n| n == 0 || n > 65535) {
            return Err((format!("`{p}` is not a valid port"), format!("a port is 1–65535, {example}")));
        }
    }
    if host == "localhost" || host == "127.0.0.1" {
        return Ok(o.to_string());
    }
    check_host(host).map_err(|(m, h)| (format!("invalid host in CORS origin: {m}"), h))?;
    Ok(o.to_string())
}

/// Check a host as written in a tenant file: lowercase ASCII (punycode for
/// IDNs), optional leading `*.`, no scheme, port or path. Returns a message
/// and a help text when invalid.
pub fn check_host(h: &str) -> Result<(), (String, String)> {
    // A byte search first: a substring search sets up a searcher per call,
    // and most hosts have no `:` at all.
    let colon = h.contains(':');
    if colon && h.contains("://") {
        return Err((
            "a host cannot contain a scheme".into(),
            format!(
                "write the host only, e.g. `{}`",
                h.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("")
            ),
        ));
    }
    if h.contains('/') {
        return Err((
            "a host cannot contain a path".into(),
            "write the host only; routes are derived as <host>/*".into(),
        ));
    }
    if colon {
        return Err((
            "a host cannot contain a port".into(),
            "ports are ignored when requests are routed; remove it".into(),
        ));
    }
    if !h.is_ascii() {
        return Err((
            "a host must be ASCII".into(),
            "write internationalised names in their punycode form (xn--…)".into(),
        ));
    }
    if h.bytes().any(|c| c.is_ascii_uppercase()) {
        return Err(("a host must be lowercase".into(), format!("write `{}`", h.to_ascii_lowercase())));
    }
    let body = h.strip_prefix("*.").unwrap_or(h);
    if body.contains('*') {
        return Err((
            "a wildcard may only be a leading `*.`".into(),
            "write `*.example.com` to match every subdomain of example.com".into(),
        ));
    }
    let body = body.strip_suffix('.').unwrap_or(body);
    if body.is_empty() || body.len() > 253 {
        return Err(("a host must have 1 to 253 characters".into(), "e.g. `acme.example.com`".into()));
    }
    for label in body.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !ok {
            return Err((
                format!("`{label}` is not a valid DNS label"),
                "labels are 1–63 characters of a–z, 0–9 and `-`, not starting or ending with `-`".into(),
            ));
        }
    }
    if body.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|c| c.is_ascii_digit())) {
        return Err((
            "a host must be a DNS name, not an IP address".into(),
            "Workers routes match hostnames; use the name that points at this address".into(),
        ));
    }
    if h.starts_with("*.") && !body.contains('.') {
        return Err((
            "a wildcard must cover a domain with at least two labels".into(),
            "e.g. `*.acme.example.com`".into(),
        ));
    }
    Ok(())
}

/// A loopback host, where plain `http://` is acceptable (local identity
/// providers and tests): `localhost`, `127.0.0.1`, `[::1]`.
pub fn is_loopback_host(h: &str) -> bool {
    matches!(h, "localhost" | "127.0.0.1" | "[::1]")
}

/// What a URL rule calls its URLs, and how it explains its refusals.
struct UrlRule {
    /// "key URL", "base URL".
    noun: &'static str,
    example: &'static str,
    /// Why https (an unsupported scheme).
    scheme_help: &'static str,
    /// Where credentials go instead of `user@`.
    userinfo_help: &'static str,
    /// Whether `?query` may follow the path.
    query: bool,
}

/// Check the URL keys are fetched from (`jwks-url`, `certs-url`):
/// `https://host[:port][/path][?query]`, or `http://` to a loopback host.
/// No user info, no fragment, no whitespace. Returns a message and a help
/// text when invalid.
pub fn check_key_url(url: &str) -> Result<(), (String, String)> {
    check_url(
        url,
        &UrlRule {
            noun: "key URL",
            example: "e.g. `https://login.acme.example.com/.well-known/jwks.json`",
            scheme_help: "keys are fetched over https",
            userinfo_help: "key sets are public: fetch them without credentials",
            query: true,
        },
    )
}

/// Check the base URL of an OpenAI-compatible server (`ai_provider`'s
/// `base_url`): the key URL rule (https, or http to a loopback host; no user
/// info, no fragment), and no query either, since paths are appended to it.
pub fn check_base_url(url: &str) -> Result<(), (String, String)> {
    check_url(
        url,
        &UrlRule {
            noun: "base URL",
            example: "e.g. `https://llm.example.com/v1`, or `http://127.0.0.1:11434/v1` for a local server",
            scheme_help: "models are called over https",
            userinfo_help: "name the API key's secret in `api-key-secret` instead",
            query: false,
        },
    )
}

fn check_url(url: &str, rule: &UrlRule) -> Result<(), (String, String)> {
    let UrlRule { noun, example, .. } = rule;
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            format!("a {noun} cannot be empty or contain whitespace"),
            format!("write the full URL, {example}"),
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err((format!("a {noun} needs a scheme"), format!("write `https://{url}`, {example}")));
    };
    if scheme != "https" && scheme != "http" {
        return Err((
            format!("unsupported scheme `{scheme}` in a {noun}"),
            format!("{}, {example}", rule.scheme_help),
        ));
    }
    if rest.contains('#') {
        return Err((
            format!("a {noun} has no fragment (`#…`)"),
            "remove the `#…` part: it is never sent to the server".into(),
        ));
    }
    if !rule.query && rest.contains('?') {
        return Err((
            format!("a {noun} has no query (`?…`)"),
            format!("paths are appended to it: remove the `?…` part, {example}"),
        ));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err((format!("a {noun} cannot contain user info (`user@`)"), rule.userinfo_help.into()));
    }
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        match stripped.split_once(']') {
            Some((inner, tail)) => (&authority[..inner.len() + 2], tail.strip_prefix(':')),
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) || p.parse::<u32>().map_or(true, |n| n == 0 || n > 65535) {
            return Err((format!("`{p}` is not a valid port"), "a port is 1–65535".into()));
        }
    }
    if is_loopback_host(host) {
        return Ok(());
    }
    if scheme == "http" {
        return Err((
            format!("a {noun} must use https"),
            format!("plain `http://` is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]): use `https://{rest}`"),
        ));
    }
    if host.starts_with("*.") {
        return Err((format!("a {noun} cannot have a wildcard host"), format!("name one host, {example}")));
    }
    check_host(host).map_err(|(m, h)| (format!("invalid host in {noun}: {m}"), h))?;
    Ok(())
}

/// Decode unpadded base64url (RFC 4648 §5, as JSON Web Keys write their
/// members): the URL-safe alphabet, no `=`, no whitespace, and unused
/// trailing bits zero. `None` when the text is not exactly that.
pub fn decode_base64url(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    }
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for chunk in b.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let (n, unused) = match chunk.len() {
            4 => (3, 0),
            3 => (2, acc & 0xff),
            _ => (1, acc & 0xffff),
        };
        if unused != 0 {
            return None; // non-canonical: bits beyond the last byte are set
        }
        out.extend_from_slice(&bytes[1..1 + n]);
    }
    Some(out)
}

/// Bits of a big-endian unsigned integer (leading zero bytes ignored).
pub fn bit_length(be: &[u8]) -> usize {
    match be.iter().position(|b| *b != 0) {
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
        None => 0,
    }
}

/// A Cloudflare Access Application Audience (AUD) tag: 64 lowercase hex characters.
pub fn is_access_aud(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Normalise a host for comparison: lowercase, no trailing dot.
pub fn normalize_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// What [`looks_like_secret`] says of a string that is only random-looking.
pub const HIGH_ENTROPY: &str = "a high-entropy token";

/// Does this string look like a credential rather than a name? Returns what
/// it looks like ([`HIGH_ENTROPY`] for the uncertain, statistical case).
pub fn looks_like_secret(s: &str) -> Option<&'static str> {
    let t = s.trim();
    // The shortest credential shape, `a://b:c@`, has 8 characters.
    if t.len() < 8 {
        return None;
    }
    // `Bearer <token>` / `Basic <base64>`, alone or as a whole header line:
    // both need a space, which most values do not have.
    if t.contains(' ') {
        let lower = t.to_ascii_lowercase();
        for scheme in ["bearer ", "basic "] {
            if let Some(pos) = lower.find(scheme) {
                let token = &t[pos + scheme.len()..];
                let at_start = pos == 0 || lower[..pos].trim_end().ends_with(':');
                if at_start && token.len() >= 8 && !token.contains(char::is_whitespace) {
                    return Some("an Authorization header value");
                }
            }
        }
    }
    // Byte searches gate the substring searches below (each sets up a
    // searcher): a PEM header has a `B`, a URL a `:`.
    if t.contains('B') && t.contains("-----BEGIN") {
        return Some("a private key");
    }
    // scheme://user:password@host
    if let Some(rest) = t.contains(':').then(|| t.split_once("://").map(|(_, r)| r)).flatten() {
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.split_once(':').is_some_and(|(_, pw)| !pw.is_empty()) {
                return Some("a URL with a password");
            }
        }
        if t.to_ascii_lowercase().contains("hooks.slack.com/services/") {
            return Some("a Slack webhook URL");
        }
    }
    const PREFIXES: &[&str] = &[
        "sk-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "AKIA",
        "AIza",
        "glpat-",
        "hf_",
    ];
    // A known key prefix followed by at least 16 token characters, digits among them
    // (`hf_transformers_cache_dir` is a name, `hf_AbC123…` a key).
    if let Some(p) = PREFIXES.iter().find(|p| t.starts_with(**p)) {
        let rest = &t[p.len()..];
        if rest.len() >= 16
            && rest.bytes().any(|c| c.is_ascii_digit())
            && rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return Some("an API key");
        }
    }
    if t.starts_with("eyJ") && t.split('.').count() == 3 && t.split('.').all(|p| p.len() >= 4) {
        return Some("a JSON Web Token");
    }
    if let Some(what) = cloudflare_credential(t) {
        return Some(what);
    }
    // Random-looking: long, no separators a path or a file name would have.
    if t.len() >= 32 && !t.contains(char::is_whitespace) && t.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-+=".contains(&c)) {
        let has = |f: fn(&u8) -> bool| t.as_bytes().iter().any(f);
        let classes = [has(u8::is_ascii_uppercase), has(u8::is_ascii_lowercase), has(u8::is_ascii_digit)]
            .iter()
            .filter(|x| **x)
            .count();
        if classes >= 3 && entropy(t) >= 3.8 {
            return Some(HIGH_ENTROPY);
        }
    }
    None
}

/// Cloudflare's own credentials: the scannable `cfk_` / `cfut_` / `cfat_`
/// formats (a prefix, 40 letters and digits, a checksum), an Origin CA key
/// (`v1.0-…`), and the older unprefixed shapes: a Global API Key is 37
/// lowercase hex characters (ids are 32, hashes 40 or 64), an API token 40
/// characters of `A–Z a–z 0–9 _ -` with all three letter-and-digit classes.
fn cloudflare_credential(t: &str) -> Option<&'static str> {
    let alnum = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric());
    for (prefix, what) in [
        ("cfk_", "a Cloudflare Global API Key"),
        ("cfut_", "a Cloudflare API token"),
        ("cfat_", "a Cloudflare account API token"),
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            if rest.len() >= 40 && alnum(rest) {
                return Some(what);
            }
        }
    }
    if let Some(rest) = t.strip_prefix("v1.0-") {
        if rest.len() >= 100 && rest.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-') {
            return Some("a Cloudflare Origin CA key");
        }
    }
    let hex_lower = |s: &str| s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if t.len() == 37 && hex_lower(t) {
        return Some("a Cloudflare Global API Key");
    }
    if t.len() == 40 && t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
        let has = |f: fn(&u8) -> bool| t.as_bytes().iter().any(f);
        if has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit) && entropy(t) >= 3.8 {
            return Some("a Cloudflare API token");
        }
    }
    None
}

fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_spotted_and_names_are_not() {
        assert_eq!(looks_like_secret("Bearer abc.def.ghi"), Some("an Authorization header value"));
        assert_eq!(looks_like_secret("sk-proj-abcdefghijklmnop1234"), Some("an API key"));
        assert_eq!(
            looks_like_secret("Xq9vL2mN8pR4sT6uW1yZ3bC5dF7gH0jK2lM4"),
            Some("a high-entropy token")
        );
        assert_eq!(looks_like_secret("GATEWAY_TOKEN"), None);
        assert_eq!(looks_like_secret("0f2ac74b498b48028cb68387c421e279"), None);
        assert_eq!(looks_like_secret("help@acme.example.com"), None);
        assert_eq!(looks_like_secret("Basic plan"), None);
        assert_eq!(looks_like_secret("hf_transformers_cache_dir"), None);
        assert_eq!(looks_like_secret("sk-learn-model-v1"), None);
        assert_eq!(looks_like_secret("ghp_16C7e42F292c6912E7710c838347Ae178B4a"), Some("an API key"));
        assert_eq!(looks_like_secret("Bearer of good news"), None);
        assert_eq!(looks_like_secret("/Users/Alice/Documents/Projects2024/ConfigFile.json"), None);
        assert_eq!(looks_like_secret("https://docs.example.com/a/b"), None);
        assert_eq!(
            looks_like_secret("Authorization: Bearer abcdefgh12345678"),
            Some("an Authorization header value")
        );
        assert_eq!(
            looks_like_secret("postgres://app:s3cret@db.example.com/app"),
            Some("a URL with a password")
        );
        assert_eq!(looks_like_secret("key\n-----BEGIN PRIVATE KEY-----"), Some("a private key"));
    }

    #[test]
    fn cloudflare_credentials_are_named() {
        let body = "Xq9vL2mN8pR4sT6uW1yZ3bC5dF7gH0jK2lM4nP6q";
        assert_eq!(body.len(), 40);
        assert_eq!(looks_like_secret(&format!("cfut_{body}0a1b2c3d")), Some("a Cloudflare API token"));
        assert_eq!(
            looks_like_secret(&format!("cfat_{body}0a1b2c3d")),
            Some("a Cloudflare account API token")
        );
        assert_eq!(
            looks_like_secret(&format!("cfk_{body}0a1b2c3d")),
            Some("a Cloudflare Global API Key")
        );
        // The unprefixed formats still in use.
        assert_eq!(
            looks_like_secret("YQSn-xWAQiiEh9qM58wZNnyQS7FUdoqGIUAbrh7T"),
            Some("a Cloudflare API token")
        );
        assert_eq!(
            looks_like_secret("1e29fa6b8a2ab9d8e6f7c1d2a3b4c5d6e7f8a"),
            Some("a Cloudflare Global API Key")
        );
        let origin = format!("v1.0-{}-{}", "a1".repeat(12), "0f".repeat(73));
        assert_eq!(looks_like_secret(&origin), Some("a Cloudflare Origin CA key"));
        // Ids, hashes and names are not.
        assert_eq!(looks_like_secret("0f2ac74b498b48028cb68387c421e279"), None);
        assert_eq!(looks_like_secret("8f517c3a1b2c3d4e5f60718293a4b5c6d7e8f901"), None);
        assert_eq!(looks_like_secret("cfut_short"), None);
        assert_eq!(looks_like_secret("acme-docs-production-index-for-search-00"), None);
    }

    #[test]
    fn queue_names() {
        assert!(is_queue_name("acme-ingest-dev"));
        assert!(is_queue_name("q"));
        assert!(is_queue_name(&"a".repeat(63)));
        assert!(!is_queue_name(&"a".repeat(64)));
        assert!(!is_queue_name(""));
        assert!(!is_queue_name("Acme-ingest"));
        assert!(!is_queue_name("acme_ingest"));
        assert!(!is_queue_name("acme.ingest"));
    }

    #[test]
    fn hosts() {
        assert!(check_host("acme.example.com").is_ok());
        assert!(check_host("*.acme.example.com").is_ok());
        assert!(check_host("xn--bcher-kva.example").is_ok());
        assert!(check_host("Acme.example.com").is_err());
        assert!(check_host("https://acme.example.com").is_err());
        assert!(check_host("acme.example.com:8787").is_err());
        assert!(check_host("a.*.example.com").is_err());
        assert!(check_host("bücher.example").is_err());
        assert!(check_host("*.com").is_err());
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(decode_base64url("AQAB"), Some(vec![1, 0, 1]));
        assert_eq!(decode_base64url("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(decode_base64url("AA"), Some(vec![0]));
        assert_eq!(decode_base64url("AQAB=="), None, "padding");
        assert_eq!(decode_base64url("AQ+B"), None, "standard alphabet");
        assert_eq!(decode_base64url("A"), None, "length 1 mod 4");
        assert_eq!(decode_base64url("AB"), None, "non-zero trailing bits");
        assert_eq!(decode_base64url(""), None);
        assert_eq!(bit_length(&[0, 0x01, 0]), 9);
        assert_eq!(bit_length(&[0x80; 256]), 2048);
    }

    #[test]
    fn key_urls() {
        assert!(check_key_url("https://login.acme.example.com/.well-known/jwks.json").is_ok());
        assert!(check_key_url("https://acme.cloudflareaccess.com/cdn-cgi/access/certs").is_ok());
        assert!(check_key_url("https://idp.example.com:8443/keys?v=2").is_ok());
        assert!(check_key_url("http://127.0.0.1:8787/jwks.json").is_ok());
        assert!(check_key_url("http://localhost/jwks").is_ok());
        assert!(check_key_url("http://[::1]:9000/jwks").is_ok());
        assert!(check_key_url("http://login.acme.example.com/jwks").is_err());
        assert!(check_key_url("http://localhost.evil.example.com/jwks").is_err());
        assert!(check_key_url("https://user:pw@login.example.com/jwks").is_err());
        assert!(check_key_url("https://login.example.com/jwks#keys").is_err());
        assert!(check_key_url("ftp://login.example.com/jwks").is_err());
        assert!(check_key_url("login.example.com/jwks").is_err());
        assert!(check_key_url("https://Login.example.com/jwks").is_err());
        assert!(check_key_url("https://login.example.com:0/jwks").is_err());
        assert!(check_key_url("").is_err());
    }

    #[test]
    fn dates() {
        assert!(is_date("2026-11-01"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2026-02-29"));
        assert!(!is_date("2026-13-01"));
        assert!(!is_date("26-11-01"));
    }
}
