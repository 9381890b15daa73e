//! `tenants drift` against a loopback HTTP server that answers in the
//! documented Cloudflare v4 shapes, seeded with differences: a missing
//! script, an extra binding, a changed var, a wrong compatibility date, and
//! API errors (401, 429 with `retry-after`, 500) to retry or report.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const ACME_TOKEN: &str = "tok-acme-0123456789abcdef";
const SHARED_TOKEN: &str = "tok-shared-fedcba9876543210";

/// What the fake API answers for one script.
#[derive(Clone)]
enum Script {
    /// Settings as given; routes and domains as given.
    Deployed {
        settings: Value,
        routes: Vec<String>,
        domains: Vec<String>,
    },
    Missing,
    /// This status while the script's settings have been requested at most
    /// `n` times in all (nested `Flaky`s count the same requests), then `then`.
    Flaky {
        status: u16,
        n: usize,
        then: Box<Script>,
    },
    Unauthorized,
}

impl Script {
    /// The (routes, domains) it ends up serving.
    fn served(&self) -> (Vec<String>, Vec<String>) {
        match self {
            Script::Deployed { routes, domains, .. } => (routes.clone(), domains.clone()),
            Script::Flaky { then, .. } => then.served(),
            _ => (vec![], vec![]),
        }
    }
}

struct Api {
    port: u16,
    /// (path, authorization header) of every request.
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

fn respond(stream: &mut std::net::TcpStream, status: u16, body: &Value, extra: &str) {
    let b = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{b}",
        b.len()
    );
}

fn start(scripts: HashMap<String, Script>) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.strip_prefix("authorization:").or_else(|| h.strip_prefix("Authorization:")) {
                    auth = v.trim().to_string();
                }
            }
            seen2.lock().unwrap().push((path.clone(), auth));
            let segs: Vec<&str> = path.split(['/', '?']).collect();
            // /client/v4/accounts/{a}/workers/scripts/{s}/settings
            if let Some(i) = segs.iter().position(|s| *s == "scripts") {
                let script = segs[i + 1].to_string();
                let mut state = scripts.get(&script).cloned().unwrap_or(Script::Missing);
                let k = {
                    let mut c = counts.lock().unwrap();
                    let k = c.entry(script.clone()).or_insert(0);
                    *k += 1;
                    *k
                };
                loop {
                    match state {
                        Script::Flaky { status, n, then } => {
                            if k <= n {
                                let extra = if status == 429 { "retry-after: 0\r\n" } else { "" };
                                respond(
                                    &mut stream,
                                    status,
                                    &json!({"success": false, "errors": [{"code": 10000 + status, "message": "try again"}]}),
                                    extra,
                                );
                                break;
                            }
                            state = *then;
                        }
                        Script::Deployed { ref settings, .. } => {
                            respond(&mut stream, 200, &json!({"success": true, "errors": [], "result": settings}), "");
                            break;
                        }
                        Script::Missing => {
                            respond(
                                &mut stream,
                                404,
                                &json!({"success": false, "errors": [{"code": 10007, "message": "workers.api.error.script_not_found"}]}),
                                "",
                            );
                            break;
                        }
                        Script::Unauthorized => {
                            respond(
                                &mut stream,
                                401,
                                &json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]}),
                                "",
                            );
                            break;
                        }
                    }
                }
            } else if path.contains("/workers/domains") {
                let service = path.split("service=").nth(1).unwrap_or("").split('&').next().unwrap_or("");
                let domains = scripts.get(service).map(|s| s.served().1).unwrap_or_default();
                let result: Vec<Value> = domains
                    .iter()
                    .map(|d| json!({"hostname": d, "service": service, "environment": "production"}))
                    .collect();
                respond(&mut stream, 200, &json!({"success": true, "result": result}), "");
            } else if path.contains("/zones?name=") {
                let name = path.split("name=").nth(1).unwrap_or("").split('&').next().unwrap_or("");
                let result = if ["example.com", "example.org", "example.net"].contains(&name) {
                    json!([{"id": format!("zone-{name}"), "name": name}])
                } else {
                    json!([])
                };
                respond(&mut stream, 200, &json!({"success": true, "result": result}), "");
            } else if path.contains("/workers/routes") {
                let mut result = Vec::new();
                for (script, s) in &scripts {
                    for r in s.served().0 {
                        result.push(json!({"id": "r1", "pattern": r, "script": script}));
                    }
                }
                respond(&mut stream, 200, &json!({"success": true, "result": result}), "");
            } else {
                respond(
                    &mut stream,
                    404,
                    &json!({"success": false, "errors": [{"code": 7003, "message": "no route"}]}),
                    "",
                );
            }
        }
    });
    Api { port, seen }
}

fn examples() -> tempfile::TempDir {
    common::repo_with_examples()
}

/// The generated prod config of `tenant`, as the API would describe it.
fn settings_for(dir: &Path, tenant: &str) -> (Value, Vec<String>, Vec<String>) {
    let out = dir.join("out-drift");
    let o = Command::new(env!("CARGO_BIN_EXE_tenants"))
        .current_dir(dir)
        .args(["build", "--env", "prod", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = std::fs::read_to_string(out.join(format!("prod/{tenant}.wrangler.jsonc"))).unwrap();
    let body: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    let c: Value = serde_json::from_str(&body.join("\n")).unwrap();
    let mut b = Vec::new();
    for (k, v) in c["vars"].as_object().unwrap() {
        b.push(json!({"type": "plain_text", "name": k, "text": v}));
    }
    for k in c["kv_namespaces"].as_array().unwrap() {
        b.push(json!({"type": "kv_namespace", "name": k["binding"], "namespace_id": k["id"]}));
    }
    for d in c["durable_objects"]["bindings"].as_array().unwrap() {
        b.push(json!({"type": "durable_object_namespace", "name": d["name"], "class_name": d["class_name"]}));
    }
    for v in c["vectorize"].as_array().unwrap() {
        b.push(json!({"type": "vectorize", "name": v["binding"], "index_name": v["index_name"]}));
    }
    b.push(json!({"type": "ai", "name": c["ai"]["binding"]}));
    for a in c["analytics_engine_datasets"].as_array().unwrap() {
        b.push(json!({"type": "analytics_engine", "name": a["binding"], "dataset": a["dataset"]}));
    }
    for q in c["queues"]["producers"].as_array().unwrap() {
        b.push(json!({"type": "queue", "name": q["binding"], "queue_name": q["queue"]}));
    }
    b.push(json!({"type": "secret_text", "name": "GATEWAY_TOKEN"}));
    let (mut routes, mut domains) = (vec![], vec![]);
    for r in c["routes"].as_array().unwrap() {
        match r.as_str() {
            Some(p) => routes.push(p.to_string()),
            None => domains.push(r["pattern"].as_str().unwrap().to_string()),
        }
    }
    let settings = json!({"compatibility_date": c["compatibility_date"], "compatibility_flags": c["compatibility_flags"], "bindings": b});
    (settings, routes, domains)
}

fn drift(dir: &Path, api: &Api, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenants"))
        .current_dir(dir)
        .arg("drift")
        .args(args)
        .env("CLOUDFLARE_API_BASE_URL", format!("http://127.0.0.1:{}/client/v4", api.port))
        .env("CF_API_TOKEN_ACME", ACME_TOKEN)
        .env("CF_API_TOKEN_SHARED", SHARED_TOKEN)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn seeded_differences_are_each_reported() {
    let dir = examples();
    let (acme, acme_routes, acme_domains) = settings_for(dir.path(), "acme");
    let (mut globex, globex_routes, globex_domains) = settings_for(dir.path(), "globex");
    // globex: an extra binding, a changed var, a queue producer bound elsewhere, a wrong compatibility date, one custom domain gone.
    globex["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "kv_namespace", "name": "EXTRA", "namespace_id": "ffff"}));
    for b in globex["bindings"].as_array_mut().unwrap() {
        if b["name"] == "LOG_LEVEL" {
            b["text"] = json!("debug");
        }
        // A producer bound to another queue.
        if b["name"] == "INGEST" {
            b["queue_name"] = json!("globex-ingest-old");
        }
    }
    globex["compatibility_date"] = json!("2025-01-01");
    let mut scripts = HashMap::new();
    // acme matches, behind one 429 and one 500 (retried).
    scripts.insert(
        "ai-platform-acme-prod".to_string(),
        Script::Flaky {
            status: 429,
            n: 1,
            then: Box::new(Script::Flaky {
                status: 500,
                n: 3,
                then: Box::new(Script::Deployed {
                    settings: acme,
                    routes: acme_routes,
                    domains: acme_domains,
                }),
            }),
        },
    );
    scripts.insert(
        "ai-platform-globex-prod".to_string(),
        Script::Deployed {
            settings: globex,
            routes: globex_routes,
            domains: globex_domains[..1].to_vec(),
        },
    );
    // initech: not deployed.
    let api = start(scripts);
    let o = drift(dir.path(), &api, &["--env", "prod", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let by: HashMap<&str, &Value> = v.as_array().unwrap().iter().map(|r| (r["tenant"].as_str().unwrap(), r)).collect();
    assert_eq!(by["acme"]["changes"], json!([]), "acme matches after the retries: {}", by["acme"]);
    assert!(by["acme"]["error"].is_null());
    let changes: Vec<(String, String, String)> = by["globex"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap().into(),
                c["what"].as_str().unwrap().into(),
                c["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("changed", "compatibility_date", ""),
        ("added", "binding", "EXTRA"),
        ("changed", "var", "LOG_LEVEL"),
        ("removed", "domain", "ai.globex.example.org"),
        ("changed", "binding", "INGEST"),
    ];
    for (c, w, n) in want {
        assert!(
            changes.contains(&(c.into(), w.into(), n.into())),
            "missing {c} {w} {n} in {changes:?}"
        );
    }
    assert_eq!(changes.len(), 5, "{changes:?}");
    assert_eq!(by["initech"]["changes"][0]["what"], "script");
    assert_eq!(by["initech"]["changes"][0]["change"], "removed");
    // Each account's token went only to its own tenants' requests.
    for (path, auth) in api.seen.lock().unwrap().iter() {
        if path.contains("5f1d2c3b4a5968778695a4b3c2d1e0f9") {
            assert_eq!(auth, &format!("Bearer {ACME_TOKEN}"), "{path}");
        }
        if path.contains("a1b2c3d4e5f60718293a4b5c6d7e8f90") {
            assert_eq!(auth, &format!("Bearer {SHARED_TOKEN}"), "{path}");
        }
    }
    let settings_calls = api
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.contains("ai-platform-acme-prod/settings"))
        .count();
    assert_eq!(settings_calls, 4, "one 429 and two 500s retried, then the answer");
    assert!(!text(&o).contains(ACME_TOKEN) && !text(&o).contains(SHARED_TOKEN));

    // Human and markdown say the same.
    let o = drift(dir.path(), &api, &["--env", "prod", "--tenant", "globex"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("globex (prod): 5 difference(s)") && t.contains("LOG_LEVEL"), "{t}");
    assert!(t.contains("expected queue globex-ingest, deployed queue globex-ingest-old"), "{t}");
    let o = drift(dir.path(), &api, &["--env", "prod", "--tenant", "globex", "--format", "markdown"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("| globex | prod | added | binding | `EXTRA` |"),
        "{}",
        text(&o)
    );
    // No drift: exit 0.
    let o = drift(dir.path(), &api, &["--env", "prod", "--tenant", "acme"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("acme (prod): no drift"));
}

#[test]
fn api_errors_exit_2_and_name_the_status_not_the_token() {
    let dir = examples();
    let mut scripts = HashMap::new();
    scripts.insert("ai-platform-acme-prod".to_string(), Script::Unauthorized);
    scripts.insert(
        "ai-platform-globex-prod".to_string(),
        Script::Flaky {
            status: 500,
            n: 100,
            then: Box::new(Script::Missing),
        },
    );
    let api = start(scripts);
    let o = drift(dir.path(), &api, &["--env", "prod", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let err = |t: &str| {
        v.as_array().unwrap().iter().find(|r| r["tenant"] == t).unwrap()["error"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(err("acme").contains("401"), "{}", err("acme"));
    assert!(err("globex").contains("HTTP 500 after 5 attempt(s)"), "{}", err("globex"));
    assert!(!text(&o).contains(ACME_TOKEN) && !text(&o).contains(SHARED_TOKEN));
}

#[test]
fn a_missing_token_variable_is_an_error_naming_it() {
    let dir = examples();
    let api = start(HashMap::new());
    let o = Command::new(env!("CARGO_BIN_EXE_tenants"))
        .current_dir(dir.path())
        .args(["drift", "--env", "dev", "--tenant", "acme"])
        .env("CLOUDFLARE_API_BASE_URL", format!("http://127.0.0.1:{}/client/v4", api.port))
        .env_remove("CF_API_TOKEN_ACME")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("`CF_API_TOKEN_ACME`"), "{}", text(&o));
    assert!(api.seen.lock().unwrap().is_empty(), "no request without a token");
}
