//! The request pipeline end to end, natively: resolution, envelopes,
//! request ids, logs, limits, methods, CORS. (The same cases run against
//! the real Worker on workerd in `cargo xtask e2e`.)

mod support;

use serde_json::Value;
use support::{block_on, Harness};
use tenants_runtime::app::{DeploymentState, MAX_BODY_BYTES};
use tenants_runtime::http::{Response, TestRequest};
use tenants_runtime::tenancy::resolve::Deployment;
use tenants_runtime::tenants::{EnvName, TenantId};

struct Served {
    resp: Response,
    log: Value,
}

impl Served {
    fn json(&self) -> Value {
        serde_json::from_slice(self.resp.body.bytes())
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(self.resp.body.bytes())))
    }

    /// Assert the error envelope: status, code, and the request id in the
    /// body, the header and the log line.
    fn error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.resp.status, status, "{}", String::from_utf8_lossy(self.resp.body.bytes()));
        let v = self.json();
        let e = v.get("error").and_then(Value::as_object).expect("an error envelope");
        assert_eq!(v.as_object().unwrap().len(), 1, "only `error` at the top: {v}");
        let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["code", "message", "request_id"]);
        assert_eq!(e["code"], code);
        assert!(!e["message"].as_str().unwrap().is_empty());
        let id = e["request_id"].as_str().unwrap().to_string();
        self.same_id(&id);
        assert_eq!(self.log["error"], code);
        assert_eq!(self.resp.header("content-type"), Some("application/json; charset=utf-8"));
        id
    }

    fn same_id(&self, id: &str) {
        assert_eq!(self.resp.header("x-request-id"), Some(id));
        assert_eq!(self.log["request_id"], id);
    }
}

fn serve_in(state: &DeploymentState, req: TestRequest) -> Served {
    let h = Harness::new(&[1_000.0, 1_012.0]);
    let resp = block_on(h.handle(state, &req));
    let lines = h.log.lines.borrow();
    assert_eq!(lines.len(), 1, "one log line per request: {lines:?}");
    let log: Value = serde_json::from_str(&lines[0]).expect("the log line is JSON");
    Served { resp, log }
}

fn serve(tenant: TenantId, env: EnvName, req: TestRequest) -> Served {
    serve_in(&DeploymentState::Ready(Deployment::complete(tenant, env)), req)
}

/// Serve in acme's dev deployment.
fn acme_dev(req: TestRequest) -> Served {
    serve(TenantId::Acme, EnvName::Dev, req)
}

fn get(host: &str, path: &str) -> TestRequest {
    TestRequest::get(path).with("host", host)
}

#[test]
fn each_tenant_host_gets_its_health_with_a_success_envelope() {
    for t in TenantId::ALL {
        for e in EnvName::ALL {
            for h in t.config().envs[e as usize].hosts {
                let host = h.strip_prefix("*.").map(|b| format!("www.{b}")).unwrap_or_else(|| h.to_string());
                let s = serve(t, e, get(&host, "/health"));
                assert_eq!(s.resp.status, 200);
                let v = s.json();
                assert_eq!(v["data"]["tenant"], t.as_str());
                assert_eq!(v["data"]["env"], e.as_str());
                assert_eq!(v["data"]["status"], "ok");
                assert_eq!(v["data"]["resolved_by"], "host");
                assert_eq!(v["data"]["version"], tenants_runtime::BUILD_VERSION);
                for (name, kind) in tenants_runtime::tenants::Env::BINDINGS {
                    assert_eq!(v["data"]["bindings"][name], serde_json::json!({"kind": kind, "present": true}));
                }
                let id = v["request_id"].as_str().unwrap().to_string();
                s.same_id(&id);
                assert_eq!(s.log["tenant"], t.as_str());
                assert_eq!(s.log["env"], e.as_str());
                assert_eq!(s.log["route"], "health");
                assert_eq!(s.log["status"], 200);
                assert_eq!(s.log["level"], "info");
                assert_eq!(s.log["latency_ms"], 12);
                assert_eq!(s.log["error"], Value::Null);
            }
        }
    }
}

#[test]
fn the_log_line_has_every_documented_field() {
    let s = acme_dev(get("acme.localhost", "/health"));
    let mut keys: Vec<&str> = s.log.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "env",
            "error",
            "host",
            "latency_ms",
            "level",
            "method",
            "msg",
            "path",
            "request_id",
            "route",
            "status",
            "tenant",
            "trace_id"
        ]
    );
}

#[test]
fn unknown_host_is_404_and_runs_no_handler() {
    let s = acme_dev(get("nobody.localhost", "/health"));
    s.error(404, "tenant_unknown");
    assert_eq!(s.log["tenant"], Value::Null);
    assert_eq!(s.log["route"], Value::Null);
    assert_eq!(s.log["level"], "warn");
}

#[test]
fn missing_host_is_404() {
    acme_dev(TestRequest::get("/health")).error(404, "tenant_unknown");
}

#[test]
fn header_only_requests_follow_each_tenants_policy() {
    // dev: acme dev-only → honoured, globex never → refused, initech always → honoured.
    let s = acme_dev(get("127.0.0.1:8787", "/health").with("x-tenant-id", "acme"));
    assert_eq!(s.resp.status, 200);
    assert_eq!(s.json()["data"]["resolved_by"], "header");
    serve(
        TenantId::Globex,
        EnvName::Dev,
        get("127.0.0.1", "/health").with("x-tenant-id", "globex"),
    )
    .error(403, "tenant_header_not_allowed");
    assert_eq!(
        serve(
            TenantId::Initech,
            EnvName::Dev,
            get("localhost", "/health").with("x-tenant-id", "initech")
        )
        .resp
        .status,
        200
    );
    // prod: dev-only is no longer honoured.
    serve(
        TenantId::Acme,
        EnvName::Prod,
        get("127.0.0.1", "/health").with("x-tenant-id", "acme"),
    )
    .error(403, "tenant_header_not_allowed");
    assert_eq!(
        serve(
            TenantId::Initech,
            EnvName::Prod,
            get("127.0.0.1", "/health").with("x-tenant-id", "initech")
        )
        .resp
        .status,
        200
    );
}

#[test]
fn header_naming_another_tenant_than_the_host_is_rejected() {
    let s = acme_dev(get("acme.localhost", "/health").with("x-tenant-id", "initech"));
    s.error(400, "tenant_conflict");
    let s = acme_dev(get("acme.localhost", "/health").with("x-tenant-id", "Acme"));
    s.error(400, "tenant_conflict");
}

#[test]
fn pinned_deployment_refuses_another_tenants_host() {
    let s = acme_dev(get("globex.localhost", "/health"));
    s.error(421, "tenant_not_served");
    // Refused before any tenant context existed: no tenant in the log.
    assert_eq!(s.log["tenant"], Value::Null);
    acme_dev(get("127.0.0.1", "/health").with("x-tenant-id", "initech")).error(421, "tenant_not_served");
}

#[test]
fn well_formed_request_id_is_echoed_and_malformed_is_replaced() {
    let id = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
    let s = acme_dev(get("acme.localhost", "/health").with("x-request-id", id));
    assert_eq!(s.json()["request_id"], id);
    s.same_id(id);
    for bad in ["bad id with spaces", "x", "\"quoted\"-1234", &"z".repeat(300)] {
        let s = acme_dev(get("acme.localhost", "/nope").with("x-request-id", bad));
        let got = s.error(404, "not_found");
        assert_ne!(got, bad);
        assert_eq!(got.len(), 32);
    }
}

#[test]
fn oversized_or_unparsable_bodies_are_refused() {
    let big = (MAX_BODY_BYTES + 1).to_string();
    acme_dev(
        TestRequest::new("POST", "/health")
            .with("host", "acme.localhost")
            .with("content-length", &big),
    )
    .error(413, "payload_too_large");
    // Before routing: an unknown path with a huge body is still 413.
    acme_dev(
        TestRequest::new("POST", "/upload")
            .with("host", "acme.localhost")
            .with("content-length", &big),
    )
    .error(413, "payload_too_large");
    // /health takes no body at all.
    acme_dev(get("acme.localhost", "/health").with("content-length", "5")).error(413, "payload_too_large");
    acme_dev(get("acme.localhost", "/health").with("transfer-encoding", "chunked")).error(413, "payload_too_large");
    acme_dev(get("acme.localhost", "/health").with("content-length", "ten")).error(400, "invalid_content_length");
    // An empty body is fine.
    assert_eq!(
        acme_dev(get("acme.localhost", "/health").with("content-length", "0")).resp.status,
        200
    );
}

#[test]
fn wrong_method_is_405_with_allow() {
    for m in ["POST", "PUT", "DELETE", "PATCH", "get", "BREW"] {
        let s = acme_dev(TestRequest::new(m, "/health").with("host", "acme.localhost"));
        s.error(405, "method_not_allowed");
        assert_eq!(s.resp.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}

#[test]
fn unknown_path_is_404_not_found() {
    for p in ["/", "/healthz", "/health/", "/chats", "/%00"] {
        acme_dev(get("acme.localhost", p)).error(404, "not_found");
    }
}

#[test]
fn head_has_no_body() {
    let s = acme_dev(TestRequest::new("HEAD", "/health").with("host", "acme.localhost"));
    assert_eq!(s.resp.status, 200);
    assert!(s.resp.body.bytes().is_empty());
    assert!(s.resp.header("x-request-id").is_some());
}

#[test]
fn cors_preflight_and_requests_follow_the_tenants_origins() {
    let origin = "https://app.acme.example.com";
    let pre = TestRequest::new("OPTIONS", "/health")
        .with("host", "acme.example.com")
        .with("origin", origin)
        .with("access-control-request-method", "GET");
    let s = serve(TenantId::Acme, EnvName::Prod, pre);
    assert_eq!(s.resp.status, 204);
    assert!(s.resp.body.bytes().is_empty());
    assert_eq!(s.resp.header("access-control-allow-origin"), Some(origin));
    assert_eq!(s.resp.header("access-control-allow-methods"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(s.resp.header("vary"), Some("origin"));
    let s = serve(
        TenantId::Acme,
        EnvName::Prod,
        get("acme.example.com", "/health").with("origin", origin),
    );
    assert_eq!(s.resp.status, 200);
    assert_eq!(s.resp.header("access-control-allow-origin"), Some(origin));
    assert_eq!(s.resp.header("access-control-expose-headers"), Some("x-request-id, traceparent"));
    // Errors after the CORS check are readable by the allowed page too.
    let s = serve(
        TenantId::Acme,
        EnvName::Prod,
        get("acme.example.com", "/nope").with("origin", origin),
    );
    s.error(404, "not_found");
    assert_eq!(s.resp.header("access-control-allow-origin"), Some(origin));
}

#[test]
fn cors_refuses_another_tenants_origin() {
    // globex's portal calling acme: refused before any handler.
    let s = serve(
        TenantId::Acme,
        EnvName::Prod,
        get("acme.example.com", "/health").with("origin", "https://portal.globex.example.org"),
    );
    s.error(403, "origin_not_allowed");
    assert_eq!(s.resp.header("access-control-allow-origin"), None);
    let s = serve(
        TenantId::Globex,
        EnvName::Prod,
        TestRequest::new("OPTIONS", "/health")
            .with("host", "globex.example.org")
            .with("origin", "https://app.acme.example.com")
            .with("access-control-request-method", "GET"),
    );
    s.error(403, "origin_not_allowed");
}

#[test]
fn misconfigured_deployment_fails_every_request_closed() {
    let state = DeploymentState::Misconfigured {
        problems: "var `TENANT_ID` = `hooli` is not a tenant of tenants/".into(),
    };
    let s = serve_in(&state, get("acme.localhost", "/health"));
    s.error(500, "deployment_misconfigured");
    assert_eq!(s.log["level"], "error");
    assert!(s.log["detail"].as_str().unwrap().contains("hooli"));
    // The problem is logged, not sent to the client.
    assert!(!String::from_utf8_lossy(s.resp.body.bytes()).contains("hooli"));
}

#[test]
fn missing_binding_makes_health_degraded() {
    let mut d = Deployment::complete(TenantId::Globex, EnvName::Dev);
    d.bindings.iter_mut().find(|b| b.0 == "DOCS").unwrap().2 = false;
    let s = serve_in(&DeploymentState::Ready(d), get("globex.localhost", "/health"));
    let v = s.json();
    assert_eq!(v["data"]["status"], "degraded");
    assert_eq!(v["data"]["bindings"]["DOCS"]["present"], false);
}

#[test]
fn health_answers_follow_the_deployment_and_the_resolution_whatever_was_answered_before() {
    // `/health`'s data is encoded once per isolate and inputs: answers
    // for other deployments and resolutions in the same thread must not
    // leak into each other.
    let complete = DeploymentState::Ready(Deployment::complete(TenantId::Acme, EnvName::Dev));
    let mut d = Deployment::complete(TenantId::Acme, EnvName::Dev);
    d.bindings.iter_mut().find(|b| b.0 == "CACHE").unwrap().2 = false;
    let degraded = DeploymentState::Ready(d);
    for _ in 0..2 {
        for (state, status) in [(&complete, "ok"), (&degraded, "degraded")] {
            for (req, via) in [
                (get("acme.localhost", "/health"), "host"),
                (get("127.0.0.1:8787", "/health").with("x-tenant-id", "acme"), "header"),
            ] {
                let s = serve_in(state, req);
                let v = s.json();
                assert_eq!(
                    (v["data"]["status"].as_str(), v["data"]["resolved_by"].as_str()),
                    (Some(status), Some(via))
                );
                assert_eq!(v["data"]["bindings"]["CACHE"]["present"], status == "ok");
                assert_eq!(v["request_id"], s.resp.header("x-request-id").unwrap());
            }
        }
    }
    let globex = serve_in(
        &DeploymentState::Ready(Deployment::complete(TenantId::Globex, EnvName::Dev)),
        get("globex.localhost", "/health"),
    );
    assert_eq!(globex.json()["data"]["tenant"], "globex");
}

#[test]
fn hostile_input_always_gets_an_envelope_and_a_request_id() {
    let hosts = [
        "",
        " ",
        "acme.localhost\r\nx: y",
        "[::1]:80",
        "ACME.LOCALHOST..",
        "a".repeat(1000).as_str(),
        "é.localhost",
        "acme.localhost:99999",
    ]
    .map(String::from);
    let paths = ["", "health", "/health?x", "//health", "/\u{0}", "/health#", &"/x".repeat(2000)].map(String::from);
    for h in &hosts {
        for p in &paths {
            for m in ["GET", "", "OPTIONS", "\u{1F600}"] {
                let req = TestRequest::new(m, p)
                    .with("host", h)
                    .with("x-tenant-id", h)
                    .with("origin", h)
                    .with("content-length", h);
                let s = acme_dev(req);
                let id = s.resp.header("x-request-id").expect("x-request-id on every response").to_string();
                if s.resp.status >= 400 {
                    let v = s.json();
                    assert_eq!(v["error"]["request_id"], id.as_str());
                }
                assert!(s.log["path"].as_str().unwrap().chars().count() <= 200);
            }
        }
    }
}

mod limits_and_auth {
    //! Authentication, roles and rate limits through the whole pipeline,
    //! with the in-memory limiter (the Durable Object's state logic).

    use super::support::{block_on, Harness};
    use serde_json::Value;
    use tenants_runtime::app::DeploymentState;
    use tenants_runtime::http::TestRequest;
    use tenants_runtime::tenancy::resolve::Deployment;
    use tenants_runtime::tenants::{EnvName, TenantId};

    fn dev(t: TenantId) -> DeploymentState {
        DeploymentState::Ready(Deployment::complete(t, EnvName::Dev))
    }

    fn me(host: &str, user: &str) -> TestRequest {
        TestRequest::get("/v1/me").with("host", host).with("x-user-id", user)
    }

    fn code(body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["error"]["code"].as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn exactly_the_limit_passes_then_429_with_headers() {
        // initech: 20 requests per user per hour.
        let h = Harness::new(&[5_000.0]);
        let st = dev(TenantId::Initech);
        let statuses: Vec<u16> = (0..50)
            .map(|_| block_on(h.handle(&st, &me("initech.localhost", "u1"))).status)
            .collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 20);
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30);
        let r = block_on(h.handle(&st, &me("initech.localhost", "u1")));
        assert_eq!(code(r.body.bytes()), "rate_limited");
        assert_eq!(r.header("ratelimit-limit"), Some("20"));
        assert_eq!(r.header("ratelimit-remaining"), Some("0"));
        assert_eq!(r.header("retry-after"), Some("180"), "one slot per 3 minutes");
        assert_eq!(h.last_log()["detail"], "user limit");
        // Another user, and the same user id at another tenant, are not affected.
        assert_eq!(block_on(h.handle(&st, &me("initech.localhost", "u2"))).status, 200);
        let acme = block_on(h.handle(&dev(TenantId::Acme), &me("acme.localhost", "u1")));
        assert_eq!(acme.status, 200);
        assert_eq!(acme.header("ratelimit-remaining"), Some("59"));
    }

    #[test]
    fn an_unreachable_limiter_fails_closed_with_503() {
        let mut h = Harness::new(&[5_000.0]);
        h.limiter.down.set(true);
        let r = block_on(h.handle(&dev(TenantId::Acme), &me("acme.localhost", "u1")));
        assert_eq!((r.status, code(r.body.bytes()).as_str()), (503, "rate_limiter_unavailable"));
        assert_eq!(r.header("retry-after"), Some("1"));
        // A deployment without the binding: the same.
        h.with_limiter = false;
        let r = block_on(h.handle(&dev(TenantId::Acme), &me("acme.localhost", "u1")));
        assert_eq!((r.status, code(r.body.bytes()).as_str()), (503, "rate_limiter_unavailable"));
        // /health needs neither auth nor the limiter.
        let r = block_on(h.handle(&dev(TenantId::Acme), &TestRequest::get("/health").with("host", "acme.localhost")));
        assert_eq!(r.status, 200);
    }

    #[test]
    fn stage_without_credentials_is_401_and_development_users_do_not_exist_there() {
        let h = Harness::new(&[5_000.0]);
        let st = DeploymentState::Ready(Deployment::complete(TenantId::Acme, EnvName::Stage));
        let r = block_on(h.handle(&st, &me("acme.stage.example.com", "ann")));
        assert_eq!((r.status, code(r.body.bytes()).as_str()), (401, "unauthenticated"));
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"acme\""));
        let post = TestRequest::new("POST", "/v1/keys")
            .with("host", "acme.stage.example.com")
            .with("content-type", "application/json")
            .body(br#"{"name":"x"}"#.to_vec());
        assert_eq!(block_on(h.handle(&st, &post)).status, 401);
        // The development-only stream does not exist outside development.
        let r = block_on(h.handle(&st, &TestRequest::get("/v1/dev/stream").with("host", "acme.stage.example.com")));
        assert_eq!((r.status, code(r.body.bytes()).as_str()), (404, "not_found"));
    }

    #[test]
    fn api_keys_over_http_issue_list_use_and_revoke() {
        let h = Harness::new(&[5_000.0]);
        let st = dev(TenantId::Acme);
        let admin = |r: TestRequest| r.with("host", "acme.localhost").with("x-user-roles", "admin");
        let create = admin(TestRequest::new("POST", "/v1/keys"))
            .with("content-type", "application/json")
            .body(br#"{"name":"bot","roles":["reader","reader"]}"#.to_vec());
        let r = block_on(h.handle(&st, &create));
        assert_eq!(r.status, 201, "{:?}", r.body);
        let v: Value = serde_json::from_slice(r.body.bytes()).unwrap();
        let key = v["data"]["key"].as_str().unwrap().to_string();
        assert_eq!(v["data"]["record"]["roles"], serde_json::json!(["reader"]));
        assert!(
            !h.kv.map.borrow().values().any(|(val, _)| val.contains(&key)),
            "the key itself is never stored"
        );
        let r = block_on(h.handle(
            &st,
            &TestRequest::get("/v1/me").with("host", "acme.localhost").with("x-api-key", &key),
        ));
        assert_eq!(r.status, 200);
        let list = block_on(h.handle(&st, &admin(TestRequest::get("/v1/keys"))));
        let lv: Value = serde_json::from_slice(list.body.bytes()).unwrap();
        let id = lv["data"]["keys"][0]["id"].as_str().unwrap().to_string();
        let del = block_on(h.handle(&st, &admin(TestRequest::new("DELETE", &format!("/v1/keys/{id}")))));
        assert_eq!(del.status, 200);
        let r = block_on(h.handle(
            &st,
            &TestRequest::get("/v1/me").with("host", "acme.localhost").with("x-api-key", &key),
        ));
        assert_eq!(r.status, 401);
        // The key store down: 503, not 401.
        h.kv.down.set(true);
        let r = block_on(h.handle(
            &st,
            &TestRequest::get("/v1/me").with("host", "acme.localhost").with("x-api-key", &key),
        ));
        assert_eq!((r.status, code(r.body.bytes()).as_str()), (503, "auth_unavailable"));
        // A reader may not manage keys.
        h.kv.down.set(false);
        let r = block_on(
            h.handle(
                &st,
                &TestRequest::get("/v1/keys")
                    .with("host", "acme.localhost")
                    .with("x-user-roles", "reader"),
            ),
        );
        assert_eq!((r.status, code(r.body.bytes()).as_str()), (403, "forbidden"));
    }

    #[test]
    fn a_stream_logs_once_when_it_ends() {
        use futures_util::StreamExt;
        let h = Harness::new(&[5_000.0]);
        let st = dev(TenantId::Acme);
        let req = TestRequest::get("/v1/dev/stream?events=3&interval_ms=5").with("host", "acme.localhost");
        let r = block_on(h.handle(&st, &req));
        assert!(h.log.lines.borrow().is_empty(), "no line before the stream ends");
        let tenants_runtime::http::Body::Stream(s) = r.body else {
            panic!("not a stream")
        };
        let chunks: Vec<_> = block_on(s.collect::<Vec<_>>());
        assert_eq!(chunks.len(), 4);
        let text: String = chunks.into_iter().map(|c| String::from_utf8(c.unwrap()).unwrap()).collect();
        assert!(text.contains("event: done"), "{text}");
        let line = h.last_log();
        assert_eq!((line["stream"].as_str(), line["chunks"].as_u64()), (Some("completed"), Some(4)));
        // Dropped after one chunk: cancelled.
        let r = block_on(h.handle(&st, &req));
        let tenants_runtime::http::Body::Stream(mut s) = r.body else {
            panic!("not a stream")
        };
        let _ = block_on(s.next());
        drop(s);
        assert_eq!(h.last_log()["stream"], "cancelled");
        assert_eq!(h.log.lines.borrow().len(), 2);
    }
}

#[test]
fn a_callers_traceparent_keeps_its_trace_and_the_request_gets_its_own_span() {
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let s = acme_dev(get("acme.localhost", "/health").with("traceparent", incoming));
    let out = s.resp.header("traceparent").unwrap().to_string();
    let parts: Vec<&str> = out.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01"));
    assert_ne!(parts[2], "00f067aa0ba902b7", "a span of its own");
    assert_eq!(s.log["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    // Without one, the request id is the trace id.
    let s = acme_dev(get("acme.localhost", "/health"));
    let id = s.resp.header("x-request-id").unwrap().to_string();
    assert_eq!(s.resp.header("traceparent").unwrap().split('-').nth(1), Some(id.as_str()));
    assert_eq!(s.log["trace_id"], id.as_str());
}

#[test]
fn the_log_line_names_the_caller_only_by_a_salted_hash() {
    let s = acme_dev(get("acme.localhost", "/v1/me").with("x-user-id", "ann"));
    assert_eq!(s.resp.status, 200);
    let want = tenants_runtime::app::log::principal_hash("", "acme", "ann");
    assert_eq!(s.log["principal"], want.as_str());
    assert!(want.starts_with("p_") && want.len() == 18, "{want}");
    assert!(s.log.get("user").is_none() && !s.log.to_string().contains("\"ann\""), "{}", s.log);
    // Another salt, another hash.
    assert_ne!(tenants_runtime::app::log::principal_hash("s3cret", "acme", "ann"), want);
}
