//! `docs/openapi.json` is generated from the route table and the request
//! and response types; this test fails when the committed file is stale
//! (`cargo xtask openapi` rewrites it) and checks that the document covers
//! every route and every error code. `cargo xtask test` also validates it
//! against the OpenAPI 3.1 schema.

use std::collections::BTreeSet;

use serde_json::Value;
use tenants_runtime::app::envelope::ErrorCode;
use tenants_runtime::app::routes::ROUTES;
use tenants_runtime::openapi;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn committed_openapi_document_is_fresh() {
    let text = openapi::document_text();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/openapi.json is stale: run `cargo xtask openapi` and commit the result"
    );
}

#[test]
fn every_route_and_error_code_is_documented() {
    let doc = openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        assert!(op.is_object(), "{} {}", r.method.as_str(), r.path);
        assert!(op["responses"].as_object().is_some_and(|m| !m.is_empty()));
    }
    let mut seen = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for resp in op["responses"].as_object().unwrap().values() {
                for c in resp["x-error-codes"].as_array().into_iter().flatten() {
                    seen.insert(c.as_str().unwrap().to_string());
                }
            }
        }
    }
    for c in ErrorCode::ALL {
        assert!(seen.contains(c.code()), "error code `{}` appears in no response", c.code());
    }
    // Every $ref resolves inside the document.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "dangling $ref {r}");
    }
}
