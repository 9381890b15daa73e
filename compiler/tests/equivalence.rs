//! The same configuration written in KDL, JSON or JSONC resolves to the same
//! model.
//!
//! `tests/fixtures/equivalence/` holds every example of `tenants/` written in
//! the other format (a "mirror": KDL ↔ JSON/JSONC), using every construct the
//! original uses. Each test copies the examples into a fresh directory, swaps
//! some files for their mirrors, and compares the resolved models of both
//! directories. The shorthand tests at the end pin the KDL ↔ JSON mapping of
//! one construct each.

mod common;

use std::path::PathBuf;

use common::*;
use tenants_compiler::resolved::{self, Model};

// ------------------------------------------------------------------ mirrors of the examples

fn is_kdl(name: &str) -> bool {
    name.ends_with(".kdl")
}

/// The mirror fixture of an example file: same stem, the other format.
fn mirror_of(example: &str) -> PathBuf {
    let stem = example.rsplit_once('.').map(|(s, _)| s).unwrap_or(example);
    let found: Vec<PathBuf> = config_files(&mirrors_dir())
        .into_iter()
        .filter(|p| common::stem(p) == stem)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one mirror of {example} in {}, found {found:?}",
        mirrors_dir().display()
    );
    let mirror = found.into_iter().next().unwrap();
    assert_ne!(
        is_kdl(example),
        is_kdl(file_name(&mirror)),
        "the mirror of {example} must be in the other format (KDL ↔ JSON/JSONC), found {}",
        mirror.display()
    );
    mirror
}

/// The example files with the files named in `swap` replaced by their mirrors.
fn examples_swapped(swap: &[&str]) -> Vec<(String, String)> {
    let files = example_files();
    for s in swap {
        assert!(
            files.iter().any(|(n, _)| n == s),
            "{s} is not an example in {}",
            examples_dir().display()
        );
    }
    files
        .into_iter()
        .map(|(name, text)| {
            if swap.contains(&name.as_str()) {
                let m = mirror_of(&name);
                (file_name(&m).to_string(), std::fs::read_to_string(&m).unwrap())
            } else {
                (name, text)
            }
        })
        .collect()
}

fn original_model() -> Model {
    let dir = dir_with(&example_files());
    compile_ok(dir.path(), "tenants/ (originals)")
}

/// Swap `swap` for their mirrors; the model must not change.
fn assert_mirror_equivalent(swap: &[&str]) {
    let original = original_model();
    let files = examples_swapped(swap);
    let dir = dir_with(&files);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let mirrored = compile_ok(dir.path(), &format!("examples with {swap:?} mirrored ({names:?})"));
    assert_models_eq(
        &original,
        &mirrored,
        &format!("mirroring {swap:?} changed the resolved model (left: originals, right: mirrored {names:?})"),
    );
}

/// The original of a mirror, looked up by stem so a renamed example is noticed.
fn example_named(stem: &str) -> String {
    let names: Vec<String> = example_files()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.rsplit_once('.').map(|(s, _)| s) == Some(stem))
        .collect();
    assert_eq!(names.len(), 1, "expected one example named {stem}.*, found {names:?}");
    names.into_iter().next().unwrap()
}

#[test]
fn every_example_has_a_mirror_and_every_mirror_an_example() {
    let examples = example_files();
    assert!(examples.len() >= 3, "expected examples in {}", examples_dir().display());
    for (name, _) in &examples {
        mirror_of(name);
    }
    for m in config_files(&mirrors_dir()) {
        let stem = common::stem(&m);
        assert!(
            examples.iter().any(|(n, _)| n.rsplit_once('.').map(|(s, _)| s) == Some(stem)),
            "{} mirrors no example file",
            m.display()
        );
    }
}

#[test]
fn examples_compile_without_diagnostics() {
    let dir = dir_with(&example_files());
    let c = compile(dir.path());
    assert!(c.diagnostics.items.is_empty(), "examples:\n{}", render(&c));
    let m = c.model.expect("model");
    assert_eq!(m.tenants.len(), example_files().len() - 2);
}

#[test]
fn acme_mirror_is_equivalent() {
    let name = example_named("acme");
    assert_mirror_equivalent(&[&name]);
}

#[test]
fn globex_mirror_is_equivalent() {
    let name = example_named("globex");
    assert_mirror_equivalent(&[&name]);
}

#[test]
fn initech_mirror_is_equivalent() {
    let name = example_named("initech");
    assert_mirror_equivalent(&[&name]);
}

#[test]
fn platform_mirror_is_equivalent() {
    let name = example_named("platform");
    assert_mirror_equivalent(&[&name]);
}

#[test]
fn accounts_mirror_is_equivalent() {
    let name = example_named("accounts");
    assert_mirror_equivalent(&[&name]);
}

/// Each example tenant alone, whatever their number (catches a new example).
#[test]
fn each_tenant_mirror_is_equivalent() {
    for (name, _) in example_files() {
        let stem = name.rsplit_once('.').unwrap().0;
        if stem != "platform" && stem != "accounts" {
            assert_mirror_equivalent(&[&name]);
        }
    }
}

#[test]
fn all_files_mirrored_at_once_are_equivalent() {
    let names: Vec<String> = example_files().into_iter().map(|(n, _)| n).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_mirror_equivalent(&refs);
    // No original format survives the swap.
    for (name, _) in examples_swapped(&refs) {
        assert!(!names.contains(&name), "{name} was not swapped");
    }
}

#[test]
fn mirrors_compile_without_diagnostics() {
    let names: Vec<String> = example_files().into_iter().map(|(n, _)| n).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let dir = dir_with(&examples_swapped(&refs));
    let c = compile(dir.path());
    assert!(c.diagnostics.items.is_empty(), "mirrors:\n{}", render(&c));
}

/// `.json` and `.jsonc` read the same document the same way.
#[test]
fn json_and_jsonc_are_equivalent() {
    let original = original_model();
    let files: Vec<(String, String)> = example_files()
        .into_iter()
        .map(|(name, text)| match name.strip_suffix(".json") {
            Some(stem) => (
                format!("{stem}.jsonc"),
                format!("// was {name}\n{}", text.replacen('{', "{ /* a comment */", 1)),
            ),
            None => (name, text),
        })
        .collect();
    assert!(files.iter().all(|(n, _)| !n.ends_with(".json")), "no .json example left");
    let dir = dir_with(&files);
    assert_models_eq(
        &original,
        &compile_ok(dir.path(), ".json examples renamed to .jsonc"),
        ".json vs .jsonc",
    );
}

// ------------------------------------------------------------------ shorthand forms

const PLATFORM_KDL: &str = r#"
platform "shorthand" {
    compatibility-date "2026-11-01"
    environment "dev"
    environment "prod"
    kv CACHE
    ai AI
    durable-object AUDIT class="AuditLog"
    tool "summarize"
    tool "ingest-docs" roles="admin"
    tool "extract-entities" {
        roles "admin" "analyst"
    }
}
"#;
const ACCOUNTS_KDL: &str = r#"account "main" account-id="0123456789abcdef0123456789abcdef" token-env="CF_API_TOKEN""#;

const ENVS_KDL: &str = r#"
    env "dev" {
        host "t.localhost"
        kv CACHE id="00000000000000000000000000000001"
    }
    env "prod" {
        host "t.example.com"
        kv CACHE id="00000000000000000000000000000002"
    }
"#;
const ENVS_JSON: &str = r#""envs": {
    "dev": { "hosts": ["t.localhost"], "kv": { "CACHE": { "id": "00000000000000000000000000000001" } } },
    "prod": { "hosts": ["t.example.com"], "kv": { "CACHE": { "id": "00000000000000000000000000000002" } } }
}"#;
const AI_KDL: &str = r#"ai { chat "@cf/meta/llama-3.1-8b-instruct"; }"#;
const AI_JSON: &str = r#""ai": { "chat": "@cf/meta/llama-3.1-8b-instruct" }"#;
/// Every environment outside development needs a way in.
const AUTH_KDL: &str = "auth { api-keys #true; }";
const AUTH_JSON: &str = r#""auth": { "api_keys": true }"#;

/// A tenant `t` in KDL: `body` is the node list inside `tenant "t" { … }`
/// after name and account (plus [`AUTH_KDL`] unless it has an `auth`).
fn tenant_kdl(body: &str) -> String {
    let auth = if body.contains("auth {") { "" } else { AUTH_KDL };
    format!("tenant \"t\" {{\n    name \"T\"\n    account \"main\"\n{body}\n    {auth}\n}}\n")
}

/// A tenant `t` in JSON: `body` is the comma-separated members after id,
/// name, account (plus [`AUTH_JSON`] unless it has an `"auth"`).
fn tenant_json(body: &str) -> String {
    let auth = if body.contains("\"auth\"") {
        String::new()
    } else {
        format!(",\n  {AUTH_JSON}")
    };
    format!("{{\n  \"id\": \"t\",\n  \"name\": \"T\",\n  \"account\": \"main\",\n{body}{auth}\n}}\n")
}

/// The model of a directory with the shorthand platform, accounts and one tenant file.
fn model_of(tenant_file: &str, text: &str) -> Model {
    let dir = dir_with(&[
        ("platform.kdl".into(), PLATFORM_KDL.into()),
        ("accounts.kdl".into(), ACCOUNTS_KDL.into()),
        (tenant_file.into(), text.into()),
    ]);
    compile_ok(dir.path(), &format!("{tenant_file}:\n{text}"))
}

/// Every form yields the same model; returns the tenant for further checks.
fn same_tenant(forms: &[(&str, String)]) -> resolved::Tenant {
    let models: Vec<Model> = forms.iter().map(|(file, text)| model_of(file, text)).collect();
    for (i, m) in models.iter().enumerate().skip(1) {
        assert_models_eq(
            &models[0],
            m,
            &format!(
                "different models for\n--- {}\n{}\n--- {}\n{}",
                forms[0].0, forms[0].1, forms[i].0, forms[i].1
            ),
        );
    }
    assert_eq!(models[0].tenants.len(), 1);
    models[0].tenants[0].clone()
}

/// KDL body and JSON body with the default envs (and, unless the body has
/// its own, the default ai).
fn kdl(body: &str) -> (&'static str, String) {
    let ai = if body.contains("ai {") || body.contains("ai gateway") || body.trim_start().starts_with("ai ") {
        ""
    } else {
        AI_KDL
    };
    ("t.kdl", tenant_kdl(&format!("{ENVS_KDL}\n    {ai}\n{body}")))
}
fn json(body: &str) -> (&'static str, String) {
    let ai = if body.contains("\"ai\"") {
        String::new()
    } else {
        format!("{AI_JSON},\n")
    };
    let body = if body.trim().is_empty() {
        String::new()
    } else {
        format!(",\n{body}")
    };
    ("t.json", tenant_json(&format!("{ENVS_JSON},\n{ai}  \"secrets\": []{body}")))
}
fn jsonc(body: &str) -> (&'static str, String) {
    let (_, text) = json(body);
    // A comment, and a trailing comma after the last member.
    let text = text.replacen("\"secrets\": []", "\"secrets\": [] /* none */", 1);
    let text = text.trim_end().strip_suffix('}').expect("an object").trim_end().to_string();
    ("t.jsonc", format!("// JSONC\n{text},\n}}\n"))
}

#[test]
fn shorthand_single_role_is_a_one_element_list() {
    let t = same_tenant(&[
        kdl(r#"tool "ingest-docs" roles="admin""#),
        kdl(r#"tool "ingest-docs" { roles "admin"; }"#),
        json(r#""tools": { "ingest-docs": { "roles": ["admin"] } }"#),
    ]);
    assert_eq!(t.tools.len(), 1);
    assert_eq!(t.tools[0].name, "ingest-docs");
    assert_eq!(t.tools[0].roles, vec!["admin".to_string()]);
}

#[test]
fn shorthand_several_roles_are_arguments() {
    let t = same_tenant(&[
        kdl(r#"tool "extract-entities" { roles "analyst" "admin"; }"#),
        json(r#""tools": { "extract-entities": { "roles": ["analyst", "admin"] } }"#),
    ]);
    assert_eq!(t.tools[0].roles, vec!["admin".to_string(), "analyst".to_string()]);
}

#[test]
fn shorthand_tool_without_settings() {
    let t = same_tenant(&[
        kdl(r#"tool "summarize""#),
        kdl(r#"tool "summarize" {}"#),
        json(r#""tools": { "summarize": {} }"#),
        json(r#""tools": { "summarize": { "roles": [] } }"#),
    ]);
    assert_eq!(t.tools.len(), 1);
    assert!(t.tools[0].roles.is_empty());
}

#[test]
fn shorthand_chat_model_argument() {
    let t = same_tenant(&[
        kdl(r#"ai { chat "@cf/meta/llama-3.3-70b-instruct-fp8-fast"; }"#),
        kdl(r#"ai { chat model="@cf/meta/llama-3.3-70b-instruct-fp8-fast"; }"#),
        kdl(r#"ai { chat { model "@cf/meta/llama-3.3-70b-instruct-fp8-fast"; }; }"#),
        json(r#""ai": { "chat": "@cf/meta/llama-3.3-70b-instruct-fp8-fast" }"#),
        json(r#""ai": { "chat": { "model": "@cf/meta/llama-3.3-70b-instruct-fp8-fast" } }"#),
    ]);
    assert_eq!(t.ai.chat_model, "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    assert_eq!(t.ai.max_tokens, resolved::defaults::MAX_TOKENS);
}

#[test]
fn shorthand_chat_model_argument_with_properties() {
    let t = same_tenant(&[
        kdl(r#"ai { chat "@cf/meta/llama-3.1-8b-instruct" max-tokens=300 temperature=0.25; }"#),
        json(r#""ai": { "chat": { "model": "@cf/meta/llama-3.1-8b-instruct", "max_tokens": 300, "temperature": 0.25 } }"#),
        jsonc(r#""ai": { "chat": { "model": "@cf/meta/llama-3.1-8b-instruct", "max_tokens": 300, "temperature": 0.25, }, }"#),
    ]);
    assert_eq!((t.ai.max_tokens, t.ai.temperature), (300, 0.25));
}

#[test]
fn shorthand_integer_temperature_is_a_number() {
    let t = same_tenant(&[
        kdl(r#"ai { chat "@cf/meta/llama-3.1-8b-instruct" temperature=1; }"#),
        kdl(r#"ai { chat "@cf/meta/llama-3.1-8b-instruct" temperature=1.0; }"#),
        json(r#""ai": { "chat": { "model": "@cf/meta/llama-3.1-8b-instruct", "temperature": 1 } }"#),
        json(r#""ai": { "chat": { "model": "@cf/meta/llama-3.1-8b-instruct", "temperature": 1.0 } }"#),
    ]);
    assert_eq!(t.ai.temperature, 1.0);
}

#[test]
fn shorthand_embedding_and_tts_model_argument() {
    let t = same_tenant(&[
        kdl(r#"ai {
            chat "@cf/meta/llama-3.1-8b-instruct"
            embedding "@cf/baai/bge-base-en-v1.5"
            tts "@cf/myshell-ai/melotts"
        }"#),
        kdl(r#"ai {
            chat "@cf/meta/llama-3.1-8b-instruct"
            embedding model="@cf/baai/bge-base-en-v1.5"
            tts { model "@cf/myshell-ai/melotts"; }
        }"#),
        json(
            r#""ai": { "chat": "@cf/meta/llama-3.1-8b-instruct", "embedding": "@cf/baai/bge-base-en-v1.5", "tts": "@cf/myshell-ai/melotts" }"#,
        ),
        json(
            r#""ai": { "chat": "@cf/meta/llama-3.1-8b-instruct", "embedding": { "model": "@cf/baai/bge-base-en-v1.5" }, "tts": { "model": "@cf/myshell-ai/melotts" } }"#,
        ),
    ]);
    assert_eq!(t.ai.embedding_model.as_deref(), Some("@cf/baai/bge-base-en-v1.5"));
    assert_eq!(t.ai.tts_model.as_deref(), Some("@cf/myshell-ai/melotts"));
}

#[test]
fn shorthand_route_and_budget() {
    let t = same_tenant(&[
        kdl(r#"ai gateway="t-gw" {
            chat "@cf/meta/llama-3.1-8b-instruct"
            route "search" chat="@cf/meta/llama-3.3-70b-instruct-fp8-fast" max-tokens=2048
            route "chat" max-tokens=64
            budget tokens-per-day=2000000
        }"#),
        kdl(r#"ai {
            gateway "t-gw"
            chat "@cf/meta/llama-3.1-8b-instruct"
            route "chat" { max-tokens 64; }
            route "search" {
                chat "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
                max-tokens 2048
            }
            budget { tokens-per-day 2000000; }
        }"#),
        json(
            r#""ai": {
            "gateway": "t-gw",
            "chat": "@cf/meta/llama-3.1-8b-instruct",
            "routes": {
                "search": { "chat": "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "max_tokens": 2048 },
                "chat": { "max_tokens": 64 }
            },
            "budget": { "tokens_per_day": 2000000 }
        }"#,
        ),
    ]);
    assert_eq!(t.ai.gateway.as_deref(), Some("t-gw"));
    assert_eq!(t.ai.routes.len(), 2);
    assert_eq!(t.ai.tokens_per_day, Some(2_000_000));
    // Context windows from the catalog: the ai model's, the route's own, or the inherited one.
    assert_eq!(t.ai.context_tokens, 7968);
    let ctx = |r: &str| t.ai.routes.iter().find(|o| o.route == r).unwrap().context_tokens;
    assert_eq!((ctx("search"), ctx("chat")), (24000, 7968));
}

/// [`ENVS_KDL`] with `dev` and `prod` lines added at the end of each block.
fn envs_kdl_with(dev: &str, prod: &str) -> String {
    ENVS_KDL
        .replacen("000000000001\"\n", &format!("000000000001\"\n        {dev}\n"), 1)
        .replacen("000000000002\"\n", &format!("000000000002\"\n        {prod}\n"), 1)
}

/// [`ENVS_JSON`] with `"ai_provider"` values (JSON objects) for `dev` and `prod`.
fn envs_json_with(dev: &str, prod: &str) -> String {
    ENVS_JSON
        .replacen("01\" } } }", &format!("01\" }} }}, \"ai_provider\": {dev} }}"), 1)
        .replacen("02\" } } }", &format!("02\" }} }}, \"ai_provider\": {prod} }}"), 1)
}

#[test]
fn shorthand_ai_provider_kind_argument() {
    let ai_kdl = r#"ai gateway="t-gw" { chat "@cf/meta/llama-3.1-8b-instruct"; }"#;
    let secrets_kdl = r#"secrets "LLM_KEY" "GATEWAY_TOKEN""#;
    let kdl_form = |dev: &str, prod: &str| {
        (
            "t.kdl",
            tenant_kdl(&format!("{}\n    {ai_kdl}\n    {secrets_kdl}", envs_kdl_with(dev, prod))),
        )
    };
    let json_form = |dev: &str, prod: &str| {
        let body = format!(
            "{},\n  \"ai\": {{ \"gateway\": \"t-gw\", \"chat\": \"@cf/meta/llama-3.1-8b-instruct\" }},\n  \"secrets\": [\"LLM_KEY\", \"GATEWAY_TOKEN\"]",
            envs_json_with(dev, prod)
        );
        ("t.json", tenant_json(&body))
    };
    let t = same_tenant(&[
        kdl_form(
            r#"ai-provider "openai-compatible" base-url="http://127.0.0.1:11434/v1" api-key-secret="LLM_KEY" model="llama3.2""#,
            r#"ai-provider "gateway" token-secret="GATEWAY_TOKEN""#,
        ),
        kdl_form(
            r#"ai-provider "openai-compatible" { base-url "http://127.0.0.1:11434/v1"; api-key-secret "LLM_KEY"; model "llama3.2"; }"#,
            r#"ai-provider { kind "gateway"; token-secret "GATEWAY_TOKEN"; }"#,
        ),
        json_form(
            // A trailing `/` is dropped: the runtime appends `/chat/completions`.
            r#"{ "kind": "openai-compatible", "base_url": "http://127.0.0.1:11434/v1/", "api_key_secret": "LLM_KEY", "model": "llama3.2" }"#,
            r#"{ "kind": "gateway", "token_secret": "GATEWAY_TOKEN" }"#,
        ),
    ]);
    assert_eq!(
        t.envs[0].ai_provider,
        resolved::AiProvider::OpenAiCompatible {
            base_url: "http://127.0.0.1:11434/v1".into(),
            api_key_secret: Some("LLM_KEY".into()),
            model: Some("llama3.2".into()),
        }
    );
    assert_eq!(
        t.envs[1].ai_provider,
        resolved::AiProvider::Gateway {
            account_id: "0123456789abcdef0123456789abcdef".into(),
            gateway: "t-gw".into(),
            token_secret: Some("GATEWAY_TOKEN".into()),
        }
    );
}

#[test]
fn shorthand_default_ai_provider_is_the_platform_ai_binding() {
    let t = same_tenant(&[
        kdl(""),
        (
            "t.kdl",
            tenant_kdl(&format!(
                "{}\n    {AI_KDL}",
                envs_kdl_with(r#"ai-provider "workers-ai""#, r#"ai-provider kind="workers-ai""#)
            )),
        ),
        (
            "t.json",
            tenant_json(&format!(
                "{},\n  {AI_JSON}",
                envs_json_with(r#"{ "kind": "workers-ai" }"#, r#"{ "kind": "workers-ai" }"#)
            )),
        ),
    ]);
    for e in &t.envs {
        assert_eq!(e.ai_provider, resolved::AiProvider::WorkersAi { binding: "AI".into() });
    }
}

#[test]
fn shorthand_fallbacks_route_settings_and_limits() {
    let t = same_tenant(&[
        kdl(r#"ai timeout-ms=20000 retries=3 {
            chat "@cf/meta/llama-3.1-8b-instruct" temperature=0.4 {
                fallback "@cf/meta/llama-3.1-8b-instruct-fast"
                fallback "@cf/meta/llama-3.2-3b-instruct"
            }
            route "chat" chat="@cf/meta/llama-3.1-8b-instruct-fast" temperature=0.2 {
                fallback "@cf/meta/llama-3.2-1b-instruct"
            }
            route "search" chat="@cf/meta/llama-3.2-3b-instruct"
            route "tools" max-tokens=64
            budget tokens-per-day=2000000 user-tokens-per-day=100000
        }"#),
        kdl(r#"ai {
            timeout-ms 20000
            retries 3
            chat { model "@cf/meta/llama-3.1-8b-instruct"; temperature 0.4; fallback "@cf/meta/llama-3.1-8b-instruct-fast"; fallback "@cf/meta/llama-3.2-3b-instruct"; }
            route "chat" { chat "@cf/meta/llama-3.1-8b-instruct-fast"; temperature 0.2; fallback "@cf/meta/llama-3.2-1b-instruct"; }
            route "search" { chat "@cf/meta/llama-3.2-3b-instruct"; }
            route "tools" { max-tokens 64; }
            budget { tokens-per-day 2000000; user-tokens-per-day 100000; }
        }"#),
        json(
            r#""ai": {
            "timeout_ms": 20000,
            "retries": 3,
            "chat": {
                "model": "@cf/meta/llama-3.1-8b-instruct",
                "temperature": 0.4,
                "fallbacks": ["@cf/meta/llama-3.1-8b-instruct-fast", "@cf/meta/llama-3.2-3b-instruct"]
            },
            "routes": {
                "chat": { "chat": "@cf/meta/llama-3.1-8b-instruct-fast", "temperature": 0.2, "fallbacks": ["@cf/meta/llama-3.2-1b-instruct"] },
                "search": { "chat": "@cf/meta/llama-3.2-3b-instruct" },
                "tools": { "max_tokens": 64 }
            },
            "budget": { "tokens_per_day": 2000000, "user_tokens_per_day": 100000 }
        }"#,
        ),
    ]);
    let ai = &t.ai;
    assert_eq!((ai.timeout_ms, ai.retries), (20_000, 3));
    assert_eq!(
        ai.fallbacks,
        ["@cf/meta/llama-3.1-8b-instruct-fast", "@cf/meta/llama-3.2-3b-instruct"]
    );
    assert_eq!((ai.tokens_per_day, ai.user_tokens_per_day), (Some(2_000_000), Some(100_000)));
    let route = |name: &str| ai.routes.iter().find(|r| r.route == name).unwrap();
    // Its own temperature and fallbacks.
    assert_eq!(route("chat").temperature, 0.2);
    assert_eq!(route("chat").fallbacks, ["@cf/meta/llama-3.2-1b-instruct"]);
    // The ai-level temperature and fallbacks, without the route's own model.
    assert_eq!(route("search").temperature, 0.4);
    assert_eq!(route("search").fallbacks, ["@cf/meta/llama-3.1-8b-instruct-fast"]);
    // Everything from the ai level.
    assert_eq!(route("tools").chat_model, "@cf/meta/llama-3.1-8b-instruct");
    assert_eq!(route("tools").fallbacks, ai.fallbacks);
    assert_eq!((route("tools").max_tokens, route("tools").temperature), (64, 0.4));
}

#[test]
fn ai_limits_default_when_not_written() {
    let t = same_tenant(&[kdl(""), json("")]);
    assert_eq!((t.ai.timeout_ms, t.ai.retries), (30_000, 1));
    assert!(t.ai.fallbacks.is_empty());
    assert_eq!(t.ai.user_tokens_per_day, None);
}

#[test]
fn shorthand_rate_limit_argument_is_the_limit() {
    let t = same_tenant(&[
        kdl(r#"rate-limit { user 60; }"#),
        kdl(r#"rate-limit { user limit=60; }"#),
        kdl(r#"rate-limit user=60"#),
        json(r#""rate_limits": { "user": 60 }"#),
        json(r#""rate_limits": { "user": { "limit": 60 } }"#),
        json(r#""rate_limits": { "user": { "limit": 60, "per": "minute" } }"#),
    ]);
    assert_eq!(t.rate_limits.user.limit, 60);
    assert_eq!(t.rate_limits.user.per, resolved::Window::Minute);
}

#[test]
fn shorthand_rate_limit_argument_with_window() {
    let t = same_tenant(&[
        kdl(r#"rate-limit {
            tenant 5000 per="hour"
            user 7 per="second"
            ip 100000 per="day"
        }"#),
        kdl(r#"rate-limit {
            tenant limit=5000 per="hour"
            user { limit 7; per "second"; }
            ip { limit 100000; per "day"; }
        }"#),
        json(
            r#""rate_limits": {
            "tenant": { "limit": 5000, "per": "hour" },
            "user": { "limit": 7, "per": "second" },
            "ip": { "limit": 100000, "per": "day" }
        }"#,
        ),
    ]);
    assert_eq!(
        (t.rate_limits.tenant.per, t.rate_limits.user.per, t.rate_limits.ip.per),
        (resolved::Window::Hour, resolved::Window::Second, resolved::Window::Day)
    );
    assert_eq!(t.rate_limits.ip.limit, 100_000);
}

#[test]
fn shorthand_repeated_host_is_a_list() {
    let envs_kdl = r#"
    env "dev" {
        host "t.localhost"
        host "*.t.localhost"
        kv CACHE id="00000000000000000000000000000001"
    }
    env "prod" {
        host "t.example.com"
        kv CACHE id="00000000000000000000000000000002"
        host "www.t.example.com"
    }
"#;
    let envs_json = r#""envs": {
    "dev": { "hosts": ["t.localhost", "*.t.localhost"], "kv": { "CACHE": { "id": "00000000000000000000000000000001" } } },
    "prod": { "kv": { "CACHE": { "id": "00000000000000000000000000000002" } }, "hosts": ["t.example.com", "www.t.example.com"] }
}"#;
    let t = same_tenant(&[
        ("t.kdl", tenant_kdl(&format!("{envs_kdl}\n{AI_KDL}"))),
        ("t.json", tenant_json(&format!("{envs_json},\n{AI_JSON}"))),
    ]);
    assert_eq!(t.envs[0].name, "dev");
    assert_eq!(t.envs[0].hosts, vec!["t.localhost", "*.t.localhost"]);
    assert_eq!(t.envs[1].hosts, vec!["t.example.com", "www.t.example.com"]);
}

#[test]
fn shorthand_var_node_is_a_map_entry() {
    let envs_kdl = r#"
    env "dev" {
        host "t.localhost"
        kv CACHE id="00000000000000000000000000000001"
        var LEVEL "debug"
        var "ONLY_DEV" "1"
    }
    env "prod" {
        host "t.example.com"
        kv CACHE id="00000000000000000000000000000002"
    }
"#;
    let envs_json = r#""envs": {
    "dev": { "hosts": ["t.localhost"], "kv": { "CACHE": { "id": "00000000000000000000000000000001" } }, "vars": { "LEVEL": "debug", "ONLY_DEV": "1" } },
    "prod": { "hosts": ["t.example.com"], "kv": { "CACHE": { "id": "00000000000000000000000000000002" } } }
}"#;
    let t = same_tenant(&[
        (
            "t.kdl",
            tenant_kdl(&format!("{envs_kdl}\n{AI_KDL}\nvar LEVEL \"info\"\nvar EMAIL \"a@b.example\"")),
        ),
        (
            "t.json",
            tenant_json(&format!(
                "{envs_json},\n{AI_JSON},\n\"vars\": {{ \"LEVEL\": \"info\", \"EMAIL\": \"a@b.example\" }}"
            )),
        ),
    ]);
    assert_eq!(t.envs[0].vars.get("LEVEL").map(String::as_str), Some("debug"));
    assert_eq!(t.envs[0].vars.get("ONLY_DEV").map(String::as_str), Some("1"));
    assert_eq!(t.envs[1].vars.get("LEVEL").map(String::as_str), Some("info"));
    assert_eq!(t.envs[1].vars.get("EMAIL").map(String::as_str), Some("a@b.example"));
}

#[test]
fn shorthand_resource_properties_or_children() {
    let envs = |dev: &str| {
        format!(
            "env \"dev\" {{\n host \"t.localhost\"\n {dev}\n}}\nenv \"prod\" {{\n host \"t.example.com\"\n kv CACHE id=\"00000000000000000000000000000002\"\n}}"
        )
    };
    let t = same_tenant(&[
        (
            "t.kdl",
            tenant_kdl(&format!("{}\n{AI_KDL}", envs(r#"kv CACHE id="00000000000000000000000000000001""#))),
        ),
        (
            "t.kdl",
            tenant_kdl(&format!(
                "{}\n{AI_KDL}",
                envs(r#"kv "CACHE" { id "00000000000000000000000000000001"; }"#)
            )),
        ),
        ("t.json", tenant_json(&format!("{ENVS_JSON},\n{AI_JSON}"))),
    ]);
    assert!(t.envs[0].resources.iter().any(|r| r.kind
        == resolved::ResourceKind::Kv {
            id: "00000000000000000000000000000001".into()
        }));
}

#[test]
fn shorthand_secrets_arguments_are_a_list() {
    let t = same_tenant(&[
        kdl(r#"secrets "GATEWAY_TOKEN" "SEARCH_API_KEY""#),
        (
            "t.json",
            tenant_json(&format!(
                "{ENVS_JSON},\n{AI_JSON},\n\"secrets\": [\"SEARCH_API_KEY\", \"GATEWAY_TOKEN\"]"
            )),
        ),
    ]);
    assert_eq!(t.secrets, vec!["GATEWAY_TOKEN", "SEARCH_API_KEY"]);
    let one = same_tenant(&[
        kdl(r#"secrets "GATEWAY_TOKEN""#),
        (
            "t.json",
            tenant_json(&format!("{ENVS_JSON},\n{AI_JSON},\n\"secrets\": [\"GATEWAY_TOKEN\"]")),
        ),
    ]);
    assert_eq!(one.secrets, vec!["GATEWAY_TOKEN"]);
}

#[test]
fn shorthand_kebab_case_properties_are_snake_case_keys() {
    let t = same_tenant(&[
        kdl(r#"
            rag chunk-size=1000 overlap=50 top-k=3 min-score=0.25
            sessions retention-days=7 max-messages=20
            cache search-ttl=0 chat-ttl=60
            tts enabled=#false voice="en-gb" max-chars=99
            safety max-input-chars=100 pii-redaction=#true blocked-terms="secret"
            resolution header="always"
        "#),
        kdl(r#"
            rag {
                chunk-size 1000
                overlap 50
                top-k 3
                min-score 0.25
            }
            sessions { retention-days 7; max-messages 20; }
            cache { search-ttl 0; chat-ttl 60; }
            tts { enabled #false; voice "en-gb"; max-chars 99; }
            safety { max-input-chars 100; pii-redaction #true; blocked-terms "secret"; }
            resolution { header "always"; }
        "#),
        json(
            r#""rag": { "chunk_size": 1000, "overlap": 50, "top_k": 3, "min_score": 0.25 },
            "sessions": { "retention_days": 7, "max_messages": 20 },
            "cache": { "search_ttl": 0, "chat_ttl": 60 },
            "tts": { "enabled": false, "voice": "en-gb", "max_chars": 99 },
            "safety": { "max_input_chars": 100, "pii_redaction": true, "blocked_terms": ["secret"] },
            "resolution": { "header": "always" }"#,
        ),
        jsonc(
            r#""rag": { "chunk_size": 1000, "overlap": 50, "top_k": 3, "min_score": 0.25, },
            // comment
            "sessions": { "retention_days": 7, "max_messages": 20 },
            "cache": { "search_ttl": 0, "chat_ttl": 60 },
            "tts": { "enabled": false, "voice": "en-gb", "max_chars": 99 },
            "safety": { "max_input_chars": 100, "pii_redaction": true, "blocked_terms": ["secret",], },
            "resolution": { "header": "always" }"#,
        ),
    ]);
    assert_eq!((t.rag.chunk_size, t.rag.top_k, t.rag.min_score), (1000, 3, 0.25));
    assert_eq!((t.sessions.retention_days, t.cache.chat_ttl, t.tts.max_chars), (7, 60, 99));
    assert_eq!(t.sessions.retention_secs, 7 * 86_400);
    assert_eq!(t.safety.blocked_terms, vec!["secret"]);
    assert_eq!(t.header_policy, resolved::HeaderPolicy::Always);
    assert!(t.envs.iter().all(|e| e.header_allowed));
}

#[test]
fn sessions_retention_in_seconds_resolves_alike() {
    let t = same_tenant(&[
        kdl("sessions retention-seconds=120 max-messages=20"),
        kdl("sessions { retention-seconds 120; max-messages 20; }"),
        json(r#""sessions": { "retention_seconds": 120, "max_messages": 20 }"#),
        jsonc(r#""sessions": { "max_messages": 20, "retention_seconds": 120, }"#),
    ]);
    let s = &t.sessions;
    // The days are rounded up: a retention of two minutes is "1 day" there.
    assert_eq!((s.retention_secs, s.retention_days, s.max_messages), (120, 1, 20));
    let long = same_tenant(&[
        kdl("sessions retention-seconds=31536000"),
        json(r#""sessions": { "retention_seconds": 31536000 }"#),
    ]);
    assert_eq!((long.sessions.retention_secs, long.sessions.retention_days), (31_536_000, 365));
    let odd = same_tenant(&[
        kdl("sessions retention-seconds=86401"),
        json(r#""sessions": { "retention_seconds": 86401 }"#),
    ]);
    assert_eq!((odd.sessions.retention_secs, odd.sessions.retention_days), (86_401, 2));
}

#[test]
fn sessions_retention_in_days_is_in_seconds_too() {
    let t = same_tenant(&[
        kdl("sessions retention-days=7"),
        json(r#""sessions": { "retention_days": 7 }"#),
        // The same retention written in seconds resolves to the same model.
        kdl("sessions retention-seconds=604800"),
        json(r#""sessions": { "retention_seconds": 604800 }"#),
    ]);
    assert_eq!((t.sessions.retention_days, t.sessions.retention_secs), (7, 604_800));
}

#[test]
fn sessions_retention_defaults_to_30_days() {
    let t = same_tenant(&[kdl(""), json(""), kdl("sessions max-messages=200"), json(r#""sessions": {}"#)]);
    assert_eq!((t.sessions.retention_days, t.sessions.retention_secs), (30, 2_592_000));
}

#[test]
fn shorthand_several_blocked_terms() {
    let t = same_tenant(&[
        kdl(r#"safety { blocked-terms "a" "b c"; }"#),
        json(r#""safety": { "blocked_terms": ["a", "b c"] }"#),
    ]);
    assert_eq!(t.safety.blocked_terms, vec!["a", "b c"]);
}

#[test]
fn shorthand_tenant_id_argument() {
    let body = format!("{ENVS_KDL}\n{AI_KDL}\n{AUTH_KDL}");
    let t = same_tenant(&[
        ("t.kdl", tenant_kdl(&body)),
        ("t.kdl", format!("tenant id=\"t\" {{\n name \"T\"\n account \"main\"\n{body}\n}}")),
        ("t.kdl", format!("tenant {{\n id \"t\"\n name \"T\"\n account \"main\"\n{body}\n}}")),
        json(""),
    ]);
    assert_eq!(t.id, "t");
}

// ------------------------------------------------------------------ platform and accounts shorthands

fn platform_model(platform_file: &str, text: &str) -> Model {
    let tenant = tenant_kdl(&format!("{ENVS_KDL}\n{AI_KDL}"));
    let dir = dir_with(&[
        (platform_file.into(), text.into()),
        ("accounts.kdl".into(), ACCOUNTS_KDL.into()),
        ("t.kdl".into(), tenant),
    ]);
    compile_ok(dir.path(), &format!("{platform_file}:\n{text}"))
}

#[test]
fn shorthand_platform_forms() {
    let kdl_props = r#"
platform "shorthand" {
    compatibility-date "2026-11-01"
    compatibility-flags "nodejs_compat"
    environment "dev"
    environment "prod" development=#false workers-dev=#true
    kv CACHE
    durable-object SESSIONS class="ChatSession"
    durable-object AUDIT class="AuditLog"
    analytics-engine EVENTS dataset="events"
    ai AI
    tool "summarize"
    tool "ingest-docs" roles="admin"
    tool "extract-entities" {
        roles "admin" "analyst"
    }
}
"#;
    let kdl_children = r#"
platform {
    worker "shorthand"
    compatibility-date "2026-11-01"
    compatibility-flags "nodejs_compat"
    environment "dev" {}
    environment "prod" {
        development #false
        workers-dev #true
    }
    kv "CACHE"
    durable-object SESSIONS { class "ChatSession"; }
    durable-object AUDIT { class "AuditLog"; }
    analytics-engine EVENTS { dataset "events"; }
    ai AI
    tool "summarize" {}
    tool "ingest-docs" { roles "admin"; }
    tool "extract-entities" roles="admin" {
        description ""
    }
}
"#;
    let json = r#"{
  "worker": "shorthand",
  "compatibility_date": "2026-11-01",
  "compatibility_flags": ["nodejs_compat"],
  "environments": { "dev": {}, "prod": { "development": false, "workers_dev": true } },
  "bindings": {
    "CACHE": { "type": "kv" },
    "SESSIONS": { "type": "durable-object", "class": "ChatSession" },
    "AUDIT": { "type": "durable-object", "class": "AuditLog" },
    "EVENTS": { "type": "analytics-engine", "dataset": "events" },
    "AI": { "type": "ai" }
  },
  "tools": {
    "summarize": {},
    "ingest-docs": { "roles": ["admin"] },
    "extract-entities": { "roles": ["admin", "analyst"] }
  }
}"#;
    let a = platform_model("platform.kdl", kdl_props);
    let c = platform_model("platform.json", json);
    assert_models_eq(&a, &c, "platform.kdl (properties) vs platform.json");
    // The children form differs only in extract-entities's roles (one, not two).
    let mut b = platform_model("platform.kdl", kdl_children);
    let ws = b.platform.tools.iter_mut().find(|t| t.name == "extract-entities").unwrap();
    assert_eq!(ws.roles, vec!["admin"]);
    ws.roles.push("analyst".into());
    assert_models_eq(&a, &b, "platform.kdl (properties) vs platform.kdl (children)");
    assert_eq!(a.platform.compatibility_flags, vec!["nodejs_compat"]);
    let prod = &a.platform.environments[1];
    assert_eq!((prod.name.as_str(), prod.development, prod.workers_dev), ("prod", false, true));
    let dev = &a.platform.environments[0];
    assert_eq!((dev.name.as_str(), dev.development, dev.workers_dev), ("dev", true, true));
}

#[test]
fn shorthand_environment_without_settings() {
    let base = |envs: &str| format!("platform \"shorthand\" {{\n compatibility-date \"2026-11-01\"\n {envs}\n kv CACHE\n ai AI\n}}");
    let json = |envs: &str| {
        format!(
            r#"{{ "worker": "shorthand", "compatibility_date": "2026-11-01", "environments": {{ {envs} }}, "bindings": {{ "CACHE": {{ "type": "kv" }}, "AI": {{ "type": "ai" }} }} }}"#
        )
    };
    let m = platform_model("platform.kdl", &base("environment \"dev\"\n environment \"prod\""));
    for (file, text) in [
        ("platform.kdl", base("environment \"dev\" {}\n environment \"prod\" {}")),
        ("platform.json", json(r#""dev": {}, "prod": {}"#)),
        ("platform.jsonc", json(r#""dev": {}, "prod": {},"#)),
    ] {
        let other = platform_model(file, &text);
        assert_models_eq(&m, &other, &format!("{file}:\n{text}"));
    }
}

#[test]
fn shorthand_accounts_properties_or_children() {
    let tenant = tenant_kdl(&format!("{ENVS_KDL}\n{AI_KDL}"));
    let model = |file: &str, text: &str| {
        let dir = dir_with(&[
            ("platform.kdl".into(), PLATFORM_KDL.into()),
            (file.into(), text.into()),
            ("t.kdl".into(), tenant.clone()),
        ]);
        compile_ok(dir.path(), &format!("{file}:\n{text}"))
    };
    let a = model("accounts.kdl", ACCOUNTS_KDL);
    let b = model(
        "accounts.kdl",
        "account \"main\" {\n account-id \"0123456789abcdef0123456789abcdef\"\n token-env \"CF_API_TOKEN\"\n}",
    );
    let c = model(
        "accounts.json",
        r#"{ "accounts": { "main": { "account_id": "0123456789abcdef0123456789abcdef", "token_env": "CF_API_TOKEN" } } }"#,
    );
    assert_models_eq(&a, &b, "accounts.kdl: properties vs children");
    assert_models_eq(&a, &c, "accounts.kdl vs accounts.json");
    assert_eq!(a.accounts.len(), 1);
    assert_eq!(a.accounts[0].token_env, "CF_API_TOKEN");
}

/// Every auth construct, KDL and JSON: an environment's `auth` replaces the
/// tenant-level one; keys are sorted by `kid`, algorithms canonically.
#[test]
fn auth_in_kdl_and_json_resolves_alike() {
    use common::keys::*;
    use resolved::{JwtAlg, KeySource};
    let kdl_text = tenant_kdl(&format!(
        r#"
    env "dev" {{
        host "t.localhost"
        kv CACHE id="00000000000000000000000000000001"
        auth {{ none #true; api-keys #true }}
    }}
    env "prod" {{
        host "t.example.com"
        kv CACHE id="00000000000000000000000000000002"
    }}
    {AI_KDL}
    auth {{
        jwt issuer="https://login.t.example.com/" audience="t-api" {{
            algorithms "EdDSA" "RS256" "ES256"
            user-claim "email"
            roles-claim "https://t.example.com/roles"
            clock-skew 30
            key kid="rsa-1" kty="RSA" alg="RS256" use="sig" n="{RSA_N}" e="AQAB"
            key kid="ec-1" kty="EC" crv="P-256" x="{EC_X}" y="{EC_Y}"
            key kid="ed-1" kty="OKP" crv="Ed25519" x="{ED_X}"
        }}
        access team-domain="t.cloudflareaccess.com" audience="{AUD}" {{
            certs-url "https://t.cloudflareaccess.com/cdn-cgi/access/certs"
        }}
        api-keys kv="CACHE"
        none #false
    }}"#
    ));
    let json_text = tenant_json(&format!(
        r#"  "envs": {{
    "dev": {{
      "hosts": ["t.localhost"],
      "kv": {{ "CACHE": {{ "id": "00000000000000000000000000000001" }} }},
      "auth": {{ "none": true, "api_keys": true }}
    }},
    "prod": {{ "hosts": ["t.example.com"], "kv": {{ "CACHE": {{ "id": "00000000000000000000000000000002" }} }} }}
  }},
  {AI_JSON},
  "auth": {{
    "jwt": {{
      "issuer": "https://login.t.example.com/",
      "audience": "t-api",
      "algorithms": ["EdDSA", "RS256", "ES256"],
      "user_claim": "email",
      "roles_claim": "https://t.example.com/roles",
      "clock_skew": 30,
      "keys": [
        {{ "kid": "rsa-1", "kty": "RSA", "alg": "RS256", "use": "sig", "n": "{RSA_N}", "e": "AQAB" }},
        {{ "kid": "ec-1", "kty": "EC", "crv": "P-256", "x": "{EC_X}", "y": "{EC_Y}" }},
        {{ "kid": "ed-1", "kty": "OKP", "crv": "Ed25519", "x": "{ED_X}" }}
      ]
    }},
    "access": {{
      "team_domain": "t.cloudflareaccess.com",
      "audience": "{AUD}",
      "certs_url": "https://t.cloudflareaccess.com/cdn-cgi/access/certs"
    }},
    "api_keys": {{ "kv": "CACHE" }},
    "none": false
  }}"#
    ));
    let t = same_tenant(&[("t.kdl", kdl_text), ("t.json", json_text)]);
    let env = |name: &str| &t.envs.iter().find(|e| e.name == name).unwrap().auth;
    let dev = env("dev");
    assert!(dev.none && dev.jwt.is_none() && dev.access.is_none(), "{dev:?}");
    assert_eq!(dev.api_keys.as_ref().unwrap().kv_binding, "CACHE");
    let prod = env("prod");
    assert!(!prod.none);
    assert_eq!(prod.methods(), ["jwt", "access", "api-keys"]);
    let jwt = prod.jwt.as_ref().unwrap();
    assert_eq!(jwt.algorithms, [JwtAlg::Rs256, JwtAlg::Es256, JwtAlg::EdDsa]);
    assert_eq!((jwt.user_claim.as_str(), jwt.clock_skew_secs), ("email", 30));
    let KeySource::Inline(keys) = &jwt.keys else {
        panic!("{:?}", jwt.keys)
    };
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["ec-1", "ed-1", "rsa-1"]);
    let access = prod.access.as_ref().unwrap();
    assert_eq!(access.issuer, "https://t.cloudflareaccess.com");
    assert_eq!(
        access.keys,
        KeySource::Url("https://t.cloudflareaccess.com/cdn-cgi/access/certs".into())
    );
}

/// Without `auth` defaults: JWT claims, skew and RS256; Access's certs URL
/// from the team domain; API keys in the platform's only KV binding.
#[test]
fn auth_defaults_are_filled_in() {
    use common::keys::AUD;
    use resolved::{JwtAlg, KeySource};
    let t = same_tenant(&[
        kdl(&format!(
            r#"auth {{
        jwt issuer="i" audience="a" {{ jwks-url "https://idp.example.com/jwks"; }}
        access team-domain="t.cloudflareaccess.com" audience="{AUD}"
        api-keys
    }}"#
        )),
        json(&format!(
            r#"  "auth": {{
    "jwt": {{ "issuer": "i", "audience": "a", "jwks_url": "https://idp.example.com/jwks" }},
    "access": {{ "team_domain": "t.cloudflareaccess.com", "audience": "{AUD}" }},
    "api_keys": {{}}
  }}"#
        )),
    ]);
    for e in &t.envs {
        let jwt = e.auth.jwt.as_ref().unwrap();
        assert_eq!(jwt.algorithms, [JwtAlg::Rs256]);
        assert_eq!(
            (jwt.user_claim.as_str(), jwt.roles_claim.as_str(), jwt.clock_skew_secs),
            ("sub", "roles", 60)
        );
        assert_eq!(jwt.keys, KeySource::Url("https://idp.example.com/jwks".into()));
        let access = e.auth.access.as_ref().unwrap();
        assert_eq!(
            access.keys,
            KeySource::Url("https://t.cloudflareaccess.com/cdn-cgi/access/certs".into())
        );
        assert_eq!(e.auth.api_keys.as_ref().unwrap().kv_binding, "CACHE");
        assert!(!e.auth.none);
    }
}

/// Without Vectorize or a queue: no vector index, no ingest queue; the RAG
/// defaults (vector search only, no reranking, documents added by `admin`).
#[test]
fn rag_defaults_without_a_vectorize_binding_or_a_queue() {
    let t = same_tenant(&[kdl(""), json(""), jsonc("")]);
    assert_eq!(
        (t.rag.hybrid, t.rag.rerank_model.as_deref(), t.rag.ingest_role.as_str()),
        (false, None, "admin")
    );
    assert_eq!(t.rag.embedding_dimensions, 0);
    for e in &t.envs {
        assert_eq!(e.vector_index, resolved::VectorIndex::None);
        assert_eq!(e.ingest_queue, None);
    }
}

#[test]
fn shorthand_rag_hybrid_rerank_and_ingest_role() {
    let t = same_tenant(&[
        kdl(r#"    rag hybrid=#true rerank="@cf/baai/bge-reranker-base" ingest-role="editor""#),
        kdl(r#"    rag { hybrid #true; rerank "@cf/baai/bge-reranker-base"; ingest-role "editor"; }"#),
        json(r#"  "rag": { "hybrid": true, "rerank": "@cf/baai/bge-reranker-base", "ingest_role": "editor" }"#),
    ]);
    assert!(t.rag.hybrid);
    assert_eq!(t.rag.rerank_model.as_deref(), Some("@cf/baai/bge-reranker-base"));
    assert_eq!(t.rag.ingest_role, "editor");
}

/// The examples: development environments search the local index (the
/// `DocIndex` object), the others the tenant's Vectorize index; every
/// environment ingests through the `INGEST` queue.
#[test]
fn examples_pick_the_local_index_in_development_and_vectorize_elsewhere() {
    let m = original_model();
    for t in &m.tenants {
        assert_eq!(t.rag.embedding_dimensions, 768, "{}", t.id);
        for e in &t.envs {
            let want = if e.name == "dev" {
                resolved::VectorIndex::Local {
                    object: "DOC_INDEX".into(),
                }
            } else {
                resolved::VectorIndex::Vectorize { binding: "DOCS".into() }
            };
            assert_eq!(e.vector_index, want, "{} {}", t.id, e.name);
            assert_eq!(e.ingest_queue.as_deref(), Some("INGEST"), "{} {}", t.id, e.name);
            let queue = e.resources.iter().find_map(|r| match &r.kind {
                resolved::ResourceKind::Queue { name } => Some(name.as_str()),
                _ => None,
            });
            let suffix = if e.name == "prod" { String::new() } else { format!("-{}", e.name) };
            assert_eq!(queue, Some(format!("{}-ingest{suffix}", t.id).as_str()));
        }
    }
    let acme = m.tenants.iter().find(|t| t.id == "acme").unwrap();
    assert!(acme.rag.hybrid);
    assert_eq!(acme.rag.rerank_model.as_deref(), Some("@cf/baai/bge-reranker-base"));
    let globex = m.tenants.iter().find(|t| t.id == "globex").unwrap();
    assert_eq!(
        (
            globex.rag.hybrid,
            globex.rag.rerank_model.as_deref(),
            globex.rag.ingest_role.as_str()
        ),
        (true, None, "admin")
    );
}
