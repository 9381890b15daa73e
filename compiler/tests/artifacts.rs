//! `tenants build`: wrangler configs and the registry — validity against
//! wrangler's own config schema, determinism, stale-file deletion, selection,
//! `--check`, and the no-change fast path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn tenants_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenants"))
}

/// A throw-away repository: `tenants/` copied from the examples, `out/` empty.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("tenants");
    std::fs::create_dir(&t).unwrap();
    for e in std::fs::read_dir(workspace().join("tenants")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), t.join(e.file_name())).unwrap();
    }
    dir
}

fn build(repo: &Path, extra: &[&str]) -> Output {
    Command::new(tenants_bin())
        .current_dir(repo)
        .arg("build")
        .args(extra)
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

fn configs(dir: &Path) -> Vec<String> {
    tree(dir).into_keys().filter(|k| k.ends_with(".wrangler.jsonc")).collect()
}

fn jsonc(bytes: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(bytes).unwrap();
    jsonc_parser::parse_to_serde_value::<serde_json::Value>(text, &Default::default()).unwrap()
}

#[test]
fn every_example_config_validates_against_wranglers_own_schema() {
    let schema_path = workspace().join("node_modules/wrangler/config-schema.json");
    let text = std::fs::read_to_string(&schema_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nwrangler's config schema comes from the pinned npm package: run `cargo xtask setup` (cargo xtask test does)",
            schema_path.display()
        )
    });
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The check is only worth something if wrangler's schema rejects unknown
    // top-level fields.
    assert_eq!(schema["definitions"]["RawConfig"]["additionalProperties"], serde_json::json!(false));
    let validator = jsonschema::draft7::new(&schema).expect("wrangler's schema compiles");

    let r = repo();
    ok(&build(r.path(), &[]));
    let files = configs(&r.path().join("out"));
    assert_eq!(files.len(), 9, "3 tenants x 3 environments: {files:?}");
    let all = tree(&r.path().join("out"));
    for f in &files {
        let v = jsonc(&all[f]);
        let errors: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{f} fails wrangler's schema:\n{}", errors.join("\n"));
        // A value that breaks the schema is caught: the validator is live.
        let mut bad = v.clone();
        bad["kv_namespace"] = serde_json::json!([]);
        assert!(!validator.is_valid(&bad), "an unknown field must be rejected");
    }
}

#[test]
fn configs_are_complete_and_pinned() {
    let r = repo();
    ok(&build(r.path(), &[]));
    let all = tree(&r.path().join("out"));
    let v = jsonc(&all["prod/acme.wrangler.jsonc"]);
    assert_eq!(v["name"], "ai-platform-acme-prod");
    assert_eq!(v["main"], "../../runtime/build/index.js");
    assert_eq!(v["$schema"], "../../node_modules/wrangler/config-schema.json");
    assert_eq!(v["account_id"], "5f1d2c3b4a5968778695a4b3c2d1e0f9");
    assert_eq!(v["vars"]["TENANT_ID"], "acme");
    assert_eq!(v["vars"]["TENANT_ENV"], "prod");
    assert_eq!(v["kv_namespaces"][0]["id"], "9d6c1f0e0a1b4c2d8e3f405162738495");
    assert_eq!(
        v["routes"][0],
        serde_json::json!({ "pattern": "acme.example.com", "custom_domain": true })
    );
    assert_eq!(v["routes"][1], "*.acme.example.com/*");
    assert_eq!(v["analytics_engine_datasets"][0]["dataset"], "acme_events");
    assert_eq!(v["secrets"]["required"], serde_json::json!(["GATEWAY_TOKEN"]));
    // The local vector index is a SQLite class like the others.
    assert_eq!(
        v["migrations"][0]["new_sqlite_classes"],
        serde_json::json!(["AuditLog", "ChatSession", "DocIndex", "RateLimiter"])
    );
    // The queue: this deployment produces to it and is its one consumer.
    assert_eq!(
        v["queues"],
        serde_json::json!({
            "producers": [{ "binding": "INGEST", "queue": "acme-ingest" }],
            "consumers": [{ "queue": "acme-ingest", "max_batch_size": 10, "max_batch_timeout": 1, "max_retries": 3 }],
        })
    );
    assert!(v.get("env").is_none(), "flattened: no env sections");
    // Every platform binding is stated in every file (wrangler does not inherit).
    for f in configs(&r.path().join("out")) {
        let v = jsonc(&all[&f]);
        let n = v["kv_namespaces"].as_array().unwrap().len()
            + v["durable_objects"]["bindings"].as_array().unwrap().len()
            + v["vectorize"].as_array().unwrap().len()
            + usize::from(v["ai"].is_object())
            + v["analytics_engine_datasets"].as_array().unwrap().len()
            + v["queues"]["producers"].as_array().unwrap().len();
        assert_eq!(n, 9, "{f}");
        let text = String::from_utf8_lossy(&all[&f]).into_owned();
        assert!(text.starts_with("// Generated by `tenants build` from tenants/"), "{f}: {text}");
    }
    // Local-only hosts never become routes.
    let dev = jsonc(&all["dev/acme.wrangler.jsonc"]);
    assert_eq!(dev["routes"], serde_json::json!([]));
    assert_eq!(dev["workers_dev"], true);
}

#[test]
fn registry_lists_tenants_environments_and_content_hashes() {
    let r = repo();
    ok(&build(r.path(), &[]));
    let out = r.path().join("out");
    let reg: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("registry.json")).unwrap()).unwrap();
    let tenants = reg["tenants"].as_array().unwrap();
    assert_eq!(
        tenants.iter().map(|t| t["id"].as_str().unwrap()).collect::<Vec<_>>(),
        ["acme", "globex", "initech"]
    );
    for t in tenants {
        let src = r.path().join(t["source"]["path"].as_str().unwrap());
        let bytes = std::fs::read(&src).unwrap();
        assert_eq!(t["source"]["sha256"], tenants_compiler::emit::artifacts::sha256_hex(&bytes));
        for e in t["environments"].as_array().unwrap() {
            let cfg = std::fs::read(out.join(e["config"]["path"].as_str().unwrap())).unwrap();
            assert_eq!(e["config"]["sha256"], tenants_compiler::emit::artifacts::sha256_hex(&cfg));
            assert!(!e["hosts"].as_array().unwrap().is_empty());
        }
    }
    assert_eq!(
        tenants[0]["environments"][2]["hosts"],
        serde_json::json!(["acme.example.com", "*.acme.example.com"]),
        "hosts as written"
    );
}

#[path = "common/keys.rs"]
mod keys;

#[test]
fn registry_lists_auth_methods_per_environment_without_key_material() {
    let r = repo();
    // acme's identity provider keys inline instead of fetched.
    let f = r.path().join("tenants/acme.kdl");
    let text = std::fs::read_to_string(&f).unwrap().replacen(
        r#"jwks-url "https://login.acme.example.com/.well-known/jwks.json""#,
        &format!(r#"key kid="k1" kty="RSA" n="{}" e="AQAB""#, keys::RSA_N),
        1,
    );
    std::fs::write(&f, text).unwrap();
    ok(&build(r.path(), &[]));
    let bytes = std::fs::read(r.path().join("out/registry.json")).unwrap();
    let raw = String::from_utf8_lossy(&bytes);
    assert!(!raw.contains(keys::RSA_N), "no key material in the registry");
    let reg: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let auth = |tenant: usize, env: usize| reg["tenants"][tenant]["environments"][env]["auth"].clone();
    // acme dev: its own block replaces the tenant-level one.
    assert_eq!(
        auth(0, 0),
        serde_json::json!({ "methods": ["api-keys", "none"], "jwt": null, "access": null, "api_keys": { "kv_binding": "CACHE" } })
    );
    assert_eq!(
        auth(0, 2),
        serde_json::json!({
            "methods": ["jwt", "api-keys"],
            "jwt": { "issuer": "https://login.acme.example.com/", "audience": "acme-ai" },
            "access": null,
            "api_keys": { "kv_binding": "CACHE" }
        })
    );
    assert_eq!(auth(1, 2)["methods"], serde_json::json!(["access", "api-keys"]));
    // The vector index each environment searches: local in development.
    for t in 0..3 {
        let index = |env: usize| reg["tenants"][t]["environments"][env]["vector_index"].clone();
        assert_eq!([index(0), index(1), index(2)], ["local", "vectorize", "vectorize"]);
    }
    assert_eq!(auth(1, 2)["access"]["team_domain"], "globex.cloudflareaccess.com");
    assert_eq!(auth(1, 0)["methods"], serde_json::json!(["none"]));
    assert_eq!(auth(2, 1)["methods"], serde_json::json!(["api-keys"]));
}

#[test]
fn two_builds_give_byte_identical_trees_and_a_rerun_writes_nothing() {
    let (a, b) = (repo(), repo());
    ok(&build(a.path(), &[]));
    ok(&build(b.path(), &[]));
    let ta = tree(&a.path().join("out"));
    let tb = tree(&b.path().join("out"));
    let strip = |t: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.iter()
            .filter(|(k, _)| *k != ".tenants-cache")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(strip(&ta), strip(&tb));
    assert!(!ta.keys().any(|k| k.contains(".tmp-")), "no temporary file left behind");
    // Rerun: the fast path.
    let o = build(a.path(), &[]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("up to date"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(tree(&a.path().join("out")), ta);
    // A change to one tenant rewrites only that tenant's configs (and the registry).
    let f = a.path().join("tenants/acme.kdl");
    let s = std::fs::read_to_string(&f)
        .unwrap()
        .replace("LOG_LEVEL \"debug\"", "LOG_LEVEL \"trace\"");
    std::fs::write(&f, s).unwrap();
    let o = build(a.path(), &[]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2 written, 8 unchanged"), "{err}");
}

#[test]
fn a_removed_tenant_or_environment_loses_its_configs_and_nothing_else() {
    let r = repo();
    ok(&build(r.path(), &[]));
    let out = r.path().join("out");
    // Something of the user's in the output directory is never touched.
    std::fs::write(out.join("prod/notes.txt"), "mine").unwrap();
    std::fs::write(out.join("prod/initech.wrangler.jsonc.bak"), "mine").unwrap();
    std::fs::remove_file(r.path().join("tenants/globex.jsonc")).unwrap();
    let o = build(r.path(), &[]);
    ok(&o);
    for env in ["dev", "stage", "prod"] {
        assert!(
            !out.join(format!("{env}/globex.wrangler.jsonc")).exists(),
            "the removed tenant's configs are gone"
        );
    }
    assert!(String::from_utf8_lossy(&o.stderr).contains("deleted (stale)"));
    assert_eq!(std::fs::read_to_string(out.join("prod/notes.txt")).unwrap(), "mine");
    assert!(out.join("prod/initech.wrangler.jsonc.bak").exists());
    let reg = std::fs::read_to_string(out.join("registry.json")).unwrap();
    assert!(!reg.contains("globex"));
    // A hand-written config (no generated marker) is not deleted.
    std::fs::write(out.join("dev/mine.wrangler.jsonc"), "{}").unwrap();
    ok(&build(r.path(), &[]));
    assert!(out.join("dev/mine.wrangler.jsonc").exists());
    // A removed environment: its directory goes once it is empty.
    let platform = r.path().join("tenants/platform.kdl");
    let p = std::fs::read_to_string(&platform)
        .unwrap()
        .replace("    environment \"stage\"\n", "");
    std::fs::write(&platform, p).unwrap();
    for t in ["acme.kdl", "initech.json"] {
        let f = r.path().join("tenants").join(t);
        let s = std::fs::read_to_string(&f).unwrap();
        // Drop the tenant's stage block (KDL) or entry (JSON).
        let s = if t.ends_with(".kdl") {
            let a = s.find("    env \"stage\"").unwrap();
            let b = a + s[a..].find("    }\n").unwrap() + 6;
            format!("{}{}", &s[..a], &s[b..])
        } else {
            let a = s.find("    \"stage\"").unwrap();
            let b = a + s[a..].find("    },\n").unwrap() + 7;
            format!("{}{}", &s[..a], &s[b..])
        };
        std::fs::write(&f, s).unwrap();
    }
    ok(&build(r.path(), &[]));
    assert!(!out.join("stage").exists(), "the removed environment's directory is gone");
}

#[test]
fn env_and_tenant_select_what_is_built() {
    let r = repo();
    ok(&build(r.path(), &["--env", "dev"]));
    assert_eq!(
        configs(&r.path().join("out")),
        ["dev/acme.wrangler.jsonc", "dev/globex.wrangler.jsonc", "dev/initech.wrangler.jsonc"]
    );
    ok(&build(r.path(), &["--tenant", "acme", "--env", "prod"]));
    assert_eq!(configs(&r.path().join("out")), ["prod/acme.wrangler.jsonc"]);
    let o = build(r.path(), &["--tenant", "acmee"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `acme`"));
    let o = build(r.path(), &["--env", "production"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_reports_changed_missing_and_stale_files_with_exit_1() {
    let r = repo();
    let o = build(r.path(), &["--check"]);
    assert_eq!(o.status.code(), Some(1), "nothing built yet");
    ok(&build(r.path(), &[]));
    ok(&build(r.path(), &["--check"]));
    let out = r.path().join("out");
    let f = out.join("prod/acme.wrangler.jsonc");
    let s = std::fs::read_to_string(&f).unwrap().replace("acme_events", "hand_edit");
    std::fs::write(&f, s).unwrap();
    std::fs::remove_file(out.join("dev/globex.wrangler.jsonc")).unwrap();
    std::fs::copy(out.join("dev/acme.wrangler.jsonc"), out.join("dev/gone.wrangler.jsonc")).unwrap();
    let o = build(r.path(), &["--check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("changed: prod/acme.wrangler.jsonc"), "{err}");
    assert!(err.contains("missing: dev/globex.wrangler.jsonc"), "{err}");
    assert!(err.contains("stale: dev/gone.wrangler.jsonc"), "{err}");
    // A hand edit defeats the fast path too: the next build repairs it.
    let o = build(r.path(), &[]);
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("up to date"));
    ok(&build(r.path(), &["--check"]));
}

#[test]
fn an_invalid_tenant_writes_nothing_and_exits_1() {
    let r = repo();
    ok(&build(r.path(), &[]));
    let before = tree(&r.path().join("out"));
    let f = r.path().join("tenants/acme.kdl");
    let s = std::fs::read_to_string(&f)
        .unwrap()
        .replace("rag chunk-size=800", "rag chunk-sise=800");
    std::fs::write(&f, s).unwrap();
    let o = build(r.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("acme.kdl") && err.contains("chunk-size"), "{err}");
    assert!(err.contains("nothing was written"));
    let after = tree(&r.path().join("out"));
    assert_eq!(
        before.iter().filter(|(k, _)| *k != ".tenants-cache").collect::<Vec<_>>(),
        after.iter().filter(|(k, _)| *k != ".tenants-cache").collect::<Vec<_>>()
    );
    let o = build(r.path(), &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["diagnostics"][0]["file"].as_str().unwrap(), "tenants/acme.kdl");
    let missing = build(r.path(), &["--root", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_config_printer_matches_serde_json_pretty_byte_for_byte() {
    use tenants_compiler::emit::wrangler::{config_tree, Paths, J};
    let comp = tenants_compiler::compile(&workspace().join("tenants")).unwrap();
    let model = comp.model.as_ref().unwrap();
    let paths = Paths {
        main: "../../runtime/build/index.js".into(),
        schema: "../../node_modules/wrangler/config-schema.json".into(),
        source_dir: "tenants".into(),
    };
    let mut n = 0;
    for t in &model.tenants {
        let account = model.accounts.iter().find(|a| a.key == t.account).unwrap();
        for e in &t.envs {
            let tree = config_tree(model, t, e, account, &paths);
            let mut ours = String::new();
            tree.write_pretty(&mut ours, 0);
            assert_eq!(ours, serde_json::to_string_pretty(&tree.to_value()).unwrap(), "{}/{}", t.id, e.name);
            n += 1;
        }
    }
    assert_eq!(n, 9);
    // Every escape serde_json makes, empty containers, nesting.
    let weird = J::Obj(vec![
        (
            "q\"uote",
            J::Str("back\\slash \"quoted\" \n\r\t \u{8}\u{c} \u{1}\u{1f} \u{7f} é ✓ 𝄞"),
        ),
        ("empty_arr", J::Arr(vec![])),
        ("empty_obj", J::Obj(vec![])),
        ("nested", J::Arr(vec![J::Obj(vec![("a", J::Bool(false))]), J::Owned("x".into())])),
    ]);
    let mut ours = String::new();
    weird.write_pretty(&mut ours, 0);
    assert_eq!(ours, serde_json::to_string_pretty(&weird.to_value()).unwrap());
}

#[test]
fn no_config_carries_another_tenants_resources_hosts_or_pin() {
    // Tenant isolation in the artifacts: each config names only its own
    // tenant's KV namespaces, indexes, datasets, hosts and pin.
    let r = repo();
    ok(&build(r.path(), &[]));
    let out = r.path().join("out");
    let all = tree(&out);
    let mut owned: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in configs(&out) {
        let v = jsonc(&all[&f]);
        let tenant = v["vars"]["TENANT_ID"].as_str().unwrap().to_string();
        assert!(f.ends_with(&format!("/{tenant}.wrangler.jsonc")), "{f} is pinned to {tenant}");
        assert!(v["name"].as_str().unwrap().contains(&format!("-{tenant}-")), "{f}");
        let mut mine = Vec::new();
        for kv in v["kv_namespaces"].as_array().unwrap() {
            mine.push(kv["id"].as_str().unwrap().to_string());
        }
        for r in v["routes"].as_array().unwrap() {
            mine.push(r.get("pattern").and_then(|p| p.as_str()).or(r.as_str()).unwrap().to_string());
        }
        owned.entry(tenant).or_default().extend(mine);
    }
    for (tenant, values) in &owned {
        for f in configs(&out) {
            let text = String::from_utf8_lossy(&all[&f]).into_owned();
            if f.ends_with(&format!("/{tenant}.wrangler.jsonc")) {
                continue;
            }
            for v in values {
                assert!(!text.contains(v.as_str()), "{f} contains `{v}`, which belongs to {tenant}");
            }
        }
    }
}

#[test]
fn the_playground_is_emitted_for_development_environments_only() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants");
    let out = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tenants"))
        .args(["build", "--root"])
        .arg(&root)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reg: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("registry.json")).unwrap()).unwrap();
    let mut seen = 0;
    for t in reg["tenants"].as_array().unwrap() {
        for e in t["environments"].as_array().unwrap() {
            let want = if e["name"] == "dev" {
                serde_json::json!("/_playground")
            } else {
                serde_json::Value::Null
            };
            assert_eq!(e["playground"], want, "{} {}", t["id"], e["name"]);
            seen += 1;
        }
    }
    assert_eq!(seen, 9);
    // The prod configs never mention it.
    for entry in std::fs::read_dir(out.path().join("prod")).unwrap().flatten() {
        assert!(!std::fs::read_to_string(entry.path()).unwrap().contains("playground"));
    }
}
