//! End-to-end RAG cases on local workerd: ingestion into acme's local
//! index (development), a cited `/search` answer checked against what was
//! ingested and against `/search`'s schema in docs/openapi.json, tenant
//! isolation (globex finds none of it), re-ingestion, deletion, the cache
//! (a hit makes no model call), a streamed search, and acme's stage
//! deployment on the stand-in Vectorize binding (every call carries the
//! tenant's namespace).

use std::time::Instant;

use serde_json::{json, Value};

use crate::e2e::{check, Dev, Tally};
use crate::model_server::ModelServer;

fn send(d: &Dev, method: &str, path: &str, roles: &str, body: Option<&Value>) -> Result<crate::net::Reply, String> {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let len = b.len().to_string();
    let mut h: Vec<(&str, &str)> = vec![("host", &d.tenant.host), ("x-user-id", "rag-admin"), ("x-user-roles", roles)];
    if body.is_some() {
        h.push(("content-type", "application/json"));
        h.push(("content-length", &len));
    }
    crate::net::request(d.port, method, path, &h, b.as_bytes()).map_err(|e| format!("{method} {path}: {e}"))
}

/// The documents acme ingests, with the metadata citations must carry.
pub fn corpus() -> Value {
    json!({"documents": [
        {"id": "e2e-password-reset", "title": "Resetting your Acme password", "url": "https://docs.acme.example/e2e/password-reset", "format": "markdown",
         "text": "# Resetting your Acme password\n\nOpen the Acme Home app and tap Forgot password. A reset link arrives by email within five minutes.\n\n## Expiry\n\nThe reset link expires after 24 hours. Request a new one if it has expired."},
        {"id": "e2e-thermostat-schedules", "url": "https://docs.acme.example/e2e/thermostat", "format": "html",
         "text": "<html><head><title>Thermostat schedules</title><script>var t='scriptonly-e2e-marker';</script></head><body><nav>Home | Docs</nav><h1>Thermostat schedules</h1><p>The Halo T3 thermostat keeps up to seven weekly schedules. Each schedule holds four temperature periods per day.</p></body></html>"},
        {"id": "e2e-warranty", "title": "Warranty claims", "url": "https://docs.acme.example/e2e/warranty",
         "text": "Warranty claims\n\nEvery Acme device carries a two year warranty. Claims are filed in the app under Support, with the serial number and a photo of the device."},
    ]})
}

fn validator() -> Result<jsonschema::Validator, String> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string("docs/openapi.json").map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let schema = doc["paths"]["/search"]["post"]["responses"]["200"]["content"]["application/json"]["schema"].clone();
    let mut s = schema.clone();
    // Resolve `#/components/...` against the whole document.
    s["components"] = doc["components"].clone();
    jsonschema::validator_for(&s).map_err(|e| format!("the /search schema does not compile: {e}"))
}

fn model_calls(model: &ModelServer) -> u64 {
    model
        .stats()
        .ok()
        .map(|s| s["requests"].as_u64().or_else(|| s["counters"]["requests"].as_u64()).unwrap_or(0))
        .unwrap_or(0)
}

pub fn cases(acme: &Dev, globex: &Dev, model: &ModelServer, tally: &mut Tally) {
    let ingested = (|| {
        let r = send(acme, "POST", "/documents", "admin", Some(&corpus()))?;
        check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
        let v = r.json()?;
        check(v["data"]["errors"] == json!([]), || v.to_string())?;
        check(v["data"]["ingested"].as_array().map(Vec::len) == Some(3), || v.to_string())?;
        check(v["data"]["ingested"][1]["title"] == "Thermostat schedules", || {
            format!("the HTML <title> names the document: {v}")
        })
    })();
    let ok = ingested.is_ok();
    tally.case("rag: acme ingests Markdown, HTML and text documents into its local index", ingested);
    if !ok {
        return;
    }
    tally.case(
        "rag: acme's /search answers with citations whose id, title and url are what was ingested (schema-valid)",
        (|| {
            let r = send(acme, "POST", "/search", "", Some(&json!({"query": "How do I reset my password?"})))?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let v = r.json()?;
            let errors: Vec<String> = validator()?
                .iter_errors(&v)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            check(errors.is_empty(), || {
                format!("not valid against docs/openapi.json: {errors:?}: {v}")
            })?;
            let src = &v["sources"][0];
            check(src["id"] == "e2e-password-reset", || v.to_string())?;
            check(
                src["title"] == "Resetting your Acme password" && src["url"] == "https://docs.acme.example/e2e/password-reset",
                || v.to_string(),
            )?;
            let answer = v["answer"].as_str().unwrap_or_default();
            check(answer.contains("[1]"), || format!("no citation: {v}"))?;
            let n = v["sources"].as_array().map_or(0, Vec::len);
            for c in answer.split('[').skip(1).filter_map(|p| p.split(']').next()?.parse::<usize>().ok()) {
                check((1..=n).contains(&c), || format!("[{c}] names no source: {v}"))?;
            }
            check(v["confidence"].as_f64().is_some_and(|c| c > 0.0 && c <= 1.0), || v.to_string())?;
            check(v["follow_ups"].as_array().is_some_and(|f| !f.is_empty()), || v.to_string())?;
            check(v["index"] == "local", || v.to_string())
        })(),
    );
    tally.case(
        "rag: globex's /search never returns acme's chunks (same query, other tenant)",
        (|| {
            let r = send(
                globex,
                "POST",
                "/search",
                "",
                Some(&json!({"query": "How do I reset my Acme password? warranty thermostat"})),
            )?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let v = r.json()?;
            let leaked = v["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["id"].as_str().is_some_and(|i| i.starts_with("e2e-")));
            check(!leaked, || format!("acme's document in globex's answer: {v}"))?;
            let list = send(globex, "GET", "/documents", "", None)?.json()?;
            check(
                !list["data"]["documents"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["id"].as_str().is_some_and(|i| i.starts_with("e2e-"))),
                || list.to_string(),
            )
        })(),
    );
    tally.case(
        "rag: a repeated /search is a cache hit: no model call, x-cache: hit, faster",
        (|| {
            let body = json!({"query": "warranty claim serial number"});
            let t0 = Instant::now();
            let miss = send(acme, "POST", "/search", "", Some(&body))?;
            let miss_ms = t0.elapsed().as_secs_f64() * 1000.0;
            check(miss.header("x-cache") == Some("miss"), || format!("{:?}", miss.headers))?;
            let before = model_calls(model);
            let t1 = Instant::now();
            let hit = send(
                acme,
                "POST",
                "/search",
                "",
                Some(&json!({"query": "  Warranty claim   serial NUMBER "})),
            )?;
            let hit_ms = t1.elapsed().as_secs_f64() * 1000.0;
            check(hit.header("x-cache") == Some("hit"), || {
                format!("{:?} {}", hit.headers, String::from_utf8_lossy(&hit.body))
            })?;
            check(model_calls(model) == before, || "the cache hit called the model server".into())?;
            check(hit.json()?["cached"] == true, || "not marked cached".into())?;
            println!("    search cache: miss {miss_ms:.1} ms, hit {hit_ms:.1} ms");
            Ok(())
        })(),
    );
    tally.case(
        "rag: a streamed /search sends query, deltas, then sources, follow_ups and done",
        (|| {
            let r = send(
                acme,
                "POST",
                "/search",
                "",
                Some(&json!({"query": "How many schedules does the Halo T3 keep?", "stream": true})),
            )?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let body = String::from_utf8_lossy(&r.body).to_string();
            let names: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
            check(names.first() == Some(&"query") && names.contains(&"delta"), || body.clone())?;
            check(names.ends_with(&["sources", "follow_ups", "done"]), || body.clone())?;
            check(!body.contains("scriptonly-e2e-marker"), || "script text was indexed".into())
        })(),
    );
    tally.case(
        "rag: re-ingesting replaces a document's chunks; deleting removes it",
        (|| {
            let again = json!({"documents": [{"id": "e2e-warranty", "title": "Warranty claims", "url": "https://docs.acme.example/e2e/warranty", "text": "Warranty claims are now filed on the web portal only."}]});
            let r = send(acme, "POST", "/documents", "admin", Some(&again))?;
            check(r.status == 200, || String::from_utf8_lossy(&r.body).to_string())?;
            let v = send(acme, "POST", "/search", "", Some(&json!({"query": "warranty claims portal"})))?.json()?;
            let s = v["sources"].as_array().cloned().unwrap_or_default();
            let w = s.iter().find(|s| s["id"] == "e2e-warranty").ok_or_else(|| v.to_string())?;
            check(w["snippet"].as_str().is_some_and(|t| t.contains("web portal") && !t.contains("serial")), || v.to_string())?;
            let forbidden = send(acme, "DELETE", "/documents/e2e-warranty", "viewer", None)?;
            check(forbidden.status == 403, || format!("delete without the role: {}", forbidden.status))?;
            let r = send(acme, "DELETE", "/documents/e2e-warranty", "admin", None)?;
            check(r.status == 200, || String::from_utf8_lossy(&r.body).to_string())?;
            let r = send(acme, "DELETE", "/documents/e2e-warranty", "admin", None)?;
            check(r.status == 404, || format!("second delete: {}", r.status))?;
            let v = send(acme, "POST", "/search", "", Some(&json!({"query": "warranty claims portal"})))?.json()?;
            check(!v["sources"].as_array().into_iter().flatten().any(|s| s["id"] == "e2e-warranty"), || v.to_string())
        })(),
    );
}

/// A queued ingestion of 500 documents completes, with progress.
pub fn queue_case(acme: &Dev, tally: &mut Tally) {
    tally.case(
        "rag: a queued ingestion of 500 documents completes with progress (GET /documents/jobs/{id})",
        (|| {
            let docs: Vec<Value> = (0..500)
                .map(|i| json!({"id": format!("bulk-{i:03}"), "url": format!("https://docs.acme.example/bulk/{i}"), "text": format!("Bulk note {i}: the depot code for shipment {i} is DEPOT-{:04}.", i * 7)}))
                .collect();
            let t0 = Instant::now();
            let r = send(acme, "POST", "/documents", "admin", Some(&json!({"documents": docs})))?;
            check(r.status == 202, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let v = r.json()?;
            let url = v["data"]["status_url"].as_str().ok_or_else(|| v.to_string())?.to_string();
            let mut seen = Vec::new();
            let deadline = Instant::now() + std::time::Duration::from_secs(180);
            loop {
                let j = send(acme, "GET", &url, "", None)?.json()?;
                let (done, failed, state) = (j["data"]["done"].as_u64().unwrap_or(0), j["data"]["failed"].as_u64().unwrap_or(0), j["data"]["state"].as_str().unwrap_or("").to_string());
                if seen.last() != Some(&done) {
                    seen.push(done);
                }
                if state == "done" {
                    check(done == 500 && failed == 0, || j.to_string())?;
                    break;
                }
                check(Instant::now() < deadline, || format!("not done after 180 s: {j}"))?;
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            check(seen.len() >= 3, || format!("no intermediate progress seen: {seen:?}"))?;
            println!("    queued ingestion: 500 documents in {:.1} s; progress seen {:?}", t0.elapsed().as_secs_f64(), seen);
            let v = send(acme, "POST", "/search", "", Some(&json!({"query": "depot code shipment 123"})))?.json()?;
            check(v["sources"].as_array().into_iter().flatten().any(|s| s["id"] == "bulk-123"), || v.to_string())
        })(),
    );
}

/// acme's stage deployment: the Vectorize adapter against the stand-in
/// binding, every call with acme's namespace (read from the stand-in's
/// lines in the wrangler dev log).
pub fn stage_case(stage: &Dev, idp: &crate::e2e_api::TestIdp, tally: &mut Tally) {
    tally.case(
        "rag: acme (stage) ingests and searches through Vectorize; every Vectorize call carries acme's namespace",
        (|| {
            let token = idp
                .tokens
                .iter()
                .find(|t| t.2 == 200)
                .map(|t| t.1.clone())
                .ok_or("no valid token")?;
            let bearer = format!("Bearer {token}");
            let call = |method: &str, path: &str, body: &Value| {
                let b = body.to_string();
                let len = b.len().to_string();
                crate::net::request(
                    stage.port,
                    method,
                    path,
                    &[
                        ("host", &stage.tenant.host),
                        ("authorization", &bearer),
                        ("content-type", "application/json"),
                        ("content-length", &len),
                    ],
                    b.as_bytes(),
                )
                .map_err(|e| e.to_string())
            };
            let r = call("POST", "/documents", &corpus())?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            // A long document, then the same id shorter: its stale vectors are deleted.
            let long: String = (0..60)
                .map(|i| format!("Release note {i} describes change number {i} of the hub firmware. "))
                .collect();
            let r = call(
                "POST",
                "/documents",
                &json!({"documents": [{"id": "e2e-long", "title": "Hub firmware notes", "text": long}]}),
            )?;
            check(
                r.status == 200 && r.json()?["data"]["ingested"][0]["chunks"].as_u64().is_some_and(|n| n > 1),
                || String::from_utf8_lossy(&r.body).to_string(),
            )?;
            let again =
                json!({"documents": [{"id": "e2e-long", "title": "Hub firmware notes", "text": "Release notes moved to the web."}]});
            let r = call("POST", "/documents", &again)?;
            check(r.status == 200, || String::from_utf8_lossy(&r.body).to_string())?;
            let r = call("POST", "/search", &json!({"query": "thermostat weekly schedules"}))?;
            check(r.status == 200, || format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))?;
            let v = r.json()?;
            check(v["index"] == "vectorize", || v.to_string())?;
            check(
                v["sources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["id"] == "e2e-thermostat-schedules" && s["url"] == "https://docs.acme.example/e2e/thermostat"),
                || v.to_string(),
            )?;
            // A filtered search: Vectorize gets the metadata filter.
            let r = call(
                "POST",
                "/search",
                &json!({"query": "warranty serial number", "filters": {"documents": ["e2e-warranty"]}}),
            )?;
            let v = r.json()?;
            check(
                v["sources"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["id"] == "e2e-warranty")),
                || format!("filtered search: {v}"),
            )?;
            let log = std::fs::read_to_string(&stage.log).map_err(|e| e.to_string())?;
            let calls: Vec<Value> = log
                .lines()
                .filter_map(|l| {
                    l.split_once("standin-vectorize-call ")
                        .and_then(|(_, j)| serde_json::from_str(j.trim()).ok())
                })
                .collect();
            let count = |m: &str| calls.iter().filter(|c| c["method"] == m).count();
            check(count("upsert") >= 2 && count("query") >= 1 && count("deleteByIds") >= 1, || {
                format!("calls seen: {calls:?}")
            })?;
            let mut ours = std::collections::HashSet::new();
            let mut filtered = false;
            for c in &calls {
                match c["method"].as_str() {
                    Some("upsert") => {
                        check(c["namespaces"].as_array().into_iter().flatten().all(|n| n == "acme"), || {
                            format!("an upsert outside acme's namespace: {c}")
                        })?;
                        ours.extend(
                            c["ids"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|i| i.as_str().map(str::to_string)),
                        );
                    }
                    Some("query") => {
                        check(c["namespace"] == "acme", || format!("a query outside acme's namespace: {c}"))?;
                        filtered |= c["filter"] == json!({"doc_id": {"$in": ["e2e-warranty"]}});
                    }
                    Some("deleteByIds") => check(
                        c["ids"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .all(|i| i.as_str().is_some_and(|i| ours.contains(i))),
                        || format!("a delete of ids acme never wrote: {c}"),
                    )?,
                    _ => {}
                }
            }
            check(filtered, || "no query carried the documents filter".into())
        })(),
    );
}

/// `tenants ingest` of a folder into globex (development), then a
/// `/search` citing the ingested files by title and url; acme finds none
/// of them.
pub fn cli_case(tc: &crate::toolchain::Toolchain, globex: &Dev, acme: &Dev, tally: &mut Tally) {
    tally.case(
        "rag: `tenants ingest` of a folder into globex, then a /search citing those files by title and url; acme sees none",
        (|| {
            let folder = tc.root.join("xtask/eval/corpus/globex");
            let url = format!("http://127.0.0.1:{}", globex.port);
            let folder_s = folder.display().to_string();
            let out = crate::tenants(&[
                "ingest",
                "--tenant",
                "globex",
                "--env",
                "dev",
                "--url",
                &url,
                "--dev-user",
                "cli-admin",
                "--base-url",
                "https://globex.docs.example/",
                &folder_s,
            ])
            .current_dir(&tc.root)
            .output()
            .map_err(|e| e.to_string())?;
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            check(out.status.success(), || {
                format!("{:?}: {stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr))
            })?;
            let v = send(globex, "POST", "/search", "", Some(&json!({"query": "Kestrel Point"})))?.json()?;
            let src = v["sources"].as_array().cloned().unwrap_or_default();
            check(!src.is_empty(), || format!("no sources: {v}"))?;
            for s in &src {
                let id = s["id"].as_str().unwrap_or_default();
                check(s["url"] == format!("https://globex.docs.example/{id}").as_str(), || {
                    format!("url of {id}: {s}")
                })?;
                check(s["title"].as_str().is_some_and(|t| !t.is_empty() && t != id), || {
                    format!("title of {id}: {s}")
                })?;
            }
            check(v["answer"].as_str().is_some_and(|a| a.contains("[1]")), || v.to_string())?;
            let a = send(acme, "POST", "/search", "", Some(&json!({"query": "Kestrel Point"})))?.json()?;
            check(
                !a["sources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["url"].as_str().is_some_and(|u| u.starts_with("https://globex.docs.example/"))),
                || format!("globex's file in acme's answer: {a}"),
            )
        })(),
    );
}
