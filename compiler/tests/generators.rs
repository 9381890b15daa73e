//! Generators (`tenants init`, `new`, `add binding`, `add env`), each run in
//! a temporary directory: the resulting files are snapshotted, edited files
//! keep their comments and formatting, placeholders are flagged by
//! `tenants check` until filled in, and then the result passes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tenants_compiler::compile;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn tenants_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenants"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(tenants_bin()).current_dir(dir).args(args).output().unwrap()
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&o.stderr));
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A repository with `tenants/` copied from `from`.
fn repo_from(from: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("tenants");
    std::fs::create_dir(&t).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), t.join(e.file_name())).unwrap();
        }
    }
    d
}

fn examples() -> tempfile::TempDir {
    repo_from(&workspace().join("tenants"))
}

/// The diagnostic codes `tenants check` reports.
fn codes(tenants: &Path) -> Vec<String> {
    let comp = compile(tenants).unwrap();
    comp.diagnostics.items.iter().map(|d| d.code.to_string()).collect()
}

/// Replace every `"TODO: …"` placeholder in the tenant files with a valid,
/// unique value, as a person filling them in would.
fn fill_placeholders(tenants: &Path) -> usize {
    let mut n = 0usize;
    for e in std::fs::read_dir(tenants).unwrap() {
        let p = e.unwrap().path();
        let mut s = read(&p);
        let mut changed = false;
        while let Some(i) = s.find("\"TODO:") {
            let end = i + 1 + s[i + 1..].find('"').unwrap();
            let what = s[i + 1..end].to_string();
            n += 1;
            let value = if what.contains("KV namespace id") {
                format!("{:032x}", 0xabc0_0000_u64 + n as u64)
            } else if what.contains("Vectorize index") {
                format!("filled-index-{n}")
            } else if what.contains("host of") {
                format!("filled-{n}.example.net")
            } else if what.contains("queue name") {
                format!("filled-queue-{n}")
            } else {
                format!("filled_dataset_{n}")
            };
            s.replace_range(i..=end, &format!("\"{value}\""));
            changed = true;
        }
        if changed {
            std::fs::write(&p, s).unwrap();
        }
    }
    n
}

/// Every line of `before` is still in `after`, in order (nothing lost,
/// comments included): the edit only added lines. `grown` names the one-line
/// JSON objects the edit had to open up to add an entry (the CST makes them
/// multi-line; their entries are kept as written).
fn only_added_except(before: &str, after: &str, grown: &[&str]) {
    let mut it = after.lines();
    for line in before.lines() {
        if grown.iter().any(|g| line.trim_start().starts_with(g)) {
            continue;
        }
        assert!(
            it.any(|l| l == line),
            "line lost or changed by the edit: {line:?}\n--- after ---\n{after}"
        );
    }
    for line in before.lines().filter(|l| l.trim_start().starts_with("//")) {
        assert!(after.contains(line), "comment lost: {line}");
    }
}

fn only_added(before: &str, after: &str) {
    only_added_except(before, after, &[]);
}

#[test]
fn init_makes_a_repository_that_checks_and_builds() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["init", "repo"]);
    ok(&o);
    let repo = d.path().join("repo");
    insta::assert_snapshot!("init_platform", read(&repo.join("tenants/platform.kdl")));
    insta::assert_snapshot!("init_example", read(&repo.join("tenants/example.kdl")));
    assert!(repo.join("schemas/tenant.schema.json").is_file());
    ok(&run(&repo, &["check"]));
    ok(&run(&repo, &["schema", "--check"]));
    ok(&run(&repo, &["build"]));
    assert!(repo.join("out/prod/example.wrangler.jsonc").is_file());
    // A second init refuses and writes nothing.
    let before = read(&repo.join("tenants/example.kdl"));
    let o = run(d.path(), &["init", "repo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(read(&repo.join("tenants/example.kdl")), before);
}

#[test]
fn new_tenant_is_flagged_until_its_placeholders_are_filled() {
    for (format, ext) in [("kdl", "kdl"), ("jsonc", "jsonc")] {
        let r = examples();
        let t = r.path().join("tenants");
        let o = run(
            r.path(),
            &["new", "hooli", "--format", format, "--account", "acme", "--name", "Hooli"],
        );
        ok(&o);
        let text = read(&t.join(format!("hooli.{ext}")));
        insta::assert_snapshot!(format!("new_hooli_{format}"), text);
        // 3 environments: stage and prod need a host; each needs a KV id, an index and a queue.
        let c = codes(&t);
        assert_eq!(c.len(), 11, "{c:?}");
        assert!(c.iter().all(|c| c == "tenant::placeholder"), "{c:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("to fill in (11)"), "{err}");
        assert_eq!(fill_placeholders(&t), 11);
        assert_eq!(codes(&t), Vec::<String>::new(), "{format}: check passes once filled in");
    }
}

#[test]
fn new_from_an_existing_tenant_copies_its_settings_in_either_format() {
    let mut models = Vec::new();
    for format in ["kdl", "jsonc"] {
        let r = examples();
        let t = r.path().join("tenants");
        ok(&run(r.path(), &["new", "umbrella", "--from", "globex", "--format", format]));
        fill_placeholders(&t);
        let comp = compile(&t).unwrap();
        let model = comp.model.unwrap_or_else(|| panic!("{format}: {:?}", comp.diagnostics.items));
        let globex = model.tenants.iter().find(|x| x.id == "globex").unwrap().clone();
        let u = model.tenants.iter().find(|x| x.id == "umbrella").unwrap().clone();
        assert_eq!(u.account, globex.account);
        assert_eq!(u.header_policy, globex.header_policy);
        assert_eq!(u.ai.chat_model, globex.ai.chat_model);
        assert_eq!(u.ai.routes, globex.ai.routes);
        assert_eq!(
            (&u.ai.fallbacks, u.ai.timeout_ms, u.ai.retries, u.ai.user_tokens_per_day),
            (
                &globex.ai.fallbacks,
                globex.ai.timeout_ms,
                globex.ai.retries,
                globex.ai.user_tokens_per_day
            )
        );
        assert_eq!(u.ai.gateway.as_deref(), Some("umbrella-gw"));
        assert_eq!(
            (&u.rag, &u.sessions, &u.rate_limits, &u.cache),
            (&globex.rag, &globex.sessions, &globex.rate_limits, &globex.cache)
        );
        assert_eq!(
            (&u.tools, &u.tts, &u.safety, &u.secrets),
            (&globex.tools, &globex.tts, &globex.safety, &globex.secrets)
        );
        for (a, b) in u.envs.iter().zip(&globex.envs) {
            assert_eq!(a.vars, b.vars, "vars of {}", a.name);
            assert_ne!(a.hosts, b.hosts, "hosts are never copied");
            assert_eq!(a.ai_provider, b.ai_provider, "ai provider of {}", a.name);
        }
        models.push(u);
    }
    // The same request in KDL and JSONC resolves to the same tenant.
    assert_eq!(models[0], models[1]);
}

#[test]
fn new_from_a_tenant_with_a_retention_in_seconds_keeps_the_seconds() {
    for (format, written) in [("kdl", "retention-seconds=120"), ("jsonc", "\"retention_seconds\": 120")] {
        let r = examples();
        let t = r.path().join("tenants");
        let globex = t.join("globex.jsonc");
        let text = read(&globex).replacen("\"retention_days\": 90", "\"retention_seconds\": 120", 1);
        std::fs::write(&globex, text).unwrap();
        ok(&run(r.path(), &["new", "umbrella", "--from", "globex", "--format", format]));
        let file = read(&t.join(format!("umbrella.{format}")));
        assert!(file.contains(written), "{format}: no `{written}` in\n{file}");
        fill_placeholders(&t);
        let model = compile(&t).unwrap().model.expect("valid once filled in");
        let sessions = |id: &str| model.tenants.iter().find(|x| x.id == id).unwrap().sessions.clone();
        assert_eq!(sessions("umbrella"), sessions("globex"), "{format}");
        assert_eq!(sessions("umbrella").retention_secs, 120, "{format}");
    }
}

#[test]
fn new_refuses_a_taken_or_invalid_id_and_an_unknown_source() {
    let r = examples();
    let t = r.path().join("tenants");
    let before = read(&t.join("acme.kdl"));
    for (args, needle) in [
        (vec!["new", "acme"], "already exists"),
        (vec!["new", "Bad_Id"], "not a valid tenant id"),
        (vec!["new", "x1", "--from", "globx"], "did you mean `globex`"),
        (vec!["new", "x2"], "choose one with --account"),
        (vec!["new", "x3", "--account", "acm"], "did you mean `acme`"),
    ] {
        let o = run(r.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(read(&t.join("acme.kdl")), before);
    assert_eq!(std::fs::read_dir(&t).unwrap().count(), 5, "nothing was written");
}

#[test]
fn add_binding_kv_edits_every_file_in_place_and_keeps_comments() {
    let r = examples();
    let t = r.path().join("tenants");
    let names = ["platform.kdl", "acme.kdl", "globex.jsonc", "initech.json"];
    let before: Vec<String> = names.iter().map(|n| read(&t.join(n))).collect();
    let o = run(r.path(), &["add", "binding", "kv", "SEARCH_CACHE"]);
    ok(&o);
    for (n, b) in names.iter().zip(&before) {
        let after = read(&t.join(n));
        // With two KV bindings, `api-keys` must name its binding: the
        // generator pins the one it meant (`CACHE`), changing those lines.
        only_added_except(b, &after, &["\"kv\": {", "auth { none #true; api-keys", "api-keys", "\"api_keys\""]);
        assert!(
            !after.contains("api-keys #true") && !after.contains("\"api_keys\": true"),
            "{n}:\n{after}"
        );
        insta::assert_snapshot!(format!("add_binding_kv_{}", n.replace('.', "_")), after);
    }
    // 3 tenants x 3 environments need a namespace id.
    let c = codes(&t);
    assert_eq!(c.len(), 9, "{c:?}");
    assert!(c.iter().all(|c| c == "tenant::placeholder"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("to fill in (9)"));
    fill_placeholders(&t);
    assert_eq!(codes(&t), Vec::<String>::new());
}

#[test]
fn add_binding_durable_object_writes_the_class_skeleton() {
    let r = examples();
    let t = r.path().join("tenants");
    ok(&run(
        r.path(),
        &["add", "binding", "durable-object", "SEARCH_INDEX", "--class", "SearchIndex"],
    ));
    let skeleton = read(&r.path().join("runtime/src/objects/search_index.rs"));
    assert!(skeleton.contains("#[durable_object]\npub struct SearchIndex"), "{skeleton}");
    assert!(skeleton.contains("impl DurableObject for SearchIndex"));
    assert!(read(&t.join("platform.kdl")).contains("    durable-object SEARCH_INDEX class=\"SearchIndex\"\n"));
    // No per-tenant resource: the tenants still check clean.
    assert_eq!(codes(&t), Vec::<String>::new());
    // The class is declared to wrangler with a SQLite migration.
    ok(&run(r.path(), &["build"]));
    let cfg = read(&r.path().join("out/prod/acme.wrangler.jsonc"));
    assert!(cfg.contains("\"SearchIndex\""), "{cfg}");
}

#[test]
fn add_binding_refuses_bad_requests_and_writes_nothing() {
    let r = examples();
    let t = r.path().join("tenants");
    let before = read(&t.join("platform.kdl"));
    for (args, needle) in [
        (vec!["add", "binding", "kvv", "X"], "did you mean `kv`"),
        (vec!["add", "binding", "kv", "CACHE"], "already has a binding `CACHE`"),
        (vec!["add", "binding", "kv", "lower"], "not a binding name"),
        (vec!["add", "binding", "durable-object", "X"], "needs --class"),
        (vec!["add", "binding", "vectorize", "V"], "needs --dimensions"),
        (vec!["add", "binding", "ai", "AI2"], "already has an `ai` binding"),
        (vec!["add", "binding", "kv", "K", "--class", "C"], "does not apply"),
        (vec!["add", "env", "prod"], "already has an environment"),
    ] {
        let o = run(r.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(read(&t.join("platform.kdl")), before);
}

#[test]
fn add_env_adds_an_environment_block_to_every_tenant() {
    let r = examples();
    let t = r.path().join("tenants");
    let names = ["platform.kdl", "acme.kdl", "globex.jsonc", "initech.json"];
    let before: Vec<String> = names.iter().map(|n| read(&t.join(n))).collect();
    ok(&run(r.path(), &["add", "env", "qa"]));
    for (n, b) in names.iter().zip(&before) {
        let after = read(&t.join(n));
        only_added(b, &after);
        insta::assert_snapshot!(format!("add_env_{}", n.replace('.', "_")), after);
    }
    // Each tenant: a host, a KV id, an index and a queue for qa.
    assert_eq!(codes(&t).len(), 12);
    fill_placeholders(&t);
    assert_eq!(codes(&t), Vec::<String>::new());
    ok(&run(r.path(), &["build"]));
    assert!(r.path().join("out/qa/globex.wrangler.jsonc").is_file());
}

#[test]
fn add_binding_on_a_jsonc_platform_keeps_its_comments() {
    let r = repo_from(&workspace().join("compiler/tests/fixtures/equivalence"));
    let t = r.path().join("tenants");
    let before = read(&t.join("platform.jsonc"));
    ok(&run(
        r.path(),
        &[
            "add",
            "binding",
            "vectorize",
            "FAQ",
            "--dimensions",
            "768",
            "--metric",
            "dot-product",
        ],
    ));
    let after = read(&t.join("platform.jsonc"));
    only_added(&before, &after);
    insta::assert_snapshot!("add_binding_vectorize_platform_jsonc", after);
    let c = codes(&t);
    assert!(!c.is_empty() && c.iter().all(|c| c == "tenant::placeholder"), "{c:?}");
    fill_placeholders(&t);
    assert_eq!(codes(&t), Vec::<String>::new());
}

#[test]
fn add_binding_queue_asks_every_environment_for_its_own_queue() {
    let r = examples();
    let t = r.path().join("tenants");
    ok(&run(r.path(), &["add", "binding", "queue", "JOBS"]));
    assert!(read(&t.join("platform.kdl")).contains("\n    queue JOBS\n"));
    assert!(read(&t.join("acme.kdl")).contains(r#"queue JOBS name="TODO: queue name (wrangler queues create acme-jobs-stage)""#));
    // Three tenants, three environments: one queue name each.
    let c = codes(&t);
    assert_eq!(c.len(), 9, "{c:?}");
    assert!(c.iter().all(|c| c == "tenant::placeholder"), "{c:?}");
    assert_eq!(fill_placeholders(&t), 9);
    assert_eq!(codes(&t), Vec::<String>::new());
    ok(&run(r.path(), &["build"]));
    let config = read(&r.path().join("out/prod/acme.wrangler.jsonc"));
    assert!(config.contains(r#""binding": "JOBS""#), "{config}");
    // A queue takes no settings.
    let o = run(r.path(), &["add", "binding", "queue", "MORE_JOBS", "--dataset", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dataset does not apply to a `queue` binding"));
}
