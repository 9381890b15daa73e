//! The OpenAPI 3.1 document of the Worker's HTTP API, generated from the
//! route table ([`crate::app::routes::ROUTES`]: paths, methods, who may
//! call, limits, bodies) and the request and response types (their JSON
//! Schemas, derived with schemars — the same schemas the body decoder
//! enforces). `cargo xtask openapi` writes it to `docs/openapi.json`; a
//! test fails when the committed file is stale.

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::app::envelope::ErrorCode;
use crate::app::routes::{Access, Route, RouteSpec, ROUTES};
use crate::http::Method;

struct Gen {
    de: SchemaGenerator,
    ser: SchemaGenerator,
}

impl Gen {
    fn new() -> Gen {
        let settings = |contract| {
            let mut s = SchemaSettings::draft2020_12();
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = contract;
            s
        };
        Gen {
            de: SchemaGenerator::new(settings(Contract::Deserialize)),
            ser: SchemaGenerator::new(settings(Contract::Serialize)),
        }
    }

    fn request<T: JsonSchema>(&mut self) -> Value {
        self.de.subschema_for::<T>().to_value()
    }

    fn response<T: JsonSchema>(&mut self) -> Value {
        self.ser.subschema_for::<T>().to_value()
    }
}

/// The error codes a route can answer with, by status.
fn errors(spec: &RouteSpec) -> Vec<ErrorCode> {
    use ErrorCode::*;
    let mut v = vec![
        TenantUnknown,
        TenantHeaderNotAllowed,
        TenantConflict,
        TenantNotServed,
        OriginNotAllowed,
        InvalidContentLength,
        PayloadTooLarge,
        MethodNotAllowed,
        DeploymentMisconfigured,
        Internal,
    ];
    if spec.dev_only || spec.path.contains("{id}") || matches!(spec.route, Route::KeysList | Route::KeysCreate) {
        v.push(NotFound);
    }
    if let Access::Principal { roles } = spec.access {
        v.extend([Unauthenticated, AuthUnavailable, BindingUnavailable]);
        if !roles.is_empty() {
            v.push(Forbidden);
        }
    }
    if spec.limited {
        v.extend([RateLimited, RateLimiterUnavailable]);
    }
    if spec.max_body > 0 {
        v.extend([UnsupportedMediaType, InvalidJson, InvalidRequest]);
    }
    if spec.route == Route::DevStream {
        v.push(InvalidRequest);
    }
    match spec.route {
        Route::Chat | Route::ChatCompletions => v.extend([
            SessionNotFound,
            ModelNotAllowed,
            InputTooLong,
            BlockedContent,
            BudgetExhausted,
            UpstreamError,
            UpstreamTimeout,
        ]),
        Route::SessionGet | Route::SessionDelete => v.push(SessionNotFound),
        Route::SessionsList | Route::DocumentsList => v.push(InvalidRequest),
        Route::DocumentsIngest => v.extend([Forbidden, PayloadTooLarge, UpstreamError]),
        Route::DocumentDelete => v.push(Forbidden),
        Route::DevRetrieve => v.push(UpstreamError),
        Route::Search => v.extend([InputTooLong, BlockedContent, BudgetExhausted, UpstreamError, UpstreamTimeout]),
        Route::ToolCall => v.extend([
            ToolNotFound,
            ToolForbidden,
            ToolTimeout,
            ToolFailed,
            AuditUnavailable,
            BudgetExhausted,
            UpstreamError,
            UpstreamTimeout,
            PayloadTooLarge,
        ]),
        Route::AuditList => v.extend([InvalidRequest, AuditUnavailable]),
        Route::Tts => v.extend([FeatureDisabled, TextTooLong, BlockedContent, UpstreamError, UpstreamTimeout]),
        _ => {}
    }
    v.sort_by_key(|c| (c.status(), c.code()));
    v.dedup();
    v
}

fn data_envelope(inner: Value) -> Value {
    json!({
        "type": "object",
        "required": ["data", "request_id"],
        "properties": {"data": inner, "request_id": {"type": "string"}},
        "additionalProperties": false,
    })
}

fn limit_headers() -> Value {
    json!({
        "ratelimit-limit": {"$ref": "#/components/headers/RateLimitLimit"},
        "ratelimit-remaining": {"$ref": "#/components/headers/RateLimitRemaining"},
        "ratelimit-reset": {"$ref": "#/components/headers/RateLimitReset"},
        "x-request-id": {"$ref": "#/components/headers/RequestId"},
    })
}

fn success(g: &mut Gen, spec: &RouteSpec) -> (String, Value) {
    use crate::features::{health::Health, keys, me::Me};
    let json_body = |schema: Value| json!({"application/json": {"schema": data_envelope(schema)}});
    let (status, description, content) = match spec.route {
        Route::Health if spec.method == Method::Head => ("200", "The tenant is served (no body).", Value::Null),
        Route::Health => (
            "200",
            "Which tenant, environment and build; which bindings are present.",
            json_body(g.response::<Health>()),
        ),
        Route::Me => ("200", "The caller as the Worker sees them.", json_body(g.response::<Me>())),
        Route::KeysList => (
            "200",
            "The environment's API keys (never the keys themselves).",
            json_body(g.response::<keys::KeyList>()),
        ),
        Route::KeysCreate => (
            "201",
            "The new key, shown this once, and its record.",
            json_body(g.response::<keys::CreatedKey>()),
        ),
        Route::KeysRevoke => ("200", "The key is revoked.", json_body(g.response::<keys::Revoked>())),
        Route::Playground => (
            "200",
            "The playground page (HTML; development environments only).",
            json!({"text/html": {"schema": {"type": "string"}}}),
        ),
        Route::PlaygroundLog => (
            "200",
            "The request's log line as the Worker wrote it (docs/observability.md), if this Worker instance wrote it recently.",
            json!({"application/json": {"schema": {"type": "object"}}}),
        ),
        Route::DevStream => (
            "200",
            "Server-sent events: `tick` events, then `done` (or `error`).",
            json!({"text/event-stream": {"schema": {"type": "string"}}}),
        ),
        Route::Chat | Route::ChatCompletions => (
            "200",
            "With `stream`: server-sent events, OpenAI `chat.completion.chunk`s (role, content deltas, finish reason, a usage chunk, `data: [DONE]`; a failure after the first chunk is one `data: {\"error\":…}` event and the end). Without: one OpenAI `chat.completion` with `session_id`. Headers name the session (`x-session-id`), the model that answered (`x-model`) and, when the tenant caches answers, `x-cache: hit|miss`.",
            json!({
                "text/event-stream": {"schema": {"type": "string"}},
                "application/json": {"schema": g.response::<crate::features::chat::reply::CompletionDoc>()},
            }),
        ),
        Route::SessionsList => (
            "200",
            "The caller's sessions, newest activity first.",
            json_body(g.response::<crate::features::sessions::SessionList>()),
        ),
        Route::SessionGet => (
            "200",
            "The session with its messages, oldest first.",
            json_body(g.response::<crate::objects::sessions::SessionView>()),
        ),
        Route::SessionDelete => (
            "200",
            "The session and its messages are deleted.",
            json_body(g.response::<crate::features::sessions::Deleted>()),
        ),
        Route::DocumentsIngest => (
            "200",
            "The batch was ingested in the request: each document's chunks, and the documents that failed (with why).",
            json_body(g.response::<crate::features::documents::IngestReport>()),
        ),
        Route::DocumentsList => (
            "200",
            "The tenant's documents, by id.",
            json_body(g.response::<crate::features::documents::DocList>()),
        ),
        Route::DocumentDelete => (
            "200",
            "The document and its chunks are deleted.",
            json_body(g.response::<crate::features::documents::DocDeleted>()),
        ),
        Route::DocumentJob => (
            "200",
            "A queued ingestion's progress and per-document errors.",
            json_body(g.response::<crate::objects::doc_index::JobState>()),
        ),
        Route::ToolsList => (
            "200",
            "The tools the caller's roles allow, in OpenAI's function-calling shape (`type`, `function: {name, description, parameters}`), with their timeouts.",
            json_body(g.response::<crate::features::tools::ToolList>()),
        ),
        Route::ToolCall => (
            "200",
            "The tool's result (validated against the tool's output schema) and its audit record's number.",
            json_body(g.response::<crate::features::tools::ToolResult>()),
        ),
        Route::AuditList => (
            "200",
            "The tenant's tool audit records, oldest first: one per call (direct or from a model), hash-chained (`prev_hash`, `hash`; `tenants audit verify` recomputes the chain).",
            json_body(g.response::<crate::features::tools::AuditPage>()),
        ),
        Route::Tts => (
            "200",
            "The audio, streamed: `audio/mpeg` (MP3) or `audio/wav`. `x-tts-model` names the model, `x-tts-parts` how many parts the text was spoken in (cut at sentences for models with shorter limits). Only tenants with `tts enabled=#true` serve it (`x-tenants`); the others answer 404 `feature_disabled`.",
            json!({
                "audio/mpeg": {"schema": {"type": "string", "format": "binary"}},
                "audio/wav": {"schema": {"type": "string", "format": "binary"}},
            }),
        ),
        Route::DevRetrieve => (
            "200",
            "The ranked documents (best chunk each) for the query in the given mode.",
            json_body(g.response::<crate::features::search::Retrieved>()),
        ),
        Route::Search => (
            "200",
            "Without `stream`: the answer with its sources, confidence and follow-ups (and `request_id`). With `stream`: server-sent events `query`, `delta` (`{\"text\"}`, the answer as it is written), `sources`, `follow_ups`, then `done` carrying this same object (or `error` and the end). `x-cache: hit|miss|off`.",
            json!({
                "text/event-stream": {"schema": {"type": "string"}},
                "application/json": {"schema": g.response::<crate::features::search::SearchResult>()},
            }),
        ),
    };
    let mut r = json!({"description": description});
    if !content.is_null() {
        r["content"] = content;
    }
    r["headers"] = if spec.limited {
        limit_headers()
    } else {
        json!({"x-request-id": {"$ref": "#/components/headers/RequestId"}})
    };
    (status.to_string(), r)
}

fn operation(g: &mut Gen, spec: &RouteSpec) -> Value {
    let mut responses = Map::new();
    let (status, ok) = success(g, spec);
    responses.insert(status, ok);
    if spec.route == Route::DocumentsIngest {
        responses.insert(
            "202".into(),
            json!({
                "description": "The batch was larger than an in-request ingestion (over 20 documents or 400,000 characters) and was queued: the job, and where to follow it.",
                "content": {"application/json": {"schema": data_envelope(g.response::<crate::features::documents::Queued>())}},
                "headers": limit_headers(),
            }),
        );
    }
    let mut by_status: std::collections::BTreeMap<u16, Vec<&'static str>> = std::collections::BTreeMap::new();
    for c in errors(spec) {
        by_status.entry(c.status()).or_default().push(c.code());
    }
    for (status, codes) in by_status {
        let mut headers = json!({"x-request-id": {"$ref": "#/components/headers/RequestId"}});
        match status {
            401 => headers["www-authenticate"] = json!({"description": "The schemes the tenant accepts.", "schema": {"type": "string"}}),
            405 => headers["allow"] = json!({"description": "The methods the path accepts.", "schema": {"type": "string"}}),
            429 | 503 => headers["retry-after"] = json!({"description": "Seconds to wait.", "schema": {"type": "integer"}}),
            _ => {}
        }
        if status == 429 {
            let extra = limit_headers();
            for (k, v) in extra.as_object().into_iter().flatten() {
                headers[k] = v.clone();
            }
        }
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("Error: {}.", codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
                "headers": headers,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
                "x-error-codes": codes,
            }),
        );
    }
    let mut op = json!({
        "operationId": if spec.method == Method::Head { format!("{}.head", spec.name) } else { spec.name.to_string() },
        "summary": summary(spec),
        "responses": responses,
    });
    match spec.access {
        Access::Public => op["security"] = json!([]),
        Access::Principal { roles } => {
            op["security"] = json!([{"bearer": []}, {"apiKey": []}, {"cloudflareAccess": []}]);
            op["x-roles"] = json!(roles);
        }
    }
    if spec.limited {
        op["x-rate-limited"] = json!(true);
    }
    if spec.dev_only {
        op["x-development-only"] = json!(true);
    }
    details(g, spec, &mut op);
    op
}

/// A route's path and query parameters and its request body.
fn details(g: &mut Gen, spec: &RouteSpec, op: &mut Value) {
    if spec.path.starts_with("/v1/keys/") {
        op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "description": "The key id (16 hex characters).", "schema": {"type": "string", "pattern": "^[0-9a-f]{16}$"}}]);
    }
    if spec.path.starts_with("/sessions/") {
        op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "description": "The session id (32 hex characters).", "schema": {"type": "string", "maxLength": 128}}]);
    }
    if matches!(spec.route, Route::DocumentDelete | Route::DocumentJob) {
        op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "description": "The document id as ingested, or the job id.", "schema": {"type": "string", "maxLength": 128}}]);
    }
    if spec.route == Route::ToolCall {
        op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "description": "The tool's name (`GET /tools` lists the caller's).", "schema": {"type": "string", "maxLength": 128}}]);
        let by_tool: Map<String, Value> = crate::tools::REGISTRY
            .iter()
            .map(|t| (t.name.to_string(), (*(t.parameters)()).clone()))
            .collect();
        op["requestBody"] = json!({
            "required": true,
            "description": "The tool's arguments as a JSON object; each tool's schema is in `x-tool-arguments` and in `GET /tools`.",
            "content": {"application/json": {"schema": {"type": "object"}}},
            "x-tool-arguments": by_tool,
            "x-max-bytes": spec.max_body,
        });
    }
    if spec.route == Route::Tts {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": g.request::<crate::features::tts::TtsRequest>()}},
            "x-max-bytes": spec.max_body,
        });
        let enabled: Vec<&str> = crate::tenants::TenantId::ALL
            .iter()
            .filter(|t| t.config().tts.enabled)
            .map(|t| t.as_str())
            .collect();
        op["x-tenants"] = json!(enabled);
    }
    if spec.route == Route::AuditList {
        op["parameters"] = json!([
            {"name": "since", "in": "query", "description": "Records at or after this time: milliseconds since the epoch, or RFC 3339 UTC (`2026-12-05T10:00:00Z`).", "schema": {"type": "string"}},
            {"name": "tool", "in": "query", "description": "Only this tool's records.", "schema": {"type": "string"}},
            {"name": "after", "in": "query", "description": "`next` of the previous page.", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
        ]);
    }
    if spec.route == Route::DocumentsList {
        op["parameters"] = json!([
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            {"name": "after", "in": "query", "description": "`next` of the previous page.", "schema": {"type": "string"}},
        ]);
    }
    if spec.route == Route::DocumentsIngest {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": g.request::<crate::features::documents::IngestRequest>()}},
            "x-max-bytes": spec.max_body,
        });
    }
    if spec.route == Route::DevRetrieve {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": g.request::<crate::features::search::RetrieveRequest>()}},
            "x-max-bytes": spec.max_body,
        });
    }
    if spec.route == Route::Search {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": g.request::<crate::features::search::SearchRequest>()}},
            "x-max-bytes": spec.max_body,
        });
    }
    if spec.route == Route::SessionsList {
        op["parameters"] = json!([
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
            {"name": "cursor", "in": "query", "description": "`next_cursor` of the previous page.", "schema": {"type": "string"}},
        ]);
    }
    if matches!(spec.route, Route::Chat | Route::ChatCompletions) {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": g.request::<crate::features::chat::ChatRequest>()}},
            "x-max-bytes": spec.max_body,
        });
    }
    if spec.route == Route::DevStream {
        op["parameters"] = json!([
            {"name": "events", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 5}},
            {"name": "interval_ms", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 100}},
            {"name": "fail_after", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000}},
        ]);
    }
    if spec.route == Route::KeysCreate {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": g.request::<crate::features::keys::CreateKey>()}},
            "x-max-bytes": spec.max_body,
        });
    }
}

fn summary(spec: &RouteSpec) -> &'static str {
    match spec.route {
        Route::Health => "The deployment's tenant, environment, build and bindings",
        Route::Me => "Who the caller is",
        Route::KeysList => "List the environment's API keys",
        Route::KeysCreate => "Issue an API key (shown once)",
        Route::KeysRevoke => "Revoke an API key",
        Route::DevStream => "A test stream of server-sent events (development environments only)",
        Route::Playground => "The developer playground: chat, search, tools and speech in a browser (development environments only)",
        Route::PlaygroundLog => "The log line of a recent request, by its id (development environments only)",
        Route::Chat => "Chat with the tenant's model (streams by default)",
        Route::ChatCompletions => "OpenAI-compatible chat completions (for the OpenAI SDKs)",
        Route::SessionsList => "The caller's chat sessions",
        Route::SessionGet => "One of the caller's chat sessions, with its messages",
        Route::SessionDelete => "Delete one of the caller's chat sessions",
        Route::DocumentsIngest => "Add or replace documents in the tenant's search index (its `rag ingest-role`)",
        Route::DocumentsList => "The tenant's documents",
        Route::DocumentDelete => "Remove a document and its chunks (its `rag ingest-role`)",
        Route::DocumentJob => "A queued ingestion's progress",
        Route::Search => "A cited answer from the tenant's documents",
        Route::ToolsList => "The tools the caller may use",
        Route::ToolCall => "Call a tool (audited)",
        Route::AuditList => "The tenant's tool audit log (admins)",
        Route::Tts => "Speak a text (tenants with text-to-speech on)",
        Route::DevRetrieve => "Ranked documents for a query, without an answer (development environments only; the retrieval evaluation)",
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut g = Gen::new();
    let mut paths = Map::new();
    for spec in ROUTES {
        let item = paths.entry(spec.path.to_string()).or_insert_with(|| json!({}));
        item[spec.method.as_str().to_ascii_lowercase()] = operation(&mut g, spec);
    }
    let _ = g.response::<crate::app::envelope::ErrorEnvelope<'static>>();
    let mut schemas = g.de.take_definitions(true);
    for (k, v) in g.ser.take_definitions(true) {
        schemas.entry(k).or_insert(v);
    }
    let schemas: Map<String, Value> = {
        let mut v: Vec<(String, Value)> = schemas.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().collect()
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tenants-as-code Worker",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The multi-tenant AI Worker's HTTP API. Every request is resolved to one tenant by its host (docs/runtime.md); every response carries `x-request-id`; every error is the envelope `{\"error\":{\"code\",\"message\",\"request_id\"}}`. Authentication and rate limits follow the tenant file (docs/auth.md).",
        },
        "servers": [{"url": "https://{host}", "variables": {"host": {"default": "acme.example.com"}}}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key (tak_…)", "description": "A JWT from the tenant's identity provider, or an API key."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An API key issued with `tenants keys create` or `POST /v1/keys`."},
                "cloudflareAccess": {"type": "apiKey", "in": "header", "name": "cf-access-jwt-assertion", "description": "The assertion Cloudflare Access adds in front of the Worker."},
            },
            "headers": {
                "RequestId": {"description": "The request's id (also in every log line).", "schema": {"type": "string"}},
                "RateLimitLimit": {"description": "The limit of the tightest bucket (tenant, user or IP).", "schema": {"type": "integer"}},
                "RateLimitRemaining": {"description": "Requests left in that bucket now.", "schema": {"type": "integer"}},
                "RateLimitReset": {"description": "Seconds until that bucket is full again.", "schema": {"type": "integer"}},
            },
        },
    })
}

/// The document as the committed file holds it (pretty, newline at the end).
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}
