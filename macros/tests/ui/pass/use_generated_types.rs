// Code that uses the generated `Env`, `TenantId`, config and routing table
// compiles: every accessor has its workers-rs type.
mod tenants {
    tenants_macros::include_tenants!("../../../../tenants");
}

use tenants::{Env, EnvName, TenantId};

#[allow(dead_code)]
fn uses_env(env: &Env) -> (&worker::KvStore, &worker::ObjectNamespace, &worker::ObjectNamespace, &worker::Ai, &worker::AnalyticsEngineDataset, &'static str) {
    let _pin: (TenantId, EnvName) = (env.pinned_tenant(), env.pinned_env());
    let _secret: worker::Result<worker::Secret> = env.secret_gateway_token();
    let _index: &worker::ObjectNamespace = env.doc_index();
    let _queue: (&'static str, &worker::wasm_bindgen::JsValue) = (env.ingest().binding(), env.ingest().as_js());
    (env.cache(), env.sessions(), env.rate_limiter(), env.ai(), env.events(), env.docs().binding())
}

#[allow(dead_code)]
fn build(raw: worker::Env) -> Result<Env, tenants::EnvError> {
    Env::from_worker(raw)
}

fn main() {
    let t: TenantId = "acme".parse().unwrap();
    assert_eq!(t, TenantId::Acme);
    assert_eq!(EnvName::Prod.resolve_host("x.acme.example.com"), Some(TenantId::Acme));
    let config: &'static tenants::TenantConfig = TenantId::Globex.config();
    assert_eq!(config.rag.top_k, 8);
    let sessions: tenants::SessionsConfig = config.sessions;
    let retention_secs: u64 = sessions.retention_secs;
    assert_eq!((sessions.retention_days, retention_secs), (90, 90 * 86_400));
    let auth: tenants::AuthConfig = config.envs[EnvName::Prod as usize].auth;
    let keys: Option<tenants::KeySource> = auth.access.map(|a| a.keys);
    assert!(matches!(keys, Some(tenants::KeySource::Url(_))) && !auth.none);
    assert_eq!(Env::BINDINGS.len(), 9);
    // RAG: the settings, which index each environment searches, the ingest queue.
    let rag: tenants::RagConfig = TenantId::Acme.config().rag;
    let rerank: Option<&'static str> = rag.rerank_model;
    assert_eq!((rag.hybrid, rerank, rag.ingest_role, rag.embedding_dimensions), (true, Some("@cf/baai/bge-reranker-base"), "admin", 768));
    let dev: &tenants::TenantEnvConfig = &TenantId::Acme.config().envs[EnvName::Dev as usize];
    assert_eq!(dev.vector_index, tenants::VectorIndex::Local { object: "DOC_INDEX" });
    assert_eq!(dev.ingest_queue, Some("INGEST"));
    let prod: &tenants::TenantEnvConfig = &TenantId::Acme.config().envs[EnvName::Prod as usize];
    assert!(matches!(prod.vector_index, tenants::VectorIndex::Vectorize { binding: "DOCS" }));
    const ALL: [TenantId; 3] = TenantId::ALL;
    assert_eq!(ALL.len(), 3);
}
