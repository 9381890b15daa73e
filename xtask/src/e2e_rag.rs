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
