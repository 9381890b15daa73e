//! Drift: the generated wrangler config of a tenant against what the
//! Cloudflare API says is deployed (`tenants drift`, docs/deploy.md).
//!
//! Read through the documented v4 API, with the tenant's own account token:
//!
//! - `GET /accounts/{account}/workers/scripts/{script}/settings` — bindings
//!   (vars are `plain_text` bindings), compatibility date and flags; a 404
//!   means the script is not deployed;
//! - `GET /accounts/{account}/workers/domains?service={script}` — custom domains;
//! - `GET /zones?name={zone}` then `GET /zones/{zone}/workers/routes` — the
//!   routes whose `script` is this one, for the zone of each route pattern
//!   (the longest suffix of the host that is a zone of the account).
//!
//! 429 and 5xx are retried with backoff (`retry-after` when given); 401 and
//! 403 are errors naming the status, never the token.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// What a Worker looks like, in the terms drift compares.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Shape {
    pub compatibility_date: String,
    pub compatibility_flags: Vec<String>,
    /// Non-var bindings: name → `type detail` (`kv_namespace 0f2a…`).
    pub bindings: BTreeMap<String, String>,
    /// `plain_text` bindings.
    pub vars: BTreeMap<String, String>,
    /// Route patterns (`*.acme.example.com/*`).
    pub routes: Vec<String>,
    /// Custom domains (`acme.example.com`).
    pub domains: Vec<String>,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `added` (deployed, not in the config), `removed` (in the config, not
    /// deployed) or `changed`.
    pub change: &'static str,
    /// `script`, `binding`, `var`, `route`, `domain`, `compatibility_date`, `compatibility_flags`.
    pub what: &'static str,
    pub name: String,
    pub expected: Option<String>,
    pub deployed: Option<String>,
}

/// The shape a generated config (JSON, comments stripped) describes.
pub fn expected(config: &Value) -> Shape {
    let mut s = Shape {
        compatibility_date: config["compatibility_date"].as_str().unwrap_or_default().to_string(),
        compatibility_flags: strings(&config["compatibility_flags"]),
        ..Shape::default()
    };
    for (k, v) in config["vars"].as_object().into_iter().flatten() {
        s.vars
            .insert(k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    }
    for b in config["kv_namespaces"].as_array().into_iter().flatten() {
        s.bindings.insert(str_of(b, "binding"), format!("kv_namespace {}", str_of(b, "id")));
    }
    for b in config["durable_objects"]["bindings"].as_array().into_iter().flatten() {
        s.bindings
            .insert(str_of(b, "name"), format!("durable_object_namespace {}", str_of(b, "class_name")));
    }
    for b in config["vectorize"].as_array().into_iter().flatten() {
        s.bindings
            .insert(str_of(b, "binding"), format!("vectorize {}", str_of(b, "index_name")));
    }
    if let Some(name) = config["ai"]["binding"].as_str() {
        s.bindings.insert(name.to_string(), "ai".into());
    }
    for b in config["analytics_engine_datasets"].as_array().into_iter().flatten() {
        s.bindings
            .insert(str_of(b, "binding"), format!("analytics_engine {}", str_of(b, "dataset")));
    }
    // Producers are bindings; consumers are settings of the queue, not of the script.
    for b in config["queues"]["producers"].as_array().into_iter().flatten() {
        s.bindings.insert(str_of(b, "binding"), format!("queue {}", str_of(b, "queue")));
    }
    for r in config["routes"].as_array().into_iter().flatten() {
        match r {
            Value::String(p) => s.routes.push(p.clone()),
            o if o["custom_domain"] == true => s.domains.push(str_of(o, "pattern")),
            o => s.routes.push(str_of(o, "pattern")),
        }
    }
    s.routes.sort();
    s.domains.sort();
    s
}

fn str_of(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    out.sort();
    out
}

/// The shape of the API's script settings, routes and domains.
pub fn deployed(settings: &Value, routes: Vec<String>, domains: Vec<String>) -> Shape {
    let mut s = Shape {
        compatibility_date: str_of(settings, "compatibility_date"),
        compatibility_flags: strings(&settings["compatibility_flags"]),
        routes,
        domains,
        ..Shape::default()
    };
    for b in settings["bindings"].as_array().into_iter().flatten() {
        let name = str_of(b, "name");
        let ty = str_of(b, "type");
        let detail = match ty.as_str() {
            "plain_text" => {
                s.vars.insert(name, str_of(b, "text"));
                continue;
            }
            // Secrets are set with `wrangler secret put`, not by the config.
            "secret_text" => continue,
            "kv_namespace" => format!("kv_namespace {}", str_of(b, "namespace_id")),
            "durable_object_namespace" => format!("durable_object_namespace {}", str_of(b, "class_name")),
            "vectorize" => format!("vectorize {}", str_of(b, "index_name")),
            "ai" => "ai".to_string(),
            "analytics_engine" => format!("analytics_engine {}", str_of(b, "dataset")),
            "queue" => format!("queue {}", str_of(b, "queue_name")),
            other => other.to_string(),
        };
        s.bindings.insert(name, detail);
    }
    s.routes.sort();
    s.domains.sort();
    s
}

fn diff_map(out: &mut Vec<Change>, what: &'static str, exp: &BTreeMap<String, String>, got: &BTreeMap<String, String>) {
    for (k, v) in exp {
        match got.get(k) {
            None => out.push(Change {
                change: "removed",
                what,
                name: k.clone(),
                expected: Some(v.clone()),
                deployed: None,
            }),
            Some(g) if g != v => out.push(Change {
                change: "changed",
                what,
                name: k.clone(),
                expected: Some(v.clone()),
                deployed: Some(g.clone()),
            }),
            _ => {}
        }
    }
    for (k, v) in got {
        if !exp.contains_key(k) {
            out.push(Change {
                change: "added",
                what,
                name: k.clone(),
                expected: None,
                deployed: Some(v.clone()),
            });
        }
    }
}

fn diff_list(out: &mut Vec<Change>, what: &'static str, exp: &[String], got: &[String]) {
    for e in exp.iter().filter(|e| !got.contains(e)) {
        out.push(Change {
            change: "removed",
            what,
            name: e.clone(),
            expected: Some(e.clone()),
            deployed: None,
        });
    }
    for g in got.iter().filter(|g| !exp.contains(g)) {
        out.push(Change {
            change: "added",
            what,
            name: g.clone(),
            expected: None,
            deployed: Some(g.clone()),
        });
    }
}

/// Every difference between the expected and the deployed shape
/// (`None`: the script is not deployed at all).
pub fn compare(exp: &Shape, got: Option<&Shape>) -> Vec<Change> {
    let Some(got) = got else {
        return vec![Change {
            change: "removed",
            what: "script",
            name: String::new(),
            expected: Some("deployed".into()),
            deployed: None,
        }];
    };
    let mut out = Vec::new();
    if exp.compatibility_date != got.compatibility_date {
        out.push(Change {
            change: "changed",
            what: "compatibility_date",
            name: String::new(),
            expected: Some(exp.compatibility_date.clone()),
            deployed: Some(got.compatibility_date.clone()),
        });
    }
    if exp.compatibility_flags != got.compatibility_flags {
        out.push(Change {
            change: "changed",
            what: "compatibility_flags",
            name: String::new(),
            expected: Some(exp.compatibility_flags.join(",")),
            deployed: Some(got.compatibility_flags.join(",")),
        });
    }
    diff_map(&mut out, "binding", &exp.bindings, &got.bindings);
    diff_map(&mut out, "var", &exp.vars, &got.vars);
    diff_list(&mut out, "route", &exp.routes, &got.routes);
    diff_list(&mut out, "domain", &exp.domains, &got.domains);
    out
}

/// A Cloudflare API client for one account's token.
pub struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
    /// Retries after a 429 or 5xx.
    pub retries: u32,
    /// The first backoff; doubled each retry (unless `retry-after` says otherwise).
    pub backoff: Duration,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
            retries: 4,
            backoff: Duration::from_millis(250),
        }
    }

    /// GET `path`: `Ok(None)` on 404, the `result` otherwise.
    pub fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let Some(body) = self.send("GET", path, None)? else {
            return Ok(None);
        };
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("GET {path}: not JSON: {e}"))?;
        if v["success"] == false {
            return Err(format!("GET {path}: {}", api_errors(&v)));
        }
        Ok(Some(v["result"].clone()))
    }

    /// POST a text body to `path` (the Analytics Engine SQL API takes the
    /// query as the body and answers with the result itself, no envelope):
    /// the response body as JSON.
    pub fn post_text(&self, path: &str, text: &str) -> Result<Value, String> {
        let body = self
            .send("POST", path, Some(text))?
            .ok_or_else(|| format!("POST {path}: 404 (no such endpoint or account)"))?;
        serde_json::from_str(&body).map_err(|e| format!("POST {path}: not JSON: {e}: {}", clip(&body)))
    }

    /// One request with retries: `Ok(None)` on 404, the body on 2xx.
    fn send(&self, method: &str, path: &str, text: Option<&str>) -> Result<Option<String>, String> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let mut wait = self.backoff;
        for attempt in 0..=self.retries {
            let resp = match text {
                None => self.agent.get(&url).header("Authorization", &auth).call(),
                Some(t) => self
                    .agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("content-type", "text/plain")
                    .send(t),
            };
            let mut resp = match resp {
                Ok(r) => r,
                Err(e) if attempt < self.retries => {
                    std::thread::sleep(wait);
                    wait *= 2;
                    let _ = e;
                    continue;
                }
                Err(e) => return Err(format!("{method} {path}: {e}")),
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok());
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            let details = || match serde_json::from_str::<Value>(&body) {
                Ok(v) => api_errors(&v),
                Err(_) if body.trim().is_empty() => "no error details".into(),
                Err(_) => clip(&body),
            };
            match status {
                200..=299 => return Ok(Some(body)),
                404 => return Ok(None),
                401 | 403 => {
                    return Err(format!(
                        "{method} {path}: {status} (the account's token is not accepted: {})",
                        details()
                    ));
                }
                429 | 500..=599 if attempt < self.retries => {
                    let pause = retry_after.map(Duration::from_secs).unwrap_or(wait).min(Duration::from_secs(60));
                    std::thread::sleep(pause);
                    wait *= 2;
                }
                _ => {
                    return Err(format!(
                        "{method} {path}: HTTP {status} after {} attempt(s): {}",
                        attempt + 1,
                        details()
                    ));
                }
            }
        }
        Err(format!("{method} {path}: gave up"))
    }
}

/// At most 300 characters of a response body, on one line.
fn clip(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

fn api_errors(v: &Value) -> String {
    let msgs: Vec<String> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("{} {}", e["code"], e["message"].as_str().unwrap_or_default()))
        .collect();
    if msgs.is_empty() {
        "no error details".into()
    } else {
        msgs.join("; ")
    }
}

/// Read what is deployed for `script` (`None`: not deployed).
pub fn fetch(api: &Api, account_id: &str, script: &str, expected: &Shape) -> Result<Option<Shape>, String> {
    let Some(settings) = api.get(&format!("/accounts/{account_id}/workers/scripts/{script}/settings"))? else {
        return Ok(None);
    };
    let domains: Vec<String> = api
        .get(&format!("/accounts/{account_id}/workers/domains?service={script}"))?
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|d| d["service"].as_str().is_none_or(|s| s == script))
        .filter_map(|d| d["hostname"].as_str().map(String::from))
        .collect();
    // Routes live in zones: look up the zone of each expected route's host.
    let mut routes = Vec::new();
    let mut zones_seen = Vec::new();
    for pattern in &expected.routes {
        let host = pattern.trim_start_matches("*.").split('/').next().unwrap_or_default();
        let labels: Vec<&str> = host.split('.').collect();
        for i in 0..labels.len().saturating_sub(1) {
            let candidate = labels[i..].join(".");
            let Some(found) = api.get(&format!("/zones?name={candidate}&account.id={account_id}"))? else {
                continue;
            };
            let Some(zone) = found
                .as_array()
                .and_then(|a| a.first())
                .and_then(|z| z["id"].as_str())
                .map(String::from)
            else {
                continue;
            };
            if !zones_seen.contains(&zone) {
                zones_seen.push(zone.clone());
                for r in api
                    .get(&format!("/zones/{zone}/workers/routes"))?
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                {
                    if r["script"].as_str() == Some(script) {
                        if let Some(p) = r["pattern"].as_str() {
                            routes.push(p.to_string());
                        }
                    }
                }
            }
            break;
        }
    }
    Ok(Some(deployed(&settings, routes, domains)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identical_shapes_have_no_drift_and_secrets_are_ignored() {
        let cfg = json!({"compatibility_date": "2026-11-01", "compatibility_flags": ["nodejs_compat"],
            "vars": {"TENANT_ID": "acme"}, "kv_namespaces": [{"binding": "CACHE", "id": "k1"}],
            "routes": [{"pattern": "acme.example.com", "custom_domain": true}, "*.acme.example.com/*"]});
        let settings = json!({"compatibility_date": "2026-11-01", "compatibility_flags": ["nodejs_compat"],
            "bindings": [{"type": "plain_text", "name": "TENANT_ID", "text": "acme"},
                         {"type": "kv_namespace", "name": "CACHE", "namespace_id": "k1"},
                         {"type": "secret_text", "name": "GATEWAY_TOKEN"}]});
        let got = deployed(&settings, vec!["*.acme.example.com/*".into()], vec!["acme.example.com".into()]);
        assert_eq!(compare(&expected(&cfg), Some(&got)), vec![]);
    }
}
