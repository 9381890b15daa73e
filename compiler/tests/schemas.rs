//! The JSON Schemas in `schemas/` against the compiler.
//!
//! - the committed files are what `schema::render_all()` produces;
//! - each is a valid JSON Schema (meta-schema), and compiles (regexes);
//! - every JSON/JSONC example and fixture names its schema in `$schema` and
//!   validates against it;
//! - broken documents that violate a structural rule are rejected by the
//!   schema AND by the compiler (a hand-written table, then mutations
//!   generated from the schema itself over every object type);
//! - the decoder's key lists and enumerations in `raw/mod.rs` equal the
//!   properties and enums of the matching schema definitions.
//!
//! Where the schema and the compiler knowingly disagree, the disagreement is
//! listed in [`KNOWN_MISMATCHES`] with the reason; the list is checked both
//! ways, so a fix that removes a mismatch must also remove its entry.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};
use tenants_compiler::emit::schema;
use tenants_compiler::{diag::Severity, raw};

// ------------------------------------------------------------------ schemas and documents

const KINDS: [&str; 3] = ["tenant", "platform", "accounts"];

fn kind_of_stem(stem: &str) -> &'static str {
    match stem {
        "platform" => "platform",
        "accounts" => "accounts",
        _ => "tenant",
    }
}

/// The committed schema of a document kind.
fn schema_doc(kind: &str) -> &'static Value {
    static DOCS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    let docs = DOCS.get_or_init(|| {
        KINDS
            .iter()
            .map(|k| (k.to_string(), read_json(&schemas_dir().join(format!("{k}.schema.json")))))
            .collect()
    });
    &docs[kind]
}

fn validator(kind: &str) -> &'static jsonschema::Validator {
    static VALIDATORS: OnceLock<BTreeMap<String, jsonschema::Validator>> = OnceLock::new();
    let v = VALIDATORS.get_or_init(|| {
        KINDS
            .iter()
            .map(|k| {
                let v = jsonschema::validator_for(schema_doc(k)).unwrap_or_else(|e| panic!("{k}.schema.json does not compile: {e}"));
                (k.to_string(), v)
            })
            .collect()
    });
    &v[kind]
}

/// Schema errors for a document, as `pointer: message` lines (empty: valid).
fn schema_errors(kind: &str, doc: &Value) -> Vec<String> {
    validator(kind)
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path().as_str()))
        .collect()
}

/// The example files (name, text), read once.
fn examples() -> &'static [(String, String)] {
    static EX: OnceLock<Vec<(String, String)>> = OnceLock::new();
    EX.get_or_init(example_files)
}

/// Compile the examples with the file of `stem` replaced by `doc` (written
/// as `<stem>.json`); returns the codes of the errors (and their text).
fn compile_replacing(stem: &str, doc: &Value) -> (BTreeSet<&'static str>, String) {
    let mut files: Vec<(String, String)> = examples()
        .iter()
        .filter(|(n, _)| n.rsplit_once('.').map(|(s, _)| s) != Some(stem))
        .cloned()
        .collect();
    files.push((format!("{stem}.json"), serde_json::to_string_pretty(doc).unwrap()));
    let dir = dir_with(&files);
    let c = compile(dir.path());
    let codes = c
        .diagnostics
        .items
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.code)
        .collect();
    (codes, render(&c))
}

/// The JSON base document for a stem: the example if it is JSON/JSONC,
/// otherwise its JSON mirror from the equivalence fixtures. The platform
/// also gets a custom model so that `ModelDef` has an instance.
fn base_doc(stem: &str) -> Value {
    static BASES: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    let bases = BASES.get_or_init(|| {
        let mut out = BTreeMap::new();
        for dir in [examples_dir(), mirrors_dir()] {
            for p in config_files(&dir) {
                let s = common::stem(&p).to_string();
                if p.extension().is_some_and(|e| e != "kdl") && !out.contains_key(&s) {
                    out.insert(s, read_json(&p));
                }
            }
        }
        if let Some(p) = out.get_mut("platform") {
            p.as_object_mut().unwrap().insert(
                "models".into(),
                json!({ "@cf/tests/custom-embed": { "task": "text-embeddings", "dimensions": 768 } }),
            );
            // And an allow-list entry, so that `NotSecretDef` has one.
            p.as_object_mut().unwrap().insert(
                "not_secrets".into(),
                json!({ "Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1": { "reason": "a public site key" } }),
            );
        }
        // An inline public key, so that `Jwk` has an instance: acme's dev
        // environment also accepts tokens signed by a local test key.
        if let Some(a) = out.get_mut("acme") {
            a.pointer_mut("/envs/dev/auth").unwrap().as_object_mut().unwrap().insert(
                "jwt".into(),
                json!({
                    "issuer": "http://127.0.0.1:8787/",
                    "audience": "acme-dev",
                    "keys": [{ "kid": "dev-1", "kty": "RSA", "alg": "RS256", "use": "sig", "n": keys::RSA_N, "e": "AQAB" }]
                }),
            );
        }
        out
    });
    bases
        .get(stem)
        .unwrap_or_else(|| panic!("no JSON/JSONC document for `{stem}` in tenants/ or the equivalence fixtures"))
        .clone()
}

fn json_files() -> Vec<PathBuf> {
    [examples_dir(), mirrors_dir()]
        .iter()
        .flat_map(|d| config_files(d))
        .filter(|p| p.extension().is_some_and(|e| e != "kdl"))
        .collect()
}

// ------------------------------------------------------------------ (a) committed = rendered

#[test]
fn committed_schemas_are_up_to_date() {
    let rendered = schema::render_all();
    let names: BTreeSet<String> = rendered.iter().map(|(n, _)| n.to_string()).collect();
    let expected: BTreeSet<String> = KINDS.iter().map(|k| format!("{k}.schema.json")).collect();
    assert_eq!(names, expected, "render_all() names");
    for (name, text) in &rendered {
        let path = schemas_dir().join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            committed == *text,
            "{} is stale: run `cargo run --bin tenants -- schema --out schemas` and commit the result",
            path.display()
        );
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(schemas_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    assert_eq!(on_disk, expected, "schema files in schemas/ that render_all() does not produce");
    assert_eq!(
        schema::stale_files(&schemas_dir(), &rendered),
        Vec::<String>::new(),
        "stale_files on schemas/"
    );
}

/// `stale_files` (behind `tenants schema --check`) reports missing and
/// differing files, and `*.schema.json` files that are not generated.
#[test]
fn stale_files_reports_missing_changed_and_unexpected_schemas() {
    let rendered = schema::render_all();
    let mut files: Vec<(String, String)> = rendered.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    files.push(("notes.json".into(), "{}".into()));
    let dir = dir_with(&files);
    assert_eq!(schema::stale_files(dir.path(), &rendered), Vec::<String>::new(), "fresh directory");

    std::fs::write(dir.path().join("old.schema.json"), "{}").unwrap();
    std::fs::write(dir.path().join("platform.schema.json"), "{}").unwrap();
    std::fs::remove_file(dir.path().join("accounts.schema.json")).unwrap();
    let stale = schema::stale_files(dir.path(), &rendered);
    let path = |n: &str| dir.path().join(n).display().to_string();
    assert_eq!(stale.len(), 3, "{stale:#?}");
    assert_eq!(stale[0], path("platform.schema.json"));
    assert_eq!(stale[1], path("accounts.schema.json"));
    assert!(
        stale[2].starts_with(&path("old.schema.json")) && stale[2].contains("unexpected"),
        "{stale:#?}"
    );
}

// ------------------------------------------------------------------ (b) valid JSON Schemas

#[test]
fn schemas_are_valid_json_schemas() {
    for kind in KINDS {
        let s = schema_doc(kind);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{kind}: unexpected draft"
        );
        // Self-contained: no `$id` (documents name the file by a relative `$schema` path).
        assert!(s.get("$id").is_none(), "{kind}: unexpected $id {}", s["$id"]);
        if let Err(e) = jsonschema::meta::validate(s) {
            panic!("{kind}.schema.json violates its meta-schema at {}: {e}", e.instance_path().as_str());
        }
        // Builds (every `pattern` compiles, every `$ref` resolves).
        validator(kind);
        // Every `$ref` points at an existing definition.
        let mut refs = Vec::new();
        collect_refs(s, &mut refs);
        for r in refs {
            let name = r.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("{kind}: non-local $ref {r}"));
            assert!(s["$defs"].get(name).is_some(), "{kind}: dangling $ref {r}");
        }
        // The schema's own examples validate.
        if let Some(examples) = s.get("examples").and_then(Value::as_array) {
            for ex in examples {
                let errs = schema_errors(kind, ex);
                assert!(errs.is_empty(), "{kind}: the schema's example is invalid: {errs:#?}");
            }
        }
    }
}

/// Every property of every object in the schemas (root, `$defs`, binding
/// variants) has a description, and every `examples` entry anywhere is valid
/// against the schema it sits in.
#[test]
fn every_property_is_described_and_examples_validate() {
    let mut failures = Vec::new();
    for kind in KINDS {
        let s = schema_doc(kind);
        let mut objects: Vec<(String, &Value)> = vec![("(root)".into(), s)];
        for (name, d) in s["$defs"].as_object().unwrap() {
            objects.push((name.clone(), d));
            for v in d.get("oneOf").and_then(Value::as_array).into_iter().flatten() {
                objects.push((format!("{name}[{}]", v["properties"]["type"]["const"]), v));
            }
        }
        for (name, o) in objects {
            for (prop, p) in o.get("properties").and_then(Value::as_object).into_iter().flatten() {
                match p.get("description").and_then(Value::as_str) {
                    Some(d) if !d.trim().is_empty() => {}
                    _ => failures.push(format!("{kind}: {name}.{prop} has no description")),
                }
            }
        }
        let mut with_examples = Vec::new();
        collect_examples(s, "", &mut with_examples);
        for (ptr, sub) in with_examples {
            // The subschema, with the document's `$defs` so that its `$ref`s resolve.
            let mut doc = sub.clone();
            let obj = doc.as_object_mut().unwrap();
            obj.insert("$schema".into(), s["$schema"].clone());
            obj.insert("$defs".into(), s["$defs"].clone());
            let v = jsonschema::validator_for(&doc).unwrap_or_else(|e| panic!("{kind}{ptr}: {e}"));
            for ex in sub["examples"].as_array().unwrap() {
                if !v.is_valid(ex) {
                    failures.push(format!("{kind}: example {ex} at {ptr} does not validate"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (JSON pointer, subschema) of every subschema below the root that has `examples`.
fn collect_examples<'a>(v: &'a Value, ptr: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(o) => {
            if !ptr.is_empty() && o.contains_key("examples") {
                out.push((ptr.to_string(), v));
            }
            for (k, x) in o {
                if k != "examples" {
                    collect_examples(x, &format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| collect_examples(x, &format!("{ptr}/{i}"), out)),
        _ => {}
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Every regex of the schemas agrees with the compiler's own checks on a
/// few probes (lookaheads must be supported by the regex engine).
#[test]
fn schema_patterns_use_supported_regex_features() {
    let s = schema_doc("tenant");
    let id = &s["properties"]["id"];
    let v = jsonschema::validator_for(id).unwrap();
    for (probe, ok) in [
        ("acme", true),
        ("a-b", true),
        ("a--b", false),
        ("a-", false),
        ("-a", false),
        ("Acme", false),
    ] {
        assert_eq!(v.is_valid(&json!(probe)), ok, "tenant id pattern on {probe:?}");
    }
}

// ------------------------------------------------------------------ (c) examples validate

#[test]
fn json_examples_name_their_schema_and_validate() {
    let files = json_files();
    assert!(files.len() >= 4, "expected JSON/JSONC examples and fixtures, found {files:?}");
    let mut failures = Vec::new();
    for path in files {
        let kind = kind_of_stem(common::stem(&path));
        let doc = read_json(&path);
        let want = schemas_dir().join(format!("{kind}.schema.json")).canonicalize().unwrap();
        match doc.get("$schema").and_then(Value::as_str) {
            None => failures.push(format!("{}: no \"$schema\"", path.display())),
            Some(s) => {
                let target = path.parent().unwrap().join(s);
                if target.canonicalize().ok() != Some(want.clone()) {
                    failures.push(format!(
                        "{}: \"$schema\": {s:?} does not point at {}",
                        path.display(),
                        want.display()
                    ));
                }
            }
        }
        let errs = schema_errors(kind, &doc);
        if !errs.is_empty() {
            failures.push(format!(
                "{} does not validate against {kind}.schema.json:\n  {}",
                path.display(),
                errs.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The base documents of the mutation tests are valid for both.
#[test]
fn base_documents_are_valid() {
    for stem in ["acme", "globex", "initech", "platform", "accounts"] {
        let doc = base_doc(stem);
        let kind = kind_of_stem(stem);
        let errs = schema_errors(kind, &doc);
        assert!(errs.is_empty(), "{stem}: {errs:#?}");
        let (codes, text) = compile_replacing(stem, &doc);
        assert!(codes.is_empty(), "{stem}.json:\n{text}");
    }
}

// ------------------------------------------------------------------ (d) broken documents, by hand

enum Edit {
    /// Set the value at a JSON pointer (the parent must exist).
    Set(&'static str, Value),
    /// Remove the member at a JSON pointer.
    Remove(&'static str),
    /// Rename a member of the object at a pointer.
    Rename(&'static str, &'static str, &'static str),
}

fn apply(doc: &mut Value, edit: &Edit) {
    let split = |p: &str| -> (String, String) {
        let (parent, last) = p.rsplit_once('/').expect("a pointer");
        (parent.to_string(), last.replace("~1", "/").replace("~0", "~"))
    };
    match edit {
        Edit::Set(p, v) => {
            let (parent, last) = split(p);
            match doc.pointer_mut(&parent).unwrap_or_else(|| panic!("no {parent}")) {
                Value::Object(o) => {
                    o.insert(last, v.clone());
                }
                Value::Array(a) => a[last.parse::<usize>().unwrap()] = v.clone(),
                other => panic!("{parent} is {other}"),
            }
        }
        Edit::Remove(p) => {
            let (parent, last) = split(p);
            let o = doc
                .pointer_mut(&parent)
                .and_then(Value::as_object_mut)
                .unwrap_or_else(|| panic!("no object {parent}"));
            assert!(o.shift_remove(&last).is_some(), "nothing at {p}");
        }
        Edit::Rename(p, from, to) => {
            let o = doc
                .pointer_mut(p)
                .and_then(Value::as_object_mut)
                .unwrap_or_else(|| panic!("no object {p}"));
            let v = o.shift_remove(*from).unwrap_or_else(|| panic!("no {from} in {p}"));
            o.insert(to.to_string(), v);
        }
    }
}

struct Broken {
    what: &'static str,
    /// Stem of the base document (see [`base_doc`]).
    stem: &'static str,
    edits: Vec<Edit>,
    /// A diagnostic code the compiler must report.
    code: &'static str,
}

fn broken_cases() -> Vec<Broken> {
    use Edit::*;
    let b = |what, stem, edits, code| Broken { what, stem, edits, code };
    vec![
        // unknown keys
        b(
            "unknown top-level key",
            "globex",
            vec![Set("/colour", json!("red"))],
            "schema::unknown-key",
        ),
        b(
            "unknown key in ai.chat",
            "globex",
            vec![Set("/ai/chat/top_p", json!(0.9))],
            "schema::unknown-key",
        ),
        b(
            "unknown key in an env",
            "globex",
            vec![Set("/envs/dev/host", json!("x.example.com"))],
            "schema::unknown-key",
        ),
        b(
            "unknown key in a binding",
            "platform",
            vec![Set("/bindings/CACHE/id", json!("x"))],
            "schema::unknown-key",
        ),
        b(
            "unknown key in an account",
            "accounts",
            vec![Set("/accounts/acme/token", json!("x"))],
            "schema::unknown-key",
        ),
        // AI providers and fallbacks
        b(
            "unknown AI provider kind",
            "globex",
            vec![Set("/envs/dev/ai_provider/kind", json!("ollama"))],
            "tenant::ai::provider-unknown",
        ),
        b(
            "openai-compatible provider without base_url",
            "globex",
            vec![Remove("/envs/dev/ai_provider/base_url")],
            "schema::missing",
        ),
        b(
            "base_url over http to a public host",
            "globex",
            vec![Set("/envs/dev/ai_provider/base_url", json!("http://llm.globex.example.org/v1"))],
            "tenant::ai::base-url",
        ),
        b(
            "base_url with a query",
            "globex",
            vec![Set(
                "/envs/dev/ai_provider/base_url",
                json!("https://llm.globex.example.org/v1?x=1"),
            )],
            "tenant::ai::base-url",
        ),
        b(
            "a gateway setting on an openai-compatible provider",
            "globex",
            vec![Set("/envs/dev/ai_provider/token_secret", json!("GATEWAY_TOKEN"))],
            "tenant::ai::provider-field",
        ),
        b(
            "a setting on a workers-ai provider",
            "acme",
            vec![Set("/envs/stage/ai_provider/model", json!("llama3.2"))],
            "tenant::ai::provider-field",
        ),
        b(
            "a fallback listed twice",
            "globex",
            vec![Set(
                "/ai/routes/chat/fallbacks",
                json!(["@cf/meta/llama-3.2-3b-instruct", "@cf/meta/llama-3.2-3b-instruct"]),
            )],
            "tenant::ai::fallback",
        ),
        b(
            "six fallbacks",
            "acme",
            vec![Set(
                "/ai/chat/fallbacks",
                json!([
                    "@cf/meta/llama-3.1-8b-instruct-fast",
                    "@cf/meta/llama-3.2-1b-instruct",
                    "@cf/meta/llama-3.2-3b-instruct",
                    "@cf/google/gemma-3-12b-it",
                    "@cf/qwen/qwq-32b",
                    "@cf/openai/gpt-oss-20b"
                ]),
            )],
            "tenant::ai::fallback",
        ),
        b(
            "an empty route fallbacks list",
            "globex",
            vec![Set("/ai/routes/chat/fallbacks", json!([]))],
            "tenant::ai::fallback",
        ),
        // wrong types
        b("name is a number", "globex", vec![Set("/name", json!(42))], "schema::type"),
        b("top_k is a string", "globex", vec![Set("/rag/top_k", json!("8"))], "schema::type"),
        b(
            "hosts is a string, not a list",
            "globex",
            vec![Set("/envs/dev/hosts", json!("globex.localhost"))],
            "schema::type",
        ),
        b(
            "roles is a string, not a list",
            "globex",
            vec![Set("/tools/extract-entities/roles", json!("analyst"))],
            "schema::type",
        ),
        b(
            "pii_redaction is a string",
            "globex",
            vec![Set("/safety/pii_redaction", json!("yes"))],
            "schema::type",
        ),
        b(
            "a var value is a number",
            "globex",
            vec![Set("/vars/LOG_LEVEL", json!(3))],
            "schema::type",
        ),
        b(
            "a blocked term is a number",
            "globex",
            vec![Set("/safety/blocked_terms", json!([1]))],
            "schema::type",
        ),
        b(
            "development is a string",
            "platform",
            vec![Set("/environments/dev/development", json!("true"))],
            "schema::type",
        ),
        // out of range
        b("top_k above 50", "globex", vec![Set("/rag/top_k", json!(51))], "schema::range"),
        b(
            "temperature above 2",
            "globex",
            vec![Set("/ai/chat/temperature", json!(2.5))],
            "schema::range",
        ),
        b(
            "max_tokens above 131072",
            "globex",
            vec![Set("/ai/chat/max_tokens", json!(131_073))],
            "schema::range",
        ),
        b(
            "rate limit shorthand 0",
            "globex",
            vec![Set("/rate_limits/user", json!(0))],
            "schema::range",
        ),
        b(
            "negative cache ttl",
            "globex",
            vec![Set("/cache/chat_ttl", json!(-1))],
            "schema::range",
        ),
        b(
            "retention_seconds below a minute",
            "globex",
            vec![Remove("/sessions/retention_days"), Set("/sessions/retention_seconds", json!(59))],
            "tenant::sessions::retention-range",
        ),
        b(
            "retention_seconds above 365 days",
            "globex",
            vec![
                Remove("/sessions/retention_days"),
                Set("/sessions/retention_seconds", json!(31_536_001)),
            ],
            "tenant::sessions::retention-range",
        ),
        b(
            "vectorize dimensions 0",
            "platform",
            vec![Set("/bindings/DOCS/dimensions", json!(0))],
            "schema::range",
        ),
        // bad enum values
        b(
            "unknown rate-limit window",
            "globex",
            vec![Set("/rate_limits/ip/per", json!("fortnight"))],
            "schema::enum",
        ),
        b(
            "unknown header policy",
            "globex",
            vec![Set("/resolution/header", json!("sometimes"))],
            "schema::enum",
        ),
        b(
            "unknown binding type",
            "platform",
            vec![Set("/bindings/CACHE/type", json!("r2-bucket"))],
            "schema::enum",
        ),
        b(
            "unknown vectorize metric",
            "platform",
            vec![Set("/bindings/DOCS/metric", json!("manhattan"))],
            "schema::enum",
        ),
        b(
            "unknown model task",
            "platform",
            vec![Set("/models/@cf~1tests~1custom-embed/task", json!("painting"))],
            "schema::enum",
        ),
        b(
            "unknown AI route",
            "globex",
            vec![Rename("/ai/routes", "chat", "stream")],
            "tenant::ai::route",
        ),
        // missing required fields
        b("no name", "globex", vec![Remove("/name")], "schema::missing"),
        b("no ai", "globex", vec![Remove("/ai")], "schema::missing"),
        b(
            "no chat model in the chat object",
            "globex",
            vec![Remove("/ai/chat/model")],
            "schema::missing",
        ),
        b(
            "no KV namespace id",
            "globex",
            vec![Remove("/envs/dev/kv/CACHE/id")],
            "schema::missing",
        ),
        b("no hosts", "globex", vec![Remove("/envs/dev/hosts")], "tenant::host::missing"),
        b(
            "empty hosts",
            "globex",
            vec![Set("/envs/dev/hosts", json!([]))],
            "tenant::host::missing",
        ),
        b(
            "rate limit without limit",
            "globex",
            vec![Remove("/rate_limits/tenant/limit")],
            "schema::missing",
        ),
        b("no worker", "platform", vec![Remove("/worker")], "schema::missing"),
        b("no environments", "platform", vec![Remove("/environments")], "schema::missing"),
        b(
            "binding without type",
            "platform",
            vec![Remove("/bindings/CACHE/type")],
            "schema::missing",
        ),
        b(
            "durable object without class",
            "platform",
            vec![Remove("/bindings/SESSIONS/class")],
            "schema::missing",
        ),
        b(
            "vectorize without dimensions",
            "platform",
            vec![Remove("/bindings/DOCS/dimensions")],
            "schema::missing",
        ),
        b(
            "account without token_env",
            "accounts",
            vec![Remove("/accounts/acme/token_env")],
            "schema::missing",
        ),
        // bad patterns
        b(
            "uppercase host",
            "globex",
            vec![Set("/envs/prod/hosts/0", json!("Globex.example.org"))],
            "tenant::host::invalid",
        ),
        b(
            "host with a scheme",
            "globex",
            vec![Set("/envs/prod/hosts/0", json!("https://globex.example.org"))],
            "tenant::host::invalid",
        ),
        b(
            "host with a port",
            "globex",
            vec![Set("/envs/prod/hosts/0", json!("globex.example.org:8443"))],
            "tenant::host::invalid",
        ),
        b(
            "wildcard in the middle of a host",
            "globex",
            vec![Set("/envs/prod/hosts/0", json!("a.*.example.org"))],
            "tenant::host::invalid",
        ),
        b(
            "non-hex KV id",
            "globex",
            vec![Set("/envs/dev/kv/CACHE/id", json!("zz2b3c4d5e6f708192a3b4c5d6e7f801"))],
            "tenant::kv::id",
        ),
        b(
            "short KV id",
            "globex",
            vec![Set("/envs/dev/kv/CACHE/id", json!("1a2b3c"))],
            "tenant::kv::id",
        ),
        b(
            "uppercase tenant id",
            "globex",
            vec![Set("/id", json!("Globex"))],
            "tenant::id::invalid",
        ),
        // lists whose entries must be unique (`uniqueItems`)
        b(
            "secret listed twice",
            "globex",
            vec![Set("/secrets", json!(["GATEWAY_TOKEN", "GATEWAY_TOKEN"]))],
            "tenant::secret::duplicate",
        ),
        b(
            "host listed twice in one environment",
            "globex",
            vec![Set("/envs/dev/hosts", json!(["globex.localhost", "globex.localhost"]))],
            "tenant::host::duplicate",
        ),
        b(
            "lowercase secret name",
            "globex",
            vec![Set("/secrets/0", json!("gateway_token"))],
            "tenant::secret::name",
        ),
        b(
            "lowercase var name",
            "globex",
            vec![Rename("/vars", "LOG_LEVEL", "log_level")],
            "tenant::var::name",
        ),
        b(
            "uppercase index name",
            "globex",
            vec![Set("/envs/dev/vectorize/DOCS/index", json!("Shared-Docs"))],
            "tenant::vectorize::index",
        ),
        b(
            "queue name with an underscore",
            "globex",
            vec![Set("/envs/dev/queues/INGEST/name", json!("globex_ingest_dev"))],
            "tenant::queue::name",
        ),
        b(
            "queue name longer than 63 characters",
            "globex",
            vec![Set("/envs/prod/queues/INGEST/name", json!("q".repeat(64)))],
            "tenant::queue::name",
        ),
        b(
            "uppercase ingest role",
            "globex",
            vec![Set("/rag/ingest_role", json!("Admin"))],
            "tenant::rag::ingest-role",
        ),
        b(
            "bad gateway id",
            "globex",
            vec![Set("/ai/gateway", json!("Globex GW"))],
            "tenant::ai::gateway",
        ),
        b(
            "lowercase binding name",
            "platform",
            vec![Rename("/bindings", "CACHE", "cache")],
            "platform::binding::name",
        ),
        b(
            "bad compatibility date",
            "platform",
            vec![Set("/compatibility_date", json!("2026-13-01"))],
            "platform::compatibility-date",
        ),
        b(
            "bad compatibility flag",
            "platform",
            vec![Set("/compatibility_flags/0", json!("nodejs-compat"))],
            "platform::compatibility-flag",
        ),
        b(
            "uppercase worker name",
            "platform",
            vec![Set("/worker", json!("AI-Platform"))],
            "platform::worker::invalid",
        ),
        b(
            "bad durable object class",
            "platform",
            vec![Set("/bindings/SESSIONS/class", json!("chat_session"))],
            "platform::binding::class",
        ),
        b(
            "token_env not UPPER_SNAKE",
            "accounts",
            vec![Set("/accounts/acme/token_env", json!("cf_api_token_acme"))],
            "accounts::token-env",
        ),
        b(
            "token_env holds a token",
            "accounts",
            vec![Set("/accounts/acme/token_env", json!("ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ"))],
            "accounts::token-value",
        ),
        b(
            "non-hex account id",
            "accounts",
            vec![Set("/accounts/acme/account_id", json!("5F1D2C3B4A5968778695A4B3C2D1E0F9"))],
            "accounts::account-id",
        ),
        // bad binding kind fields in the platform
        b(
            "class on a kv binding",
            "platform",
            vec![Set("/bindings/CACHE/class", json!("Cache"))],
            "platform::binding::field",
        ),
        b(
            "dimensions on an ai binding",
            "platform",
            vec![Set("/bindings/AI/dimensions", json!(768))],
            "platform::binding::field",
        ),
        // null is never "absent": leave the key out instead
        b(
            "null for an optional object",
            "globex",
            vec![Set("/rag", Value::Null)],
            "schema::type",
        ),
        b(
            "null for an optional string",
            "globex",
            vec![Set("/ai/gateway", Value::Null)],
            "schema::type",
        ),
        b(
            "null tool entry",
            "globex",
            vec![Set("/tools/summarize", Value::Null)],
            "schema::type",
        ),
        b(
            "null environment",
            "platform",
            vec![Set("/environments/stage", Value::Null)],
            "schema::type",
        ),
        // names
        b(
            "no environment at all",
            "platform",
            vec![Set("/environments", json!({}))],
            "platform::env::none",
        ),
        b(
            "tool name longer than 32 characters",
            "platform",
            vec![Set("/tools/summarize-all-documents-and-threads", json!({}))],
            "platform::tool::name",
        ),
        b(
            "custom model key that is not a model id",
            "platform",
            vec![Set("/models/my-model", json!({ "task": "text-generation" }))],
            "platform::model::id",
        ),
        b(
            "uppercase role granted by a tenant",
            "globex",
            vec![Set("/tools/summarize", json!({ "roles": ["Admin"] }))],
            "tenant::tool::role",
        ),
        b(
            "account key longer than 32 characters",
            "accounts",
            vec![Set(
                "/accounts/an-account-key-of-more-than-32-chars",
                json!({
                    "account_id": "0123456789abcdef0123456789abcdef", "token_env": "CF_API_TOKEN_LONG"
                }),
            )],
            "accounts::key",
        ),
    ]
}

#[test]
fn broken_documents_are_rejected_by_schema_and_compiler() {
    let cases = broken_cases();
    assert!(cases.len() >= 10);
    let mut failures = Vec::new();
    for case in &cases {
        let mut doc = base_doc(case.stem);
        for e in &case.edits {
            apply(&mut doc, e);
        }
        let kind = kind_of_stem(case.stem);
        let errs = schema_errors(kind, &doc);
        if errs.is_empty() {
            failures.push(format!("{}: the {kind} schema accepts it", case.what));
        }
        let (codes, text) = compile_replacing(case.stem, &doc);
        if !codes.contains(case.code) {
            failures.push(format!(
                "{}: the compiler does not report {} (errors: {codes:?})\n{text}",
                case.what, case.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Edge cases where the schema and the compiler once disagreed (found by
/// hand); each now has one verdict, shared by both.
#[test]
fn former_mismatches_get_the_same_verdict_from_schema_and_compiler() {
    use Edit::*;
    let long_host = format!("{}initech.localhost", format!("{}.", "a".repeat(60)).repeat(4));
    let cases: Vec<(&str, &str, Vec<Edit>, bool, bool)> = vec![
        // (what, base, edits, schema accepts, compiler accepts)
        (
            "compatibility date in 2100 is rejected by both (years 2000–2099)",
            "platform",
            vec![Set("/compatibility_date", json!("2100-01-01"))],
            false,
            false,
        ),
        (
            "Vectorize namespace of 40 'é' is accepted by both (length counts characters, not bytes)",
            "globex",
            vec![Set("/envs/dev/vectorize/DOCS/namespace", json!("é".repeat(40)))],
            true,
            true,
        ),
        (
            "host of 262 characters is rejected by both (at most 253)",
            "initech",
            vec![Set("/envs/dev/hosts/0", json!(long_host))],
            false,
            false,
        ),
        (
            "`$schema` that is a number is rejected by both",
            "globex",
            vec![Set("/$schema", json!(42))],
            false,
            false,
        ),
        (
            "`top_k` written 8.0 is an integer for both",
            "globex",
            vec![Set("/rag/top_k", json!(8.0))],
            true,
            true,
        ),
        (
            "a base_url with a trailing slash is accepted by both",
            "globex",
            vec![Set("/envs/dev/ai_provider/base_url", json!("http://[::1]:11434/v1/"))],
            true,
            true,
        ),
    ];
    let mut failures = Vec::new();
    for (what, stem, edits, schema_accepts, compiler_accepts) in cases {
        let mut doc = base_doc(stem);
        for e in &edits {
            apply(&mut doc, e);
        }
        let s = schema_errors(kind_of_stem(stem), &doc).is_empty();
        let (codes, _) = compile_replacing(stem, &doc);
        let c = codes.is_empty();
        if (s, c) != (schema_accepts, compiler_accepts) {
            failures.push(format!(
                "{what}: now schema accepts={s}, compiler accepts={c} {codes:?} (was {schema_accepts}/{compiler_accepts})"
            ));
        }
    }
    assert!(failures.is_empty(), "schema and compiler disagree:\n{}", failures.join("\n"));
}

// ------------------------------------------------------------------ (d) broken documents, generated

/// The tag that selects the variant of a `oneOf` definition: `type` for
/// platform bindings, `kind` for AI providers.
fn variant_tag(def: &str) -> Option<&'static str> {
    match def {
        "BindingDef" => Some("type"),
        "AiProvider" => Some("kind"),
        _ => None,
    }
}

/// One object type of the schemas with an instance in a base document.
/// `def` is a `$defs` name, or "" for the document root; for a tagged
/// definition ([`variant_tag`]) the instance's tag selects the variant.
const INSTANCES: &[(&str, &str, &str, &str)] = &[
    // (schema, def, base document, pointer of the instance)
    ("tenant", "", "globex", ""),
    ("tenant", "Resolution", "globex", "/resolution"),
    ("tenant", "TenantEnv", "globex", "/envs/prod"),
    ("tenant", "AiProvider", "acme", "/envs/stage/ai_provider"),
    ("tenant", "AiProvider", "acme", "/envs/prod/ai_provider"),
    ("tenant", "AiProvider", "globex", "/envs/dev/ai_provider"),
    ("tenant", "KvResource", "globex", "/envs/dev/kv/CACHE"),
    ("tenant", "VectorizeResource", "globex", "/envs/dev/vectorize/DOCS"),
    ("tenant", "AnalyticsResource", "initech", "/envs/prod/analytics_engine/EVENTS"),
    ("tenant", "QueueResource", "globex", "/envs/dev/queues/INGEST"),
    ("tenant", "Ai", "globex", "/ai"),
    ("tenant", "Chat", "globex", "/ai/chat"),
    ("tenant", "ModelOnly", "initech", "/ai/embedding"),
    ("tenant", "RouteOverride", "globex", "/ai/routes/chat"),
    ("tenant", "Budget", "globex", "/ai/budget"),
    ("tenant", "Rag", "globex", "/rag"),
    ("tenant", "Sessions", "globex", "/sessions"),
    ("tenant", "RateLimits", "globex", "/rate_limits"),
    ("tenant", "RateLimitFull", "globex", "/rate_limits/ip"),
    ("tenant", "Cache", "globex", "/cache"),
    ("tenant", "Tool", "globex", "/tools/extract-entities"),
    ("tenant", "Tts", "globex", "/tts"),
    ("tenant", "Safety", "globex", "/safety"),
    ("tenant", "Auth", "globex", "/auth"),
    ("tenant", "Access", "globex", "/auth/access"),
    ("tenant", "ApiKeysKv", "initech", "/auth/api_keys"),
    ("tenant", "Jwt", "acme", "/auth/jwt"),
    ("tenant", "Jwk", "acme", "/envs/dev/auth/jwt/keys/0"),
    ("platform", "", "platform", ""),
    ("platform", "EnvironmentDef", "platform", "/environments/dev"),
    ("platform", "BindingDef", "platform", "/bindings/CACHE"),
    ("platform", "BindingDef", "platform", "/bindings/SESSIONS"),
    ("platform", "BindingDef", "platform", "/bindings/DOCS"),
    ("platform", "BindingDef", "platform", "/bindings/AI"),
    ("platform", "BindingDef", "platform", "/bindings/EVENTS"),
    ("platform", "BindingDef", "platform", "/bindings/INGEST"),
    ("platform", "ModelDef", "platform", "/models/@cf~1tests~1custom-embed"),
    ("platform", "ToolDef", "platform", "/tools/extract-entities"),
    (
        "platform",
        "NotSecretDef",
        "platform",
        "/not_secrets/Q2xpZW50S2V5OnB1YmxpYzo4ZjNhMmI5YzdkNmU1",
    ),
    ("accounts", "", "accounts", ""),
    ("accounts", "AccountDef", "accounts", "/accounts/acme"),
];

/// Disagreements between schema and compiler that are known, each with its
/// reason. Patterns match violation keys `<schema>:<Def>.<property> <mutation>`
/// (`*` matches anything). Every entry must still match a violation.
const KNOWN_MISMATCHES: &[(&str, &str)] = &[];

#[derive(Clone, Debug)]
struct Mutation {
    key: String,
    /// Base document stem, and the mutated document.
    stem: &'static str,
    doc: Value,
    /// The schema and the compiler must both reject it.
    must_reject: bool,
    /// The compiler must not report `schema::range` (a value on a bound).
    on_bound: bool,
}

fn def_schema(kind: &str, def: &str, instance: &Value) -> &'static Value {
    let root = schema_doc(kind);
    if def.is_empty() {
        return root;
    }
    let d = &root["$defs"][def];
    assert!(!d.is_null(), "{kind}: no $defs/{def}");
    match d.get("oneOf").and_then(Value::as_array) {
        Some(variants) => {
            let tag = variant_tag(def).unwrap_or_else(|| panic!("{kind}: $defs/{def} has variants but no tag in variant_tag"));
            let ty = &instance[tag];
            variants
                .iter()
                .find(|v| v["properties"][tag]["const"] == *ty)
                .unwrap_or_else(|| panic!("{kind}: no {def} variant for {tag} {ty}"))
        }
        None => d,
    }
}

fn types_of(prop: &Value) -> Vec<String> {
    match &prop["type"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// Whether one alternative of a property (through a `$ref` and `anyOf`) is
/// a boolean, e.g. `api_keys`: `true` or an object.
fn takes_boolean(kind: &str, prop: &Value) -> bool {
    let target = match prop["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => &schema_doc(kind)["$defs"][name],
        None => prop,
    };
    target["anyOf"].as_array().into_iter().flatten().any(|alt| alt["type"] == "boolean")
}

const STRING_PROBES: &[(&str, &str)] = &[
    ("\"\"", ""),
    ("\"UPPER\"", "UPPER"),
    ("\"lower\"", "lower"),
    ("\"with space\"", "with space"),
    ("\"trailing-\"", "trailing-"),
    ("\"é\"", "é"),
];

fn mutations() -> Vec<Mutation> {
    let mut out = Vec::new();
    for &(kind, def, stem, ptr) in INSTANCES {
        let base = base_doc(stem);
        let instance = base.pointer(ptr).unwrap_or_else(|| panic!("{stem}: nothing at {ptr}")).clone();
        assert!(instance.is_object(), "{stem}{ptr} is not an object");
        let ds = def_schema(kind, def, &instance);
        let props = ds["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{kind}:{def} has no properties"));
        let required: BTreeSet<&str> = ds["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let label = match variant_tag(def) {
            Some(tag) => format!("{def}[{}]", instance[tag].as_str().unwrap()),
            None => def.to_string(),
        };
        let mut push = |key: String, f: &dyn Fn(&mut serde_json::Map<String, Value>), must_reject: bool, on_bound: bool| {
            let mut doc = base.clone();
            f(doc.pointer_mut(ptr).unwrap().as_object_mut().unwrap());
            out.push(Mutation {
                key: format!("{kind}:{label}.{key}"),
                stem,
                doc,
                must_reject,
                on_bound,
            });
        };
        push(
            "x_unknown unknown-key".into(),
            &|o| {
                o.insert("x_unknown".into(), json!(1));
            },
            true,
            false,
        );
        for (name, prop) in props {
            let types = types_of(prop);
            let present = instance.get(name).is_some();
            if required.contains(name.as_str()) {
                push(
                    format!("{name} remove"),
                    &|o| {
                        o.shift_remove(name);
                    },
                    true,
                    false,
                );
            } else {
                if present {
                    push(
                        format!("{name} remove"),
                        &|o| {
                            o.shift_remove(name);
                        },
                        false,
                        false,
                    );
                }
                push(
                    format!("{name} null"),
                    &|o| {
                        o.insert(name.clone(), Value::Null);
                    },
                    false,
                    false,
                );
            }
            // A value of a type the property never takes.
            let wrong = if types.iter().any(|t| t == "boolean") || takes_boolean(kind, prop) {
                json!("yes")
            } else {
                json!(true)
            };
            push(
                format!("{name} wrong-type"),
                &|o| {
                    o.insert(name.clone(), wrong.clone());
                },
                true,
                false,
            );
            // Ranges: one past each bound is rejected; the bound itself is not a range error.
            let integer = types.iter().any(|t| t == "integer");
            let step = if integer { 1.0 } else { 0.5 };
            let num = |x: f64| if integer { json!(x as i64) } else { json!(x) };
            if let Some(max) = prop["maximum"].as_f64() {
                push(
                    format!("{name} above-maximum"),
                    &|o| {
                        o.insert(name.clone(), num(max + step));
                    },
                    true,
                    false,
                );
                push(
                    format!("{name} maximum"),
                    &|o| {
                        o.insert(name.clone(), num(max));
                    },
                    false,
                    true,
                );
            }
            if let Some(min) = prop["minimum"].as_f64() {
                push(
                    format!("{name} below-minimum"),
                    &|o| {
                        o.insert(name.clone(), num(min - step));
                    },
                    true,
                    false,
                );
                push(
                    format!("{name} minimum"),
                    &|o| {
                        o.insert(name.clone(), num(min));
                    },
                    false,
                    true,
                );
            }
            if integer {
                let v = instance.get(name).and_then(Value::as_i64).or(prop["minimum"].as_i64()).unwrap_or(1);
                push(
                    format!("{name} integral-float"),
                    &|o| {
                        o.insert(name.clone(), json!(v as f64));
                    },
                    false,
                    false,
                );
            }
            // Strings: a few probes, and one past each length bound.
            let string = types.iter().any(|t| t == "string");
            let string_items = types.iter().any(|t| t == "array") && prop["items"]["type"] == "string";
            if string || string_items {
                let wrap = |s: &str| if string { json!(s) } else { json!([s]) };
                for (label, probe) in STRING_PROBES {
                    push(
                        format!("{name} string={label}"),
                        &|o| {
                            o.insert(name.clone(), wrap(probe));
                        },
                        false,
                        false,
                    );
                }
                if let Some(max) = prop["maxLength"].as_u64() {
                    push(
                        format!("{name} string=*x{}", max + 1),
                        &|o| {
                            o.insert(name.clone(), wrap(&"x".repeat(max as usize + 1)));
                        },
                        false,
                        false,
                    );
                }
            }
        }
    }
    out
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty() || parts.len() > 1 && parts.last() == Some(&"")
}

/// For every object type: unknown keys, missing required keys, wrong types
/// and values past a range are rejected by both; and wherever one of them
/// rejects a document for its shape, the other does too. Checked:
/// 1. schema rejects ⇒ compiler rejects;
/// 2. compiler reports a `schema::*` (shape) error ⇒ schema rejects;
/// 3. "must reject" mutations are rejected by both;
/// 4. on a range bound the compiler reports no `schema::range`.
#[test]
fn generated_mutations_agree() {
    let muts = mutations();
    assert!(muts.len() > 200, "only {} mutations", muts.len());
    let mut violations: BTreeMap<String, String> = BTreeMap::new();
    for m in &muts {
        let stem = m.stem;
        let kind = kind_of_stem(stem);
        let schema_ok = schema_errors(kind, &m.doc).is_empty();
        let (codes, _) = compile_replacing(stem, &m.doc);
        let compiler_ok = codes.is_empty();
        let shape = codes.iter().any(|c| c.starts_with("schema::"));
        let verdict = format!(
            "schema {}, compiler {}",
            if schema_ok { "accepts" } else { "rejects" },
            if compiler_ok {
                "accepts".to_string()
            } else {
                format!("rejects {codes:?}")
            }
        );
        // The four rules of the module docs.
        let compiler_accepts_what_schema_rejects = !schema_ok && compiler_ok;
        let schema_accepts_a_shape_error = shape && schema_ok;
        let must_fail_but_passes = m.must_reject && (schema_ok || compiler_ok);
        let bound_value_rejected = m.on_bound && (codes.contains("schema::range") || !schema_ok);
        let bad = compiler_accepts_what_schema_rejects || schema_accepts_a_shape_error || must_fail_but_passes || bound_value_rejected;
        if bad {
            violations.insert(m.key.clone(), verdict);
        }
    }
    // Shown with `--nocapture`: every disagreement, known or not.
    for (k, v) in &violations {
        eprintln!("disagreement: {k}: {v}");
    }
    let unexpected: Vec<String> = violations
        .iter()
        .filter(|(k, _)| !KNOWN_MISMATCHES.iter().any(|(p, _)| glob(p, k)))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let stale: Vec<&str> = KNOWN_MISMATCHES
        .iter()
        .filter(|(p, _)| !violations.keys().any(|k| glob(p, k)))
        .map(|(p, _)| *p)
        .collect();
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{} mutations checked.\nschema/compiler disagreements not in KNOWN_MISMATCHES:\n  {}\nKNOWN_MISMATCHES entries that no longer occur (remove them):\n  {}",
        muts.len(),
        unexpected.join("\n  "),
        stale.join("\n  ")
    );
}

/// Every object type and every binding variant of the schemas has an
/// instance in [`INSTANCES`], so the generated mutations cover all of them.
#[test]
fn instances_cover_every_object_type() {
    for kind in KINDS {
        let s = schema_doc(kind);
        let mut want: BTreeSet<String> = BTreeSet::from([String::new()]);
        for (name, d) in s["$defs"].as_object().unwrap() {
            if d.get("properties").is_some() {
                want.insert(name.clone());
            }
            if let Some(vs) = d.get("oneOf").and_then(Value::as_array) {
                for v in vs {
                    for tag in ["type", "kind"] {
                        if let Some(t) = v["properties"][tag]["const"].as_str() {
                            want.insert(format!("{name}[{t}]"));
                        }
                    }
                }
            }
        }
        let have: BTreeSet<String> = INSTANCES
            .iter()
            .filter(|i| i.0 == kind)
            .map(|&(_, def, stem, ptr)| match variant_tag(def) {
                Some(tag) => {
                    let b = base_doc(stem);
                    format!("{def}[{}]", b.pointer(ptr).unwrap()[tag].as_str().unwrap())
                }
                None => def.to_string(),
            })
            .collect();
        let missing: Vec<&String> = want.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "{kind}: object types without an instance in INSTANCES: {missing:?}"
        );
    }
}

// ------------------------------------------------------------------ (e) decoder key lists = schema properties

/// (schema, definition ("" = root), decoder key list). For a `oneOf`
/// definition, the union of its variants' properties.
const KEY_LISTS: &[(&str, &str, &[&str])] = &[
    ("tenant", "", raw::TENANT_KEYS),
    ("tenant", "Resolution", raw::RESOLUTION_KEYS),
    ("tenant", "TenantEnv", raw::TENANT_ENV_KEYS),
    ("tenant", "AiProvider", raw::AI_PROVIDER_KEYS),
    ("tenant", "KvResource", raw::KV_KEYS),
    ("tenant", "VectorizeResource", raw::VECTORIZE_KEYS),
    ("tenant", "AnalyticsResource", raw::ANALYTICS_KEYS),
    ("tenant", "QueueResource", raw::QUEUE_KEYS),
    ("tenant", "Ai", raw::AI_KEYS),
    ("tenant", "Chat", raw::CHAT_KEYS),
    ("tenant", "ModelOnly", raw::MODEL_REF_KEYS),
    ("tenant", "RouteOverride", raw::ROUTE_KEYS),
    ("tenant", "Budget", raw::BUDGET_KEYS),
    ("tenant", "Rag", raw::RAG_KEYS),
    ("tenant", "Sessions", raw::SESSIONS_KEYS),
    ("tenant", "RateLimits", raw::RATE_LIMIT_SCOPES),
    ("tenant", "RateLimitFull", raw::RATE_LIMIT_KEYS),
    ("tenant", "Cache", raw::CACHE_KEYS),
    ("tenant", "Tool", raw::TOOL_KEYS),
    ("tenant", "Tts", raw::TTS_KEYS),
    ("tenant", "Safety", raw::SAFETY_KEYS),
    ("tenant", "Auth", raw::AUTH_KEYS),
    ("tenant", "Jwt", raw::JWT_KEYS),
    ("tenant", "Access", raw::ACCESS_KEYS),
    ("tenant", "ApiKeysKv", raw::API_KEYS_KEYS),
    ("tenant", "Jwk", raw::JWK_KEYS),
    ("platform", "", raw::PLATFORM_KEYS),
    ("platform", "EnvironmentDef", raw::ENVIRONMENT_KEYS),
    ("platform", "BindingDef", raw::BINDING_KEYS),
    ("platform", "ModelDef", raw::MODEL_KEYS),
    ("platform", "ToolDef", raw::TOOL_DEF_KEYS),
    ("platform", "NotSecretDef", raw::NOT_SECRET_KEYS),
    ("accounts", "", raw::ACCOUNTS_KEYS),
    ("accounts", "AccountDef", raw::ACCOUNT_KEYS),
];

fn schema_properties(kind: &str, def: &str) -> BTreeSet<String> {
    let s = schema_doc(kind);
    let d = if def.is_empty() { s } else { &s["$defs"][def] };
    assert!(!d.is_null(), "{kind}: no $defs/{def}");
    let objects: Vec<&Value> = match d.get("oneOf").and_then(Value::as_array) {
        Some(vs) => vs.iter().collect(),
        None => vec![d],
    };
    objects
        .iter()
        .flat_map(|o| o["properties"].as_object().into_iter().flat_map(|p| p.keys().cloned()))
        .collect()
}

#[test]
fn decoder_key_lists_equal_schema_properties() {
    let mut failures = Vec::new();
    for &(kind, def, keys) in KEY_LISTS {
        let decoder: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(decoder.len(), keys.len(), "{kind}:{def}: duplicate key in the decoder list");
        let schema = schema_properties(kind, def);
        if decoder != schema {
            failures.push(format!(
                "{kind}.schema.json {}: only in the decoder {:?}, only in the schema {:?}",
                if def.is_empty() { "(root)" } else { def },
                decoder.difference(&schema).collect::<Vec<_>>(),
                schema.difference(&decoder).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every object definition of the schemas is paired with a decoder list.
#[test]
fn every_schema_object_has_a_decoder_key_list() {
    for kind in KINDS {
        let s = schema_doc(kind);
        for (name, d) in s["$defs"].as_object().unwrap() {
            let is_object = d.get("properties").is_some()
                || d.get("oneOf")
                    .and_then(Value::as_array)
                    .is_some_and(|vs| vs.iter().all(|v| v.get("properties").is_some()));
            if is_object {
                assert!(
                    KEY_LISTS.iter().any(|(k, dd, _)| *k == kind && dd == name),
                    "{kind}: $defs/{name} has no decoder key list in KEY_LISTS"
                );
            }
        }
    }
}

fn schema_enum(kind: &str, def: &str) -> BTreeSet<String> {
    schema_doc(kind)["$defs"][def]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{kind}: $defs/{def} is not an enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn decoder_enumerations_equal_schema_enums() {
    let enums: &[(&str, &str, &[&str])] = &[
        ("tenant", "HeaderPolicy", raw::HEADER_POLICIES),
        ("tenant", "Window", raw::WINDOWS),
        ("tenant", "JwtAlg", raw::JWT_ALGORITHMS),
        ("tenant", "KeyType", raw::KEY_TYPES),
        ("tenant", "Curve", raw::CURVES),
        ("tenant", "KeyUse", raw::KEY_USES),
        ("platform", "Metric", raw::METRICS),
        ("platform", "Task", raw::TASKS),
    ];
    for &(kind, def, list) in enums {
        assert_eq!(set(list), schema_enum(kind, def), "{kind}: $defs/{def} vs the decoder");
    }
    // Every enum definition is paired.
    for kind in KINDS {
        for (name, d) in schema_doc(kind)["$defs"].as_object().unwrap() {
            if d.get("enum").is_some() {
                assert!(
                    enums.iter().any(|(k, dd, _)| *k == kind && dd == name),
                    "{kind}: enum $defs/{name} is not compared with a decoder list"
                );
            }
        }
    }
    // Binding types: the `type` constants of the BindingDef variants.
    let types: BTreeSet<String> = schema_doc("platform")["$defs"]["BindingDef"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["type"]["const"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set(raw::BINDING_TYPES), types, "binding types");
    // AI provider kinds: the `kind` constants of the AiProvider variants.
    let kinds: BTreeSet<String> = schema_doc("tenant")["$defs"]["AiProvider"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["kind"]["const"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set(raw::AI_PROVIDER_KINDS), kinds, "ai provider kinds");
    // Routes that accept an override: the property names of `ai.routes`.
    let routes: BTreeSet<String> = schema_doc("tenant")["$defs"]["Ai"]["properties"]["routes"]["propertyNames"]["enum"]
        .as_array()
        .expect("ai.routes propertyNames enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(set(raw::ROUTES), routes, "ai routes");
}

/// The required properties of each object type are exactly what the
/// compiler reports as missing when left out (checked on the instances).
#[test]
fn required_properties_are_required_by_the_compiler() {
    let mut failures = Vec::new();
    for &(kind, def, stem, ptr) in INSTANCES {
        let base = base_doc(stem);
        let instance = base.pointer(ptr).unwrap();
        let ds = def_schema(kind, def, instance);
        for name in ds["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let mut doc = base.clone();
            doc.pointer_mut(ptr).unwrap().as_object_mut().unwrap().shift_remove(name);
            let (codes, _) = compile_replacing(stem, &doc);
            if codes.is_empty() {
                failures.push(format!("{kind}:{def} `{name}` is required by the schema, not by the compiler"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
