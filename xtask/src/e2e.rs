//! `cargo xtask e2e`: the real Worker on local workerd.
//!
//! Builds the Worker with worker-build, renders the dev-environment configs
//! with `tenants build` into `target/e2e/`, starts one `wrangler dev
//! --local` per tenant (each deployment is pinned to its tenant) on free
//! loopback ports, waits until each answers, runs the cases, and stops
//! every process group when done — also when a case fails or panics.
//! Then `wrangler deploy --dry-run` on every config of every environment.
//!
//! Cases come from the registry (`registry.json`): hosts, header policy
//! and CORS origins of each tenant, so a new example tenant is covered
//! without editing this file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::net::{free_port, request, wait_ready, Guard, Reply};
use crate::toolchain::Toolchain;
use crate::{fail, run, tenants};

/// One tenant's dev deployment, from the registry.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub host: String,
    pub header_allowed: bool,
    pub cors_origins: Vec<String>,
    pub config: PathBuf,
}

/// Render configs for `env` (all environments when `None`) into `out`.
pub fn render(tc: &Toolchain, out: &Path, env: Option<&str>, tenant: Option<&str>) -> Result<(), ExitCode> {
    render_from(tc, &tc.root.join("tenants"), out, env, tenant)
}

/// The same, from another tenants directory.
pub fn render_from(tc: &Toolchain, root: &Path, out: &Path, env: Option<&str>, tenant: Option<&str>) -> Result<(), ExitCode> {
    let main = tc.root.join("runtime/build/index.js");
    let mut args = vec!["build".to_string(), "--root".into(), root.display().to_string()];
    args.extend([
        "--out".into(),
        out.display().to_string(),
        "--main".into(),
        main.display().to_string(),
    ]);
    if let Some(e) = env {
        args.extend(["--env".into(), e.to_string()]);
    }
    if let Some(t) = tenant {
        args.extend(["--tenant".into(), t.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&format!("tenants build --out {}", out.display()), tenants(&args))
}

/// The tenants of `env` in a rendered output directory.
pub fn registry(out: &Path, env: &str) -> Result<Vec<Tenant>, ExitCode> {
    let path = out.join("registry.json");
    let text = std::fs::read_to_string(&path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| fail(format!("{} is not JSON: {e}", path.display())))?;
    let mut found = Vec::new();
    for t in v["tenants"].as_array().into_iter().flatten() {
        for e in t["environments"].as_array().into_iter().flatten().filter(|e| e["name"] == env) {
            let host = e["hosts"]
                .as_array()
                .and_then(|h| h.iter().filter_map(Value::as_str).find(|h| !h.starts_with("*.")));
            found.push(Tenant {
                id: t["id"].as_str().unwrap_or_default().to_string(),
                host: host.unwrap_or_default().to_string(),
                header_allowed: e["header_allowed"].as_bool().unwrap_or(false),
                cors_origins: e["cors_origins"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_str().map(String::from))
                    .collect(),
                config: out.join(e["config"]["path"].as_str().unwrap_or_default()),
            });
        }
    }
    if found.is_empty() {
        return Err(fail(format!("no tenant has a `{env}` environment in {}", path.display())));
    }
    Ok(found)
}

/// A running `wrangler dev --local` for one tenant.
pub struct Dev {
    pub tenant: Tenant,
    pub port: u16,
    pub log: PathBuf,
    pub guard: Guard,
    /// Starts wrangler dev again on other ports (`port`, inspector) when
    /// the chosen ones were taken before it bound them; `None` when the
    /// caller fixed the port.
    respawn: Option<Box<Spawn>>,
}

/// Starts wrangler dev on a port and an inspector port.
type Spawn = dyn Fn(u16, u16) -> std::io::Result<Guard> + Send + Sync;

/// The message wrangler dev exits with when its port was taken.
const PORT_TAKEN: &str = "Address already in use";

/// Start `wrangler dev --local` for `t` on `port` (a free one when `None`).
/// `extra`: more wrangler arguments (`--var K:V`, another `--config`).
pub fn start_dev(tc: &Toolchain, t: &Tenant, port: Option<u16>, state: &Path, log: &Path, extra: &[String]) -> Result<Dev, ExitCode> {
    match port {
        Some(p) => spawn_dev(tc, t, p, false, state, log, extra),
        None => {
            let p = free_port().map_err(|e| fail(format!("no free port: {e}")))?;
            spawn_dev(tc, t, p, true, state, log, extra)
        }
    }
}

/// Start wrangler dev on `port`; with `retry`, again on other ports if
/// it was taken (see [`Dev::wait`]).
fn spawn_dev(tc: &Toolchain, t: &Tenant, port: u16, retry: bool, state: &Path, log: &Path, extra: &[String]) -> Result<Dev, ExitCode> {
    let inspector = free_port().map_err(|e| fail(format!("no free port: {e}")))?;
    let (tc, t2, state, log2, extra) = (tc.clone(), t.clone(), state.to_path_buf(), log.to_path_buf(), extra.to_vec());
    let spawn = move |port: u16, inspector: u16| {
        let mut c = tc.wrangler();
        c.current_dir(t2.config.parent().unwrap_or(Path::new(".")))
            .args(["dev", "--local", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string(), "--show-interactive-dev-session=false"])
            .arg("--config")
            .arg(&t2.config)
            .arg("--persist-to")
            .arg(&state);
        c.args(&extra);
        let _ = std::fs::remove_file(&log2);
        Guard::spawn(&format!("wrangler dev ({})", t2.id), c, &log2)
    };
    let guard = spawn(port, inspector).map_err(|e| fail(format!("cannot start wrangler dev for {}: {e}", t.id)))?;
    Ok(Dev {
        tenant: t.clone(),
        port,
        log: log.to_path_buf(),
        guard,
        respawn: retry.then(|| Box::new(spawn) as Box<Spawn>),
    })
}

impl Dev {
    /// Wait until the Worker answers `/health` for its tenant.
    /// A free port can be taken by another process before wrangler binds
    /// it (an outgoing connection's source port): then wrangler is started
    /// again on other ports, twice at most.
    pub fn wait(&mut self, timeout: Duration) -> Result<Duration, String> {
        let mut tries = 0;
        let r = loop {
            let (port, host) = (self.port, self.tenant.host.clone());
            let r = wait_ready(&mut self.guard, timeout, || {
                request(port, "GET", "/health", &[("host", &host)], b"").is_ok_and(|r| r.status == 200)
            });
            let taken = r.is_err() && std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains(PORT_TAKEN));
            match (&self.respawn, taken && tries < 2) {
                (Some(spawn), true) => {
                    tries += 1;
                    let (p, i) = (free_port().map_err(|e| e.to_string())?, free_port().map_err(|e| e.to_string())?);
                    eprintln!(
                        "    wrangler dev ({}): port {} was taken; starting again on {p}",
                        self.tenant.id, self.port
                    );
                    self.guard = spawn(p, i).map_err(|e| e.to_string())?;
                    self.port = p;
                }
                _ => break r,
            }
        };
        r.map_err(|e| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            format!(
                "{e}\n--- {} (last lines)\n{}",
                self.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
    }
}

/// Results of a suite.
#[derive(Default)]
pub struct Tally {
    pub passed: u64,
    pub failed: Vec<String>,
}

impl Tally {
    pub(crate) fn case(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("e2e {name} ... ok");
            }
            Err(e) => {
                println!("e2e {name} ... FAILED\n    {e}");
                self.failed.push(format!("{name}: {e}"));
            }
        }
    }
}

pub(crate) fn send(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
    request(port, method, path, headers, body).map_err(|e| format!("{method} {path}: {e}"))
}

pub(crate) fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// The request id is in the header and, for JSON bodies, in the body.
pub(crate) fn request_id(r: &Reply) -> Result<String, String> {
    let id = r.header("x-request-id").ok_or("no x-request-id header")?.to_string();
    if !r.body.is_empty() {
        let v = r.json()?;
        let in_body = v["request_id"]
            .as_str()
            .or_else(|| v["error"]["request_id"].as_str())
            .unwrap_or_default();
        check(in_body == id, || format!("request id: header `{id}`, body `{in_body}`"))?;
    }
    Ok(id)
}

/// Status, the error envelope (exactly `code`, `message`, `request_id`) and the id.
pub(crate) fn envelope(r: &Reply, status: u16, code: &str) -> Result<String, String> {
    check(r.status == status, || {
        format!("status {} (want {status}): {}", r.status, String::from_utf8_lossy(&r.body))
    })?;
    check(r.header("content-type") == Some("application/json; charset=utf-8"), || {
        format!("content-type {:?}", r.header("content-type"))
    })?;
    let v = r.json()?;
    let e = v["error"].as_object().ok_or_else(|| format!("no error envelope: {v}"))?;
    let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
    keys.sort();
    check(
        keys == ["code", "message", "request_id"] && v.as_object().is_some_and(|o| o.len() == 1),
        || format!("envelope shape: {v}"),
    )?;
    check(e["code"] == code, || format!("code {} (want {code})", e["code"]))?;
    request_id(r)
}

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every case against every running deployment.
pub fn cases(devs: &[Dev], tally: &mut Tally) {
    for (i, d) in devs.iter().enumerate() {
        let (p, t) = (d.port, &d.tenant);
        let host = t.host.as_str();
        let other = &devs[(i + 1) % devs.len()].tenant;
        let name = |c: &str| format!("{}: {c}", t.id);

        tally.case(
            &name("own host -> 200 health"),
            (|| {
                let r = send(p, "GET", "/health", &[("host", host)], b"")?;
                check(r.status == 200, || {
                    format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body))
                })?;
                let v = r.json()?;
                check(v["data"]["tenant"] == t.id.as_str(), || format!("tenant {}", v["data"]["tenant"]))?;
                check(v["data"]["env"] == "dev", || format!("env {}", v["data"]["env"]))?;
                check(v["data"]["status"] == "ok", || format!("bindings: {}", v["data"]["bindings"]))?;
                check(v["data"]["version"].as_str().is_some_and(|s| !s.is_empty()), || "no version".into())?;
                check(is_generated_id(&request_id(&r)?), || "generated id is not 32 hex".into())
            })(),
        );

        tally.case(
            &name("unknown host -> 404 tenant_unknown, logged"),
            (|| {
                let r = send(p, "GET", "/health", &[("host", "nobody.localhost")], b"")?;
                let id = envelope(&r, 404, "tenant_unknown")?;
                // The structured log line reaches wrangler's output.
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                loop {
                    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
                    let line = log.lines().filter(|l| l.contains(&id)).find_map(|l| {
                        let start = l.find('{')?;
                        serde_json::from_str::<Value>(&l[start..]).ok()
                    });
                    if let Some(v) = line {
                        check(
                            v["status"] == 404 && v["error"] == "tenant_unknown" && v["tenant"].is_null() && v["env"] == "dev",
                            || format!("log line {v}"),
                        )?;
                        return Ok(());
                    }
                    if std::time::Instant::now() > deadline {
                        return Err(format!("no log line with request id {id} in {}", d.log.display()));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })(),
        );

        let port_host = format!("127.0.0.1:{p}");
        if t.header_allowed {
            tally.case(
                &name("header only, policy allows it in dev -> 200"),
                (|| {
                    let r = send(p, "GET", "/health", &[("host", &port_host), ("x-tenant-id", &t.id)], b"")?;
                    check(r.status == 200, || {
                        format!("status {}: {}", r.status, String::from_utf8_lossy(&r.body))
                    })?;
                    let v = r.json()?;
                    check(v["data"]["tenant"] == t.id.as_str() && v["data"]["resolved_by"] == "header", || {
                        format!("{v}")
                    })?;
                    request_id(&r).map(drop)
                })(),
            );
        } else {
            tally.case(
                &name("header only, policy `never` -> 403 tenant_header_not_allowed"),
                (|| {
                    let r = send(p, "GET", "/health", &[("host", &port_host), ("x-tenant-id", &t.id)], b"")?;
                    envelope(&r, 403, "tenant_header_not_allowed").map(drop)
                })(),
            );
        }

        tally.case(
            &name("header names another tenant than the host -> 400 tenant_conflict"),
            (|| {
                let r = send(p, "GET", "/health", &[("host", host), ("x-tenant-id", &other.id)], b"")?;
                envelope(&r, 400, "tenant_conflict").map(drop)
            })(),
        );

        tally.case(
            &name(&format!("another tenant's host ({}) -> 421 tenant_not_served", other.host)),
            (|| {
                let r = send(p, "GET", "/health", &[("host", &other.host)], b"")?;
                envelope(&r, 421, "tenant_not_served").map(drop)
            })(),
        );

        tally.case(
            &name("malformed x-request-id is replaced, well-formed is echoed"),
            (|| {
                let r = send(p, "GET", "/health", &[("host", host), ("x-request-id", "bad id; <script>")], b"")?;
                check(r.status == 200, || format!("status {}", r.status))?;
                let id = request_id(&r)?;
                check(is_generated_id(&id), || format!("replaced id `{id}`"))?;
                let mine = "e2e-0123456789abcdef";
                let r = send(p, "GET", "/nope", &[("host", host), ("x-request-id", mine)], b"")?;
                let id = envelope(&r, 404, "not_found")?;
                check(id == mine, || format!("echoed `{id}`"))
            })(),
        );

        tally.case(
            &name("oversized body -> 413 payload_too_large"),
            (|| {
                let body = vec![b'x'; (1 << 20) + 1];
                let len = body.len().to_string();
                let r = send(
                    p,
                    "POST",
                    "/health",
                    &[("host", host), ("content-type", "text/plain"), ("content-length", &len)],
                    &body,
                )?;
                envelope(&r, 413, "payload_too_large").map(drop)
            })(),
        );

        tally.case(
            &name("wrong method -> 405 with allow"),
            (|| {
                let r = send(p, "DELETE", "/health", &[("host", host)], b"")?;
                envelope(&r, 405, "method_not_allowed")?;
                check(r.header("allow") == Some("GET, HEAD, OPTIONS"), || {
                    format!("allow {:?}", r.header("allow"))
                })
            })(),
        );

        tally.case(
            &name("unknown path -> 404 not_found"),
            (|| {
                let r = send(p, "GET", "/does-not-exist", &[("host", host)], b"")?;
                envelope(&r, 404, "not_found").map(drop)
            })(),
        );

        tally.case(
            &name("HEAD -> 200 without body"),
            (|| {
                let r = send(p, "HEAD", "/health", &[("host", host)], b"")?;
                check(r.status == 200 && r.body.is_empty(), || {
                    format!("status {} body {} bytes", r.status, r.body.len())
                })?;
                request_id(&r).map(drop)
            })(),
        );

        tally.case(
            &name("CORS: foreign origin -> 403 origin_not_allowed"),
            (|| {
                let h = [
                    ("host", host),
                    ("origin", "https://evil.example"),
                    ("access-control-request-method", "GET"),
                ];
                let r = send(p, "OPTIONS", "/health", &h, b"")?;
                envelope(&r, 403, "origin_not_allowed")?;
                check(r.header("access-control-allow-origin").is_none(), || {
                    "allow-origin on a refusal".into()
                })
            })(),
        );

        if let Some(origin) = t.cors_origins.first() {
            tally.case(
                &name("CORS: listed origin preflight -> 204 with allow-origin"),
                (|| {
                    let h = [
                        ("host", host),
                        ("origin", origin.as_str()),
                        ("access-control-request-method", "GET"),
                    ];
                    let r = send(p, "OPTIONS", "/health", &h, b"")?;
                    check(r.status == 204, || format!("status {}", r.status))?;
                    check(r.header("access-control-allow-origin") == Some(origin.as_str()), || {
                        format!("{:?}", r.headers)
                    })?;
                    request_id(&r).map(drop)
                })(),
            );
        }
    }
}

/// The DO class names a config declares.
fn declared_classes(config: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    let v: Value = jsonc_value(&text);
    v["durable_objects"]["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["class_name"].as_str().map(String::from))
        .collect()
}

/// Generated configs are JSON with `//` comment lines at the top.
pub(crate) fn jsonc_value(text: &str) -> Value {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// The names a bundle's final `export { a as B, … }` exports.
fn exported_names(bundle: &str) -> Vec<String> {
    let Some(i) = bundle.rfind("export{").or_else(|| bundle.rfind("export {")) else {
        return vec![];
    };
    let rest = &bundle[i..];
    let inner = &rest[rest.find('{').unwrap_or(0) + 1..rest.find('}').unwrap_or(rest.len())];
    inner
        .split(',')
        .map(|x| x.split(" as ").last().unwrap_or("").trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// `tenants deploy --all --env E --dry-run` (the real wrangler's `deploy
/// --dry-run --outdir` per tenant) for every environment: every tenant ok,
/// no wrangler warning, and each bundle exports every Durable Object class
/// its config declares.
pub fn dry_run(tc: &Toolchain, out: &Path, work: &Path, tally: &mut Tally) -> Result<(), ExitCode> {
    let mut envs: Vec<String> = std::fs::read_dir(out)
        .map_err(|e| fail(format!("cannot read {}: {e}", out.display())))?
        .flatten()
        .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    envs.sort();
    for env in &envs {
        let outdir = work.join("dry-run");
        let report = work.join(format!("dry-run-{env}.json"));
        let root = tc.root.join("tenants").display().to_string();
        let cfgs = work.join("deploy-configs").display().to_string();
        let (od, rep) = (outdir.display().to_string(), report.display().to_string());
        let mut c = tenants(&[
            "deploy",
            "--all",
            "--env",
            env,
            "--dry-run",
            "--root",
            &root,
            "--out",
            &cfgs,
            "--outdir",
            &od,
            "--report",
            &rep,
        ]);
        tc.apply(&mut c);
        let status = c.status().map_err(|e| fail(format!("cannot run tenants deploy: {e}")))?;
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let results = v["results"].as_array().cloned().unwrap_or_default();
        tally.case(
            &format!("tenants deploy --all --env {env} --dry-run"),
            check(status.success() && !results.is_empty(), || format!("exit {status}, report: {text}")),
        );
        for r in &results {
            let tenant = r["tenant"].as_str().unwrap_or_default();
            let dir = outdir.join(env).join(tenant);
            let cfg = work.join("deploy-configs").join(env).join(format!("{tenant}.wrangler.jsonc"));
            let result = (|| {
                check(r["status"] == "ok", || format!("status {}: {}", r["status"], r["error"]))?;
                let warnings = r["warnings"].as_array().cloned().unwrap_or_default();
                check(warnings.is_empty(), || format!("wrangler warnings: {warnings:?}"))?;
                let bundle = std::fs::read_to_string(dir.join("index.js")).map_err(|e| format!("no bundle in {}: {e}", dir.display()))?;
                let exported = exported_names(&bundle);
                for class in declared_classes(&cfg) {
                    check(exported.contains(&class), || {
                        format!("Durable Object class {class} is not exported (exports: {exported:?})")
                    })?;
                }
                check(exported.iter().any(|e| e == "default"), || {
                    "no default export (fetch handler)".into()
                })
            })();
            tally.case(
                &format!("wrangler deploy --dry-run {env}/{tenant}: no warning, classes exported"),
                result,
            );
        }
    }
    Ok(())
}

/// The whole suite. Returns (passed, failed).
pub fn e2e(tc: &Toolchain) -> Result<(u64, u64), ExitCode> {
    let work = tc.root.join("target/e2e");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("cannot create {}: {e}", work.display())))?;
    // The test identity provider: fresh keys, tokens, and a loopback JWKS
    // server that acme's stage environment is pointed at in a generated
    // copy of tenants/ — the one Worker build of the run is made from it.
    let idp = crate::e2e_api::TestIdp::start(tc)?;
    let tenants_copy = work.join("tenants");
    idp.tenants_copy(&tc.root.join("tenants"), &tenants_copy)?;
    crate::e2e_chat::patch_tenants(&tenants_copy).map_err(|e| fail(format!("e2e tenants copy: {e}")))?;
    crate::toolchain::build_worker_from(tc, Some(&tenants_copy))?;
    let all = work.join("configs");
    render_from(tc, &tenants_copy, &all, None, None)?;

    let mut tally = Tally::default();
    // The scripted model server every development deployment chats with.
    let model = crate::model_server::ModelServer::start(tc, &work.join("scripted-model-server.log"), 15).map_err(fail)?;
    let dev_vars = ["--var".to_string(), format!("AI_BASE_URL:{}", model.url)];
    eprintln!(
        "==> e2e: wrangler dev --local per tenant (dev environment), models from the scripted model server at {}",
        model.url
    );
    let tenants = registry(&all, "dev")?;
    let mut devs = Vec::new();
    for t in &tenants {
        let log = work.join(format!("wrangler-dev-{}.log", t.id));
        devs.push(start_dev(tc, t, None, &work.join("state").join(&t.id), &log, &dev_vars)?);
    }
    let mut ready = true;
    for d in &mut devs {
        match d.wait(Duration::from_secs(90)) {
            Ok(took) => eprintln!(
                "    {} ready on 127.0.0.1:{} (pid {}) in {:.1}s",
                d.tenant.id,
                d.port,
                d.guard.pid(),
                took.as_secs_f64()
            ),
            Err(e) => {
                tally.case(&format!("{}: wrangler dev starts", d.tenant.id), Err(e));
                ready = false;
            }
        }
    }
    // One stage deployment (acme), run locally with its own state, for the
    // cases where development users do not exist.
    let stage_state = work.join("state").join("acme-stage");
    let stages = registry(&all, "stage")?;
    let stage = stages.iter().find(|t| t.id == "acme");
    let mut stage_dev = None;
    if let Some(t) = stage {
        let log = work.join("wrangler-dev-acme-stage.log");
        // Its `AI` binding is the stand-in (Workers AI has no local emulation).
        let (t, extra) = crate::e2e_chat::with_standin_ai(tc, t, &work, &model.url).map_err(fail)?;
        let mut d = start_dev(tc, &t, None, &stage_state, &log, &extra)?;
        match d.wait(Duration::from_secs(90)) {
            Ok(_) => stage_dev = Some(d),
            Err(e) => tally.case("acme (stage): wrangler dev starts", Err(e)),
        }
    }
    // globex (Access) and initech (inline keys) in stage too.
    let mut other_stages = Vec::new();
    for t in stages.iter().filter(|t| t.id == "globex" || t.id == "initech") {
        let log = work.join(format!("wrangler-dev-{}-stage.log", t.id));
        let state = work.join("state").join(format!("{}-stage", t.id));
        // initech's first port is held by this process: the harness must
        // see wrangler fail on it and start it again on another one.
        let taken = if t.id == "initech" {
            Some(std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| fail(format!("no free port: {e}")))?)
        } else {
            None
        };
        let mut d = match taken.as_ref().and_then(|l| l.local_addr().ok()) {
            Some(a) => spawn_dev(tc, t, a.port(), true, &state, &log, &[])?,
            None => start_dev(tc, t, None, &state, &log, &[])?,
        };
        match d.wait(Duration::from_secs(90)) {
            Ok(_) => {
                if let Some(a) = taken.as_ref().and_then(|l| l.local_addr().ok()) {
                    tally.case(
                        "initech (stage): wrangler dev whose port was taken is started again on another",
                        check(d.port != a.port(), || format!("still on the taken port {}", a.port())),
                    );
                }
                other_stages.push(d)
            }
            Err(e) => tally.case(&format!("{} (stage): wrangler dev starts", t.id), Err(e)),
        }
    }
    let short_lived = if ready { crate::e2e_chat::retention_begin(&devs) } else { None };
    // `E2E_ONLY=chat` runs only the chat cases (a local shortcut; CI runs all).
    let only_chat = std::env::var("E2E_ONLY").is_ok_and(|v| v == "chat");
    let only_rag = std::env::var("E2E_ONLY").is_ok_and(|v| v == "rag");
    let only_tools = std::env::var("E2E_ONLY").is_ok_and(|v| v == "tools");
    let only_playground = std::env::var("E2E_ONLY").is_ok_and(|v| v == "playground");
    let playground = |devs: &[Dev], tally: &mut Tally| {
        if let Some(a) = devs.iter().find(|d| d.tenant.id == "acme") {
            crate::e2e_playground::cases(a, stage_dev.as_ref(), tc, tally);
        }
    };
    let tools = |devs: &[Dev], tally: &mut Tally| {
        let find = |id: &str| devs.iter().find(|d| d.tenant.id == id);
        if let (Some(a), Some(i), Some(g)) = (find("acme"), find("initech"), find("globex")) {
            crate::e2e_tools::cases(a, i, g, tc, tally);
            crate::e2e_tools::trace_case(a, &model, tally);
            let token = idp.tokens.iter().find(|t| t.2 == 200).map(|t| t.1.clone());
            if let (Some(s), Some(t)) = (&stage_dev, &token) {
                crate::e2e_tools::binding_tool_case(s, t, tally);
            }
            let stage = stage_dev.as_ref().zip(token);
            crate::e2e_tools::tts_cases(a, g, stage, tc, tally);
        }
    };
    let rag = |devs: &[Dev], tally: &mut Tally| {
        let find = |id: &str| devs.iter().find(|d| d.tenant.id == id);
        if let (Some(a), Some(g)) = (find("acme"), find("globex")) {
            crate::e2e_rag::cases(a, g, &model, tally);
            crate::e2e_rag::queue_case(a, tally);
            crate::e2e_rag::cli_case(tc, g, a, tally);
        }
        if let Some(s) = &stage_dev {
            crate::e2e_rag::stage_case(s, &idp, tally);
        }
    };
    if ready && only_playground {
        playground(&devs, &mut tally);
    } else if ready && only_rag {
        rag(&devs, &mut tally);
    } else if ready && only_tools {
        tools(&devs, &mut tally);
    } else if ready && only_chat {
        if let Some(s) = &stage_dev {
            crate::e2e_chat::binding_case(s, &idp, &mut tally);
        }
        let kept = crate::e2e_chat::cases(&devs, &model, &mut tally);
        restart_acme(tc, &mut devs, &work, &dev_vars, kept, &mut tally)?;
    } else if ready {
        cases(&devs, &mut tally);
        // initech's tenant file limits each user to 20 requests per hour.
        crate::e2e_api::cases(&devs, "initech", &mut tally);
        if let Some(s) = &stage_dev {
            let key_args: Vec<String> = [
                "--tenant",
                "acme",
                "--env",
                "stage",
                "--local",
                "--persist-to",
                &stage_state.display().to_string(),
                "--root",
                &tc.root.join("tenants").display().to_string(),
                "--out",
                &work.join("keys-out").display().to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let dev_acme = devs.iter().find(|d| d.tenant.id == "acme");
            crate::e2e_api::stage_cases(tc, s, dev_acme, &key_args, &mut tally);
            crate::e2e_api::jwt_cases(s, &idp, &mut tally);
            crate::e2e_chat::binding_case(s, &idp, &mut tally);
        }
        crate::e2e_api::extra_cases(&other_stages, &idp, &mut tally);
        let kept = crate::e2e_chat::cases(&devs, &model, &mut tally);
        rag(&devs, &mut tally);
        tools(&devs, &mut tally);
        playground(&devs, &mut tally);
        restart_acme(tc, &mut devs, &work, &dev_vars, kept, &mut tally)?;
    }
    if ready && !only_rag && !only_tools && !only_playground {
        crate::e2e_chat::retention_check(&devs, short_lived, &mut tally);
    }
    drop(stage_dev);
    drop(other_stages);
    drop(devs); // stops every wrangler/workerd process group
    drop(model);

    if !only_chat && !only_rag && !only_tools && !only_playground {
        eprintln!("==> e2e: tenants deploy --dry-run (wrangler deploy --dry-run) on every tenant and environment");
        dry_run(tc, &all, &work, &mut tally)?;
    }
    println!("e2e: {} passed, {} failed", tally.passed, tally.failed.len());
    for f in &tally.failed {
        println!("    FAILED {f}");
    }
    Ok((tally.passed, tally.failed.len() as u64))
}

/// Stop acme's dev server, start it again on the same state, and check
/// the kept session.
fn restart_acme(
    tc: &Toolchain,
    devs: &mut Vec<Dev>,
    work: &Path,
    extra: &[String],
    kept: Option<(String, String)>,
    tally: &mut Tally,
) -> Result<(), ExitCode> {
    let (Some(kept), Some(i)) = (kept, devs.iter().position(|d| d.tenant.id == "acme")) else {
        return Ok(());
    };
    let old = devs.remove(i);
    let (t, log) = (old.tenant.clone(), work.join("wrangler-dev-acme-restarted.log"));
    drop(old);
    let mut d = start_dev(tc, &t, None, &work.join("state").join(&t.id), &log, extra)?;
    match d.wait(Duration::from_secs(90)) {
        Ok(_) => crate::e2e_chat::after_restart(&d, &kept, tally),
        Err(e) => tally.case("acme: wrangler dev starts again", Err(e)),
    }
    devs.insert(i, d);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_names_reads_the_final_export_list() {
        let b = "var a=1;export{Wt as ChatSession,At as RateLimiter,St as default};";
        assert_eq!(exported_names(b), ["ChatSession", "RateLimiter", "default"]);
        assert!(exported_names("no exports").is_empty());
    }

    #[test]
    fn generated_ids_are_32_lowercase_hex() {
        assert!(is_generated_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_generated_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_generated_id("e2e-0123456789abcdef"));
    }
}
