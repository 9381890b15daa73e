//! The baked routing table and static config that `include_tenants!`
//! generates, on the example tenants and on an IDN fixture: exact and
//! wildcard hosts, case, trailing dot and port normalisation, unknown hosts
//! and hosts of another environment resolving to nobody; auth per
//! environment, inline public keys included.

mod examples {
    tenants_macros::include_tenants!("../../tenants");
}

mod idn {
    tenants_macros::include_tenants!("fixtures/idn");
}

use examples::{EnvName, TenantId};

#[test]
fn tenant_id_round_trips_through_its_string() {
    assert_eq!(TenantId::ALL, [TenantId::Acme, TenantId::Globex, TenantId::Initech]);
    for t in TenantId::ALL {
        assert_eq!(t.as_str().parse::<TenantId>(), Ok(t));
        assert_eq!(t.to_string(), t.as_str());
        assert_eq!(t.config().id, t);
    }
    assert_eq!("hooli".parse::<TenantId>(), Err(examples::UnknownTenant));
    assert_eq!("ACME".parse::<TenantId>(), Err(examples::UnknownTenant), "ids are exact");
    assert_eq!(EnvName::ALL.map(EnvName::as_str), ["dev", "stage", "prod"]);
    assert!(EnvName::Dev.is_development() && !EnvName::Prod.is_development());
    assert_eq!("prod".parse::<EnvName>(), Ok(EnvName::Prod));
}

#[test]
fn exact_hosts_resolve_in_their_environment_only() {
    assert_eq!(EnvName::Prod.resolve_host("acme.example.com"), Some(TenantId::Acme));
    assert_eq!(EnvName::Prod.resolve_host("globex.example.org"), Some(TenantId::Globex));
    assert_eq!(EnvName::Prod.resolve_host("ai.globex.example.org"), Some(TenantId::Globex));
    assert_eq!(EnvName::Stage.resolve_host("acme.stage.example.com"), Some(TenantId::Acme));
    assert_eq!(EnvName::Dev.resolve_host("acme.localhost"), Some(TenantId::Acme));
    // A host of another environment is nobody's here.
    assert_eq!(EnvName::Dev.resolve_host("acme.example.com"), None);
    assert_eq!(EnvName::Prod.resolve_host("acme.localhost"), None);
    assert_eq!(EnvName::Prod.resolve_host("acme.stage.example.com"), None);
}

#[test]
fn wildcards_match_subdomains_not_the_base_and_take_the_longest_suffix() {
    assert_eq!(EnvName::Prod.resolve_host("eu.acme.example.com"), Some(TenantId::Acme));
    assert_eq!(EnvName::Prod.resolve_host("a.b.c.acme.example.com"), Some(TenantId::Acme));
    assert_eq!(EnvName::Prod.resolve_host("x.initech.example.net"), Some(TenantId::Initech));
    // `*.acme.example.com` does not cover a lookalike or a parent.
    assert_eq!(EnvName::Prod.resolve_host("evilacme.example.com"), None);
    assert_eq!(EnvName::Prod.resolve_host("example.com"), None);
    assert_eq!(EnvName::Prod.resolve_host("acme.example.com.evil.test"), None);
    // globex has no wildcard: its subdomains are nobody's.
    assert_eq!(EnvName::Prod.resolve_host("x.globex.example.org"), None);
    assert_eq!(EnvName::Stage.resolve_host("x.acme.example.com"), None);
}

#[test]
fn hosts_are_normalised_before_lookup() {
    assert_eq!(EnvName::Prod.resolve_host("ACME.Example.COM"), Some(TenantId::Acme));
    assert_eq!(EnvName::Prod.resolve_host("acme.example.com."), Some(TenantId::Acme));
    assert_eq!(EnvName::Prod.resolve_host("acme.example.com:443"), Some(TenantId::Acme));
    assert_eq!(EnvName::Prod.resolve_host("Acme.Example.Com.:8787"), Some(TenantId::Acme));
    assert_eq!(EnvName::Dev.resolve_host("acme.localhost:8787"), Some(TenantId::Acme));
    // What can be nobody's host.
    for bad in [
        "",
        ":443",
        "acme.example.com:",
        "acme.example.com:http",
        "acme.example.com:123456",
        "[::1]:8787",
        "acme.example.com..",
        " acme.example.com",
    ] {
        assert_eq!(EnvName::Prod.resolve_host(bad), None, "{bad:?}");
    }
    let long = format!("{}.acme.example.com", "a".repeat(300));
    assert_eq!(EnvName::Prod.resolve_host(&long), None);
}

#[test]
fn idn_hosts_resolve_in_punycode_and_unicode_forms_are_refused() {
    use idn::{EnvName, TenantId};
    assert_eq!(EnvName::Prod.resolve_host("xn--bcher-kva.example.net"), Some(TenantId::Bucher));
    assert_eq!(EnvName::Prod.resolve_host("XN--BCHER-KVA.example.net."), Some(TenantId::Bucher));
    assert_eq!(EnvName::Prod.resolve_host("shop.xn--bcher-kva.example.net"), Some(TenantId::Bucher));
    // A Host header is ASCII (browsers send the punycode form); a raw
    // Unicode name is refused, never guessed at.
    assert_eq!(EnvName::Prod.resolve_host("bücher.example.net"), None);
    assert_eq!(EnvName::Dev.resolve_host("xn--bcher-kva.localhost"), Some(TenantId::Bucher));
}

#[test]
fn static_config_carries_each_tenants_settings() {
    let acme = TenantId::Acme.config();
    assert_eq!(acme.name, "Acme Corp");
    assert_eq!(acme.account, "acme");
    assert_eq!(acme.header_policy, examples::HeaderPolicy::DevOnly);
    assert_eq!(acme.ai.chat_model, "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(acme.ai.gateway, Some("acme-gw"));
    assert_eq!(acme.ai.routes[0].route, "search");
    assert_eq!(acme.ai.tokens_per_day, Some(2_000_000));
    assert_eq!(
        acme.rate_limits.ip,
        examples::RateLimit {
            limit: 120,
            window_secs: 60
        }
    );
    assert_eq!(
        acme.tools.iter().map(|t| t.name).collect::<Vec<_>>(),
        ["classify-intent", "extract-entities", "ingest-docs", "summarize", "tag-and-chunk"]
    );
    let classify = acme.tools.iter().find(|t| t.name == "classify-intent").unwrap();
    assert_eq!(classify.labels, ["billing", "technical-support", "sales", "account"]);
    assert_eq!(classify.timeout_ms, None);
    assert_eq!(acme.ai.tool_steps, 4);
    assert_eq!(acme.secrets, ["GATEWAY_TOKEN"]);
    let dev = acme.envs[EnvName::Dev as usize];
    assert_eq!(dev.env, EnvName::Dev);
    assert!(dev.vars.contains(&("LOG_LEVEL", "debug")));
    assert_eq!(dev.vectorize_namespaces, [("DOCS", "acme")]);
    // Header policy x environment.
    assert!(TenantId::Acme.header_allowed(EnvName::Dev));
    assert!(!TenantId::Acme.header_allowed(EnvName::Prod));
    assert!(!TenantId::Globex.header_allowed(EnvName::Dev), "globex: never");
    let globex = TenantId::Globex.config();
    assert_eq!(globex.envs[EnvName::Prod as usize].vectorize_namespaces, [("DOCS", "globex")]);
    assert_eq!(globex.rate_limits.ip, examples::RateLimit { limit: 10, window_secs: 1 });
}

#[test]
fn ai_settings_and_each_environments_provider_are_baked() {
    use examples::AiProvider;
    let acme = TenantId::Acme.config();
    assert_eq!(acme.ai.fallbacks, ["@cf/meta/llama-3.1-8b-instruct-fast"]);
    assert_eq!(acme.ai.user_tokens_per_day, Some(100_000));
    assert_eq!((acme.ai.timeout_ms, acme.ai.retries), (20_000, 2));
    // A route without its own fallbacks and temperature takes the ai-level ones.
    let search = acme.ai.routes[0];
    assert_eq!((search.route, search.temperature), ("search", acme.ai.temperature));
    assert_eq!(search.fallbacks, acme.ai.fallbacks);
    assert_eq!(
        acme.envs[EnvName::Dev as usize].ai_provider,
        AiProvider::OpenAiCompatible {
            base_url: "http://127.0.0.1:11434/v1",
            api_key_secret: None,
            model: None
        }
    );
    assert_eq!(
        acme.envs[EnvName::Stage as usize].ai_provider,
        AiProvider::WorkersAi { binding: "AI" }
    );
    assert_eq!(
        acme.envs[EnvName::Prod as usize].ai_provider,
        AiProvider::Gateway {
            account_id: "5f1d2c3b4a5968778695a4b3c2d1e0f9",
            gateway: "acme-gw",
            token_secret: Some("GATEWAY_TOKEN")
        }
    );
    let globex = TenantId::Globex.config();
    let chat = globex.ai.routes[0];
    assert_eq!((chat.route, chat.temperature), ("chat", 0.2));
    assert_eq!(chat.fallbacks, ["@cf/meta/llama-3.2-3b-instruct"]);
    // No provider written: the platform's `ai` binding.
    assert_eq!(
        globex.envs[EnvName::Prod as usize].ai_provider,
        AiProvider::WorkersAi { binding: "AI" }
    );
}

#[test]
fn auth_config_is_baked_per_environment() {
    use examples::{AccessConfig, ApiKeysConfig, JwtAlg, KeySource};
    let acme = TenantId::Acme.config();
    // dev replaces the tenant-level auth: no credentials needed, API keys too.
    let dev = acme.envs[EnvName::Dev as usize].auth;
    assert!(dev.none && dev.jwt.is_none() && dev.access.is_none());
    assert_eq!(dev.api_keys, Some(ApiKeysConfig { kv_binding: "CACHE" }));
    let prod = acme.envs[EnvName::Prod as usize].auth;
    assert!(!prod.none);
    let jwt = prod.jwt.unwrap();
    assert_eq!(jwt.issuer, "https://login.acme.example.com/");
    assert_eq!(jwt.keys, KeySource::Url("https://login.acme.example.com/.well-known/jwks.json"));
    assert_eq!(jwt.algorithms, [JwtAlg::Rs256]);
    assert_eq!((jwt.user_claim, jwt.roles_claim, jwt.clock_skew_secs), ("sub", "roles", 60));
    let globex = TenantId::Globex.config().envs[EnvName::Stage as usize].auth;
    assert_eq!(
        globex.access,
        Some(AccessConfig {
            team_domain: "globex.cloudflareaccess.com",
            issuer: "https://globex.cloudflareaccess.com",
            audience: "9e1f5c2a7b3d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
            keys: KeySource::Url("https://globex.cloudflareaccess.com/cdn-cgi/access/certs"),
        })
    );
    // Inline keys are static data too, sorted by kid.
    let bucher = idn::TenantId::Bucher.config().envs[idn::EnvName::Dev as usize].auth;
    let jwt = bucher.jwt.unwrap();
    assert_eq!(jwt.algorithms, [idn::JwtAlg::Rs256, idn::JwtAlg::Es256, idn::JwtAlg::EdDsa]);
    let idn::KeySource::Inline(keys) = jwt.keys else {
        panic!("{:?}", jwt.keys)
    };
    assert_eq!(
        keys.iter().map(|k| (k.kid, k.kty)).collect::<Vec<_>>(),
        [("ec-1", "EC"), ("ed-1", "OKP"), ("rsa-1", "RSA")]
    );
    assert_eq!((keys[1].crv, keys[1].y), (Some("Ed25519"), None));
    assert_eq!((keys[2].alg, keys[2].e), (Some("RS256"), Some("AQAB")));
    assert!(bucher.none && bucher.api_keys.is_none(), "dev's own block, nothing merged");
}
