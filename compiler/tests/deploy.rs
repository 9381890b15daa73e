//! `tenants deploy` and `tenants status` with a scripted stand-in for
//! wrangler (`--wrangler`): it records when it ran, which credentials it
//! saw, prints its own token (which the CLI must mask), sleeps, and fails
//! for the tenants named in `STANDIN_FAIL`. The corpus has tenants on two
//! accounts (`acme-*` on `acme`, `globex-*` on `shared`).

#[path = "../examples/common/corpus.rs"]
mod corpus;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ACME_TOKEN: &str = "tok-acme-0123456789abcdef";
const SHARED_TOKEN: &str = "tok-shared-fedcba9876543210";
const STRAY_TOKEN: &str = "stray-global-token-5555555555";

const STANDIN: &str = r#"#!/bin/bash
t="$TENANTS_DEPLOY_TENANT"
now() { date +%s%N; }
echo "start $t $CLOUDFLARE_ACCOUNT_ID $(now)" >> "$STANDIN_LOG"
env | grep -E '^(CLOUDFLARE_|CF_API_)' | sed "s/^/env $t /" >> "$STANDIN_LOG"
echo "args $t $*" >> "$STANDIN_LOG"
echo "using token $CLOUDFLARE_API_TOKEN for $t"
sleep "${STANDIN_SLEEP:-0.05}"
echo "end $t $CLOUDFLARE_ACCOUNT_ID $(now)" >> "$STANDIN_LOG"
case " $STANDIN_FAIL " in *" $t "*) echo "✘ [ERROR] stand-in failure for $t (token $CLOUDFLARE_API_TOKEN)" >&2; exit 1;; esac
echo "Current Version ID: ${STANDIN_VERSION:-v-$t}"
"#;

struct Repo {
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Repo {
    /// `n` corpus tenants, a Worker bundle, the stand-in.
    fn new(n: usize) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let tenants = dir.path().join("tenants");
        std::fs::create_dir_all(&tenants).unwrap();
        corpus::write_corpus(&tenants, n).unwrap();
        let build = dir.path().join("runtime/build");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::write(build.join("index.js"), "export default {}\n").unwrap();
        let standin = dir.path().join("standin.sh");
        std::fs::write(&standin, STANDIN).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&standin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.path().join("standin.log");
        Repo { dir, log }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tenants(&self, cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tenants"));
        c.current_dir(self.path()).arg(cmd).args(args);
        c.env("TENANTS_WRANGLER", self.path().join("standin.sh"))
            .env("STANDIN_LOG", &self.log)
            .env("CF_API_TOKEN_ACME", ACME_TOKEN)
            .env("CF_API_TOKEN_SHARED", SHARED_TOKEN)
            .env("CLOUDFLARE_API_TOKEN", STRAY_TOKEN)
            .env_remove("STANDIN_FAIL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn deploy(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.tenants("deploy", args, env)
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// (tenant, account id, start ns, end ns) per stand-in run.
    fn runs(&self) -> Vec<(String, String, u128, u128)> {
        let lines = self.log_lines();
        let mut start: HashMap<String, (String, u128)> = HashMap::new();
        let mut runs = Vec::new();
        for l in &lines {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["start", t, acct, ns] => {
                    start.insert(t.to_string(), (acct.to_string(), ns.parse().unwrap()));
                }
                ["end", t, _, ns] => {
                    let (acct, s) = start.remove(*t).expect("end without start");
                    runs.push((t.to_string(), acct, s, ns.parse().unwrap()));
                }
                _ => {}
            }
        }
        runs
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn statuses(rep: &Value) -> Vec<(String, String)> {
    rep["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["tenant"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect()
}

/// The most runs overlapping at any instant, among those `keep` selects.
fn max_overlap(runs: &[(String, String, u128, u128)], keep: impl Fn(&str) -> bool) -> usize {
    let mut ev: Vec<(u128, i32)> = Vec::new();
    for (_, acct, s, e) in runs.iter().filter(|r| keep(&r.1)) {
        let _ = acct;
        ev.push((*s, 1));
        ev.push((*e, -1));
    }
    ev.sort_by_key(|&(t, d)| (t, d)); // an end before a start at the same instant
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

const ACME_ACCOUNT: &str = "5f1d2c3b4a5968778695a4b3c2d1e0f9";

#[test]
fn concurrency_is_bounded_overall_and_per_account() {
    let r = Repo::new(12);
    let o = r.deploy(
        &["--all", "--env", "dev", "--concurrency", "3", "--per-account", "2"],
        &[("STANDIN_SLEEP", "0.4")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let runs = r.runs();
    assert_eq!(runs.len(), 12);
    let overall = max_overlap(&runs, |_| true);
    let acme = max_overlap(&runs, |a| a == ACME_ACCOUNT);
    let shared = max_overlap(&runs, |a| a != ACME_ACCOUNT);
    assert!(overall <= 3, "overall {overall}");
    assert!(acme <= 2 && shared <= 2, "per account: acme {acme}, shared {shared}");
    // And it did run in parallel.
    assert!(overall >= 2, "overall {overall}");
}

#[test]
fn each_child_sees_only_its_own_account_token_and_no_token_is_printed() {
    let r = Repo::new(4);
    let rep = r.path().join("report.json");
    let o = r.deploy(
        &["--all", "--env", "dev", "--report", rep.to_str().unwrap(), "--format", "json"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let lines = r.log_lines();
    for t in ["acme-00000", "globex-00001", "acme-00002", "globex-00003"] {
        let env: Vec<&String> = lines.iter().filter(|l| l.starts_with(&format!("env {t} "))).collect();
        let own = if t.starts_with("acme") { ACME_TOKEN } else { SHARED_TOKEN };
        assert!(
            env.iter().any(|l| l.ends_with(&format!("CLOUDFLARE_API_TOKEN={own}"))),
            "{t}: {env:?}"
        );
        for l in &env {
            assert!(!l.contains("CF_API_TOKEN_"), "{t} saw another token variable: {l}");
            assert!(!l.contains(STRAY_TOKEN), "{t} inherited the parent's token: {l}");
            let other = if own == ACME_TOKEN { SHARED_TOKEN } else { ACME_TOKEN };
            assert!(!l.contains(other), "{t} saw another account's token: {l}");
        }
        let acct = if t.starts_with("acme") {
            ACME_ACCOUNT
        } else {
            "a1b2c3d4e5f60718293a4b5c6d7e8f90"
        };
        assert!(
            env.iter().any(|l| l.ends_with(&format!("CLOUDFLARE_ACCOUNT_ID={acct}"))),
            "{t}: {env:?}"
        );
    }
    let all = format!("{}{}", text(&o), std::fs::read_to_string(&rep).unwrap());
    for tok in [ACME_TOKEN, SHARED_TOKEN, STRAY_TOKEN] {
        assert!(!all.contains(tok), "a token reached the output or the report");
    }
    assert!(all.contains("using token *** for"), "the stand-in's echo is masked: {all}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], 4);
    assert_eq!(v["results"][0]["version_id"], "v-acme-00000");
}

#[test]
fn first_failure_stops_new_deploys_and_the_rest_are_skipped() {
    let r = Repo::new(5);
    let rep = r.path().join("report.json");
    let o = r.deploy(
        &["--all", "--env", "dev", "--concurrency", "1", "--report", rep.to_str().unwrap()],
        &[("STANDIN_FAIL", "acme-00002")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let got = statuses(&report(&rep));
    // Jobs run in registry order (by tenant id).
    let want: Vec<(String, String)> = [
        ("acme-00000", "ok"),
        ("acme-00002", "failed"),
        ("acme-00004", "skipped"),
        ("globex-00001", "skipped"),
        ("globex-00003", "skipped"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(r.runs().len(), 2, "nothing started after the failure");
    let rep = report(&rep);
    assert!(rep["results"][1]["error"]
        .as_str()
        .unwrap()
        .contains("stand-in failure for acme-00002"));
    assert!(!rep.to_string().contains(ACME_TOKEN), "the error excerpt is masked");
    let t = text(&o);
    assert!(t.contains("1 ok, 1 failed, 3 skipped"), "{t}");
}

#[test]
fn continue_on_error_attempts_every_tenant() {
    let r = Repo::new(5);
    let rep = r.path().join("report.json");
    let o = r.deploy(
        &[
            "--all",
            "--env",
            "dev",
            "--concurrency",
            "2",
            "--continue-on-error",
            "--report",
            rep.to_str().unwrap(),
        ],
        &[("STANDIN_FAIL", "globex-00001")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let got = statuses(&report(&rep));
    for (t, s) in &got {
        assert_eq!(s, if t == "globex-00001" { "failed" } else { "ok" }, "{got:?}");
    }
    assert_eq!(r.runs().len(), 5);
}

#[test]
fn missing_token_variable_fails_that_account_before_wrangler_runs() {
    let r = Repo::new(4);
    let rep = r.path().join("report.json");
    let mut c = Command::new(env!("CARGO_BIN_EXE_tenants"));
    c.current_dir(r.path())
        .args([
            "deploy",
            "--all",
            "--env",
            "dev",
            "--continue-on-error",
            "--report",
            rep.to_str().unwrap(),
        ])
        .env("TENANTS_WRANGLER", r.path().join("standin.sh"))
        .env("STANDIN_LOG", &r.log)
        .env("CF_API_TOKEN_ACME", ACME_TOKEN)
        .env_remove("CF_API_TOKEN_SHARED");
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let rep = report(&rep);
    for res in rep["results"].as_array().unwrap() {
        let t = res["tenant"].as_str().unwrap();
        if t.starts_with("globex") {
            assert_eq!(res["status"], "failed");
            assert!(res["error"].as_str().unwrap().contains("`CF_API_TOKEN_SHARED`"), "{res}");
        } else {
            assert_eq!(res["status"], "ok");
        }
    }
    assert!(r.runs().iter().all(|run| run.0.starts_with("acme")), "wrangler ran without a token");
}

#[test]
fn invalid_tenant_deploys_nothing() {
    let r = Repo::new(3);
    std::fs::write(
        r.path().join("tenants/acme-00000.kdl"),
        "tenant \"acme-00000\" { account \"nope\" }\n",
    )
    .unwrap();
    let o = r.deploy(&["--all", "--env", "dev"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing was deployed"));
    assert!(r.runs().is_empty());
}

#[test]
fn a_non_development_environment_needs_yes() {
    let r = Repo::new(2);
    let o = r.deploy(&["--all", "--env", "prod"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("needs --yes"));
    assert!(r.runs().is_empty());
    let o = r.deploy(&["--all", "--env", "prod", "--yes"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(r.runs().len(), 2);
    // A dry run needs no confirmation.
    let o = r.deploy(&["acme-00000", "--env", "prod", "--dry-run"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let args: Vec<String> = r.log_lines().into_iter().filter(|l| l.starts_with("args acme-00000")).collect();
    assert!(args.last().unwrap().contains("--dry-run --outdir"), "{args:?}");
}

#[test]
fn usage_errors_exit_2() {
    let r = Repo::new(2);
    for args in [
        vec!["--env", "dev"],
        vec!["acme-00000", "--all", "--env", "dev"],
        vec!["nobody", "--env", "dev"],
        vec!["--all", "--env", "qa"],
        vec!["--all", "--env", "dev", "--concurrency", "0"],
    ] {
        let o = r.deploy(&args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
    std::fs::remove_file(r.path().join("runtime/build/index.js")).unwrap();
    let o = r.deploy(&["--all", "--env", "dev"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("Worker bundle"), "{}", text(&o));
    assert!(r.runs().is_empty());
}

#[test]
fn deploys_are_recorded_and_status_shows_what_changed_since() {
    let r = Repo::new(2);
    let o = r.tenants("status", &["--env", "dev", "--format", "json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().all(|x| x["state"] == "never deployed"), "{v}");

    let o = r.deploy(&["--all", "--env", "dev"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let records = std::fs::read_to_string(r.path().join("state/deploys.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 2);
    let first: Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(first["tenant"], "acme-00000");
    assert_eq!(first["version_id"], "v-acme-00000");
    assert_eq!(first["action"], "deploy");
    assert!(!records.contains(ACME_TOKEN) && !records.contains(SHARED_TOKEN));

    // Change one tenant: status says which.
    let p = r.path().join("tenants/acme-00000.kdl");
    let s = std::fs::read_to_string(&p).unwrap().replacen("top-k=5", "top-k=6", 1);
    std::fs::write(&p, s).unwrap();
    let o = r.tenants("status", &["--env", "dev", "--format", "json"], &[]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let state: HashMap<String, String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["tenant"].as_str().unwrap().to_string(), x["state"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(state["globex-00001"], "current");
    assert_eq!(state["acme-00000"], "changed", "{v}");
}

#[test]
fn rollback_goes_to_the_previous_recorded_version_and_is_recorded() {
    let r = Repo::new(2);
    // Nothing recorded yet: a usage error, wrangler not run.
    let o = r.tenants("rollback", &["acme-00000", "--env", "dev"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("pass --to VERSION"));
    for v in ["ver-1", "ver-2"] {
        let o = r.deploy(&["acme-00000", "--env", "dev"], &[("STANDIN_VERSION", v)]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = r.tenants("rollback", &["acme-00000", "--env", "dev"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(ACME_TOKEN));
    let args = r
        .log_lines()
        .into_iter()
        .rfind(|l| l.starts_with("args acme-00000 rollback"))
        .unwrap();
    assert!(
        args.contains("rollback ver-1 --config") && args.contains("--name ai-platform-acme-00000-dev"),
        "{args}"
    );
    let env: Vec<String> = r
        .log_lines()
        .into_iter()
        .filter(|l| l.starts_with("env acme-00000 CLOUDFLARE_API_TOKEN"))
        .collect();
    assert!(env.iter().all(|l| l.ends_with(ACME_TOKEN)), "{env:?}");
    let records = std::fs::read_to_string(r.path().join("state/deploys.jsonl")).unwrap();
    let last: Value = serde_json::from_str(records.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["action"].as_str(), last["version_id"].as_str()),
        (Some("rollback"), Some("ver-1"))
    );
    // Production needs --yes; an explicit --to is passed through.
    let o = r.tenants("rollback", &["acme-00000", "--env", "prod", "--to", "ver-0"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let o = r.tenants("rollback", &["acme-00000", "--env", "prod", "--to", "ver-0", "--yes"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(r.log_lines().iter().any(|l| l.starts_with("args acme-00000 rollback ver-0")));
}

#[test]
fn a_hung_wrangler_is_stopped_at_the_timeout_and_fails() {
    let r = Repo::new(1);
    let rep = r.path().join("report.json");
    let t = std::time::Instant::now();
    let o = r.deploy(
        &["--all", "--env", "dev", "--timeout", "1", "--report", rep.to_str().unwrap()],
        &[("STANDIN_SLEEP", "30")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "the stand-in was not stopped");
    let rep = report(&rep);
    assert_eq!(rep["results"][0]["status"], "failed");
    assert!(
        rep["results"][0]["error"].as_str().unwrap().contains("did not finish within 1 s"),
        "{rep}"
    );
}

#[test]
fn dry_run_prints_the_plan_with_bindings_and_routes() {
    let r = Repo::new(2);
    let o = r.deploy(&["--all", "--env", "prod", "--dry-run"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("acme-00000 -> script ai-platform-acme-00000-prod in account acme"),
        "{t}"
    );
    assert!(t.contains("CACHE (kv_namespace "), "{t}");
    assert!(t.contains("SESSIONS (durable_object_namespace ChatSession)"), "{t}");
    assert!(t.contains("routes: "), "{t}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_scheduling_lets_running_deploys_finish_and_writes_the_report() {
    let r = Repo::new(6);
    let rep = r.path().join("report.json");
    let child = Command::new(env!("CARGO_BIN_EXE_tenants"))
        .current_dir(r.path())
        .args([
            "deploy",
            "--all",
            "--env",
            "dev",
            "--concurrency",
            "2",
            "--report",
            rep.to_str().unwrap(),
        ])
        .env("TENANTS_WRANGLER", r.path().join("standin.sh"))
        .env("STANDIN_LOG", &r.log)
        .env("STANDIN_SLEEP", "1.5")
        .env("CF_API_TOKEN_ACME", ACME_TOKEN)
        .env("CF_API_TOKEN_SHARED", SHARED_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until two deploys are running, then interrupt.
    let t = std::time::Instant::now();
    while r.log_lines().iter().filter(|l| l.starts_with("start ")).count() < 2 {
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "the deploys did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let got = statuses(&report(&rep));
    let ok = got.iter().filter(|(_, s)| s == "ok").count();
    let skipped = got.iter().filter(|(_, s)| s == "skipped").count();
    assert_eq!((ok, skipped), (2, 4), "the running two finished, the rest never started: {got:?}");
    assert_eq!(r.runs().len(), 2);
    assert!(report(&rep)["results"][5]["error"].as_str().unwrap().contains("interrupted"));
}

#[test]
fn a_hung_rollback_is_stopped_at_the_timeout() {
    let r = Repo::new(1);
    let t = std::time::Instant::now();
    let o = r.tenants(
        "rollback",
        &["acme-00000", "--env", "dev", "--to", "ver-0", "--timeout", "1"],
        &[("STANDIN_SLEEP", "30")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "the stand-in was not stopped");
    assert!(text(&o).contains("did not finish within 1 s"), "{}", text(&o));
    assert!(!r.path().join("state/deploys.jsonl").exists(), "a failed rollback is not recorded");
}

#[test]
fn keys_create_remote_uses_only_the_tenants_own_account_and_stores_no_key() {
    let r = Repo::new(2);
    let o = r.tenants(
        "keys",
        &[
            "create",
            "--tenant",
            "acme-00000",
            "--env",
            "stage",
            "--name",
            "ci-bot",
            "--roles",
            "admin",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let key = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        key.starts_with("tak_acme-00000_") && key.len() == "tak_acme-00000_".len() + 64,
        "stdout: {key}"
    );
    let log = std::fs::read_to_string(&r.log).unwrap();
    // wrangler saw the tenant's own account token, no other, and --remote.
    assert!(log.contains(&format!("CLOUDFLARE_API_TOKEN={ACME_TOKEN}")), "{log}");
    assert!(!log.contains(SHARED_TOKEN) && !log.contains(STRAY_TOKEN), "{log}");
    let args = log.lines().find(|l| l.starts_with("args ")).unwrap();
    assert!(args.contains("kv key put t/acme-00000/apikey/stage/"), "{args}");
    assert!(
        args.contains("--binding CACHE") && args.contains("--remote") && args.contains("--metadata"),
        "{args}"
    );
    // Only the hash is sent: the key itself never reaches wrangler.
    assert!(!log.contains(&key[15..]), "the key was passed to wrangler: {log}");
    assert!(!text(&o).contains(ACME_TOKEN), "token printed");
    // A missing token fails before wrangler runs.
    std::fs::remove_file(&r.log).ok();
    let o = r.tenants(
        "keys",
        &["create", "--tenant", "acme-00000", "--env", "stage", "--name", "x"],
        &[("CF_API_TOKEN_ACME", "")],
    );
    assert!(!o.status.success());
    assert!(!r.log.exists(), "wrangler ran without a token");
    // Usage errors exit 2: a bad name, an unknown tenant.
    let o = r.tenants(
        "keys",
        &["create", "--tenant", "acme-00000", "--env", "stage", "--name", "Bad Name"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = r.tenants("keys", &["list", "--tenant", "nobody", "--env", "stage"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
