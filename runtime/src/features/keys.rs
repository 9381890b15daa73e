//! API key management over HTTP, for the tenant's admins (role `admin`):
//! `POST /v1/keys` issues a key (shown once), `GET /v1/keys` lists the
//! environment's keys (never the keys themselves), `DELETE /v1/keys/{id}`
//! revokes one at once. The same records as `tenants keys` writes through
//! wrangler ([`crate::auth::api_keys`]); a tenant whose environment does not
//! accept API keys gets 404.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::envelope::{data_response, ErrorCode, Failure};
use crate::app::Scope;
use crate::auth::api_keys::{self, KeyRecord};
use crate::http::body::Detail;
use crate::http::{Incoming, Response};
use crate::ports::Kv;

/// `POST /v1/keys` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for: 1–64 of `a-z 0-9 . _ -`.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// Roles the key's caller gets (at most 16, each 1–32 of `a-z 0-9 . _ -`).
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub roles: Vec<String>,
}

/// `POST /v1/keys` answer: the key, shown this once.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CreatedKey {
    pub key: String,
    pub record: KeyRecord,
}

/// `GET /v1/keys` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct KeyList {
    pub keys: Vec<KeyRecord>,
}

/// `DELETE /v1/keys/{id}` answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Revoked {
    pub revoked: String,
}

fn slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn kv<'s, R: Incoming>(s: &'s Scope<'_, R>) -> Result<&'s std::rc::Rc<dyn Kv>, Failure> {
    let Some(ak) = s.ctx.env_config().auth.api_keys else {
        return Err(Failure::new(
            ErrorCode::NotFound,
            format!("tenant `{}` does not accept API keys in `{}`", s.ctx.tenant(), s.ctx.env().as_str()),
        ));
    };
    s.ports.kv(ak.kv_binding).ok_or_else(|| {
        Failure::new(
            ErrorCode::BindingUnavailable,
            format!("this deployment lacks the `{}` KV binding", ak.kv_binding),
        )
    })
}

fn kv_failure(e: crate::ports::PortError) -> Failure {
    Failure::new(ErrorCode::Internal, "the key store cannot be reached").with_log_detail(format!("KV: {e}"))
}

pub async fn create<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let kv = kv(s)?;
    let body: CreateKey = s.json().await?;
    let mut errs = Vec::new();
    if !slug(&body.name, 64) {
        errs.push(Detail::at("/name", "use 1-64 of a-z, 0-9, `.`, `_`, `-`"));
    }
    for (i, r) in body.roles.iter().enumerate() {
        if !slug(r, 32) {
            errs.push(Detail::at(format!("/roles/{i}"), "use 1-32 of a-z, 0-9, `.`, `_`, `-`"));
        }
    }
    if !errs.is_empty() {
        return Err(Failure::new(
            ErrorCode::InvalidRequest,
            "the body does not match the request schema; see `details`",
        )
        .with_details(errs));
    }
    let mut random = [0u8; 32];
    s.ports.random.fill(&mut random);
    let key = api_keys::generate(s.ctx.tenant().as_str(), &random);
    let hash = api_keys::sha256_hex(&key);
    let mut roles = body.roles;
    roles.sort();
    roles.dedup();
    let record = KeyRecord {
        id: hash[..api_keys::ID_LEN].to_string(),
        name: body.name,
        roles,
        tenant: s.ctx.tenant().as_str().to_string(),
        env: s.ctx.env().as_str().to_string(),
        created_at: api_keys::rfc3339(s.ports.clock.now_ms()),
    };
    let json = serde_json::to_string(&record).map_err(|e| Failure::new(ErrorCode::Internal, e.to_string()))?;
    kv.put(&api_keys::storage_key(s.ctx, &hash), &json, Some(&json))
        .await
        .map_err(kv_failure)?;
    let mut r = data_response(&CreatedKey { key, record }, s.request_id);
    r.status = 201;
    Ok(r)
}

pub async fn list<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let kv = kv(s)?;
    let entries = kv.list(&api_keys::list_prefix(s.ctx, None)).await.map_err(kv_failure)?;
    let mut keys: Vec<KeyRecord> = entries
        .iter()
        .filter_map(|e| e.metadata.as_deref())
        .filter_map(|m| serde_json::from_str(m).ok())
        .collect();
    keys.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(data_response(&KeyList { keys }, s.request_id))
}

pub async fn revoke<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let kv = kv(s)?;
    let id = s.param.unwrap_or_default();
    if id.len() != api_keys::ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(Failure::new(
            ErrorCode::NotFound,
            "a key id is 16 lowercase hex characters (see GET /v1/keys)",
        ));
    }
    let entries = kv.list(&api_keys::list_prefix(s.ctx, Some(id))).await.map_err(kv_failure)?;
    if entries.is_empty() {
        return Err(Failure::new(ErrorCode::NotFound, format!("no key `{id}` in this environment")));
    }
    for e in &entries {
        // The listing is under this tenant's prefix; rebuild the key
        // through the context rather than trusting the listed string.
        let hash = e.key.rsplit('/').next().unwrap_or_default();
        kv.delete(&api_keys::storage_key(s.ctx, hash)).await.map_err(kv_failure)?;
    }
    Ok(data_response(&Revoked { revoked: id.to_string() }, s.request_id))
}
