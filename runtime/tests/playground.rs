//! The developer playground: served in development deployments only (the
//! compiler's baked config decides; stage and prod answer as a path no
//! route has), the page is the one static asset, and each request's log
//! line can be fetched by its id where the playground is served.

mod support;

use serde_json::Value;
use support::{block_on, Harness};
use tenants_runtime::app::DeploymentState;
use tenants_runtime::http::{Body, Response, TestRequest};
use tenants_runtime::tenancy::resolve::Deployment;
use tenants_runtime::tenants::{EnvName, TenantId};

fn state(t: TenantId, e: EnvName) -> DeploymentState {
    DeploymentState::Ready(Deployment::complete(t, e))
}

fn get(t: TenantId, e: EnvName, path: &str) -> TestRequest {
    TestRequest::get(path).with("host", t.config().envs[e as usize].hosts[0])
}

fn body(r: &Response) -> String {
    match &r.body {
        Body::Bytes(b) => String::from_utf8_lossy(b).to_string(),
        _ => String::new(),
    }
}

#[test]
fn only_development_environments_have_a_playground() {
    for t in TenantId::ALL {
        for e in EnvName::ALL {
            let on = t.config().envs[e as usize].playground;
            assert_eq!(on, e.is_development(), "{t:?} {e:?}");
        }
    }
}

#[test]
fn the_page_is_served_in_development_with_a_strict_content_security_policy() {
    let h = Harness::new(&[1_000.0]);
    let r = block_on(h.handle(
        &state(TenantId::Acme, EnvName::Dev),
        &get(TenantId::Acme, EnvName::Dev, "/_playground"),
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    let page = body(&r);
    for id in ["chat-input", "search-sources", "tools", "tts-audio", "sessions"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert_eq!(page, tenants_runtime::features::playground::PAGE);
}

#[test]
fn stage_and_prod_answer_404_as_for_an_unknown_path() {
    for e in [EnvName::Stage, EnvName::Prod] {
        for path in ["/_playground", "/_playground/log/0123456789abcdef0123456789abcdef"] {
            let h = Harness::new(&[1_000.0]);
            let r = block_on(h.handle(&state(TenantId::Acme, e), &get(TenantId::Acme, e, path)));
            assert_eq!(r.status, 404, "{e:?} {path}");
            let v: Value = serde_json::from_str(&body(&r)).unwrap();
            assert_eq!(v["error"]["code"], "not_found", "{e:?} {path}: {v}");
            assert!(!body(&r).contains("playground is"), "no hint that a playground exists");
        }
    }
}

#[test]
fn a_request_id_leads_to_its_log_line() {
    let h = Harness::new(&[1_000.0]);
    let dev = state(TenantId::Globex, EnvName::Dev);
    let r = block_on(h.handle(&dev, &get(TenantId::Globex, EnvName::Dev, "/health")));
    let id = r.header("x-request-id").unwrap().to_string();
    let r = block_on(h.handle(&dev, &get(TenantId::Globex, EnvName::Dev, &format!("/_playground/log/{id}"))));
    assert_eq!(r.status, 200, "{}", body(&r));
    let line: Value = serde_json::from_str(&body(&r)).unwrap();
    assert_eq!(
        (line["request_id"].as_str(), line["route"].as_str()),
        (Some(id.as_str()), Some("health"))
    );
    let r = block_on(h.handle(
        &dev,
        &get(TenantId::Globex, EnvName::Dev, "/_playground/log/ffffffffffffffffffffffffffffffff"),
    ));
    assert_eq!(r.status, 404);
    // Another tenant cannot read globex's line by its id, even through the
    // same isolate's recent lines.
    let acme = state(TenantId::Acme, EnvName::Dev);
    let r = block_on(h.handle(&acme, &get(TenantId::Acme, EnvName::Dev, &format!("/_playground/log/{id}"))));
    assert_eq!(r.status, 404, "{}", body(&r));
}

#[test]
fn the_recent_lines_keep_the_newest() {
    let r = tenants_runtime::app::log::RecentLines::default();
    for i in 0..(tenants_runtime::app::log::RecentLines::CAPACITY + 10) {
        r.push("acme", &format!("id{i}"), &format!("{{\"n\":{i}}}"));
    }
    assert_eq!(r.get("acme", "id0"), None, "the oldest were dropped");
    assert_eq!(r.get("acme", "id265").as_deref(), Some("{\"n\":265}"));
    assert_eq!(r.get("globex", "id265"), None, "another tenant's line is not found");
}
