//! The answer cache (`cache chat-ttl`, KV): the key is the tenant's
//! (`TenantCtx::key(Space::Cache, ["chat", hash])`) with a SHA-256 of the
//! model, the parameters and every message of the prompt, so two tenants
//! — or two different conversations — never share an answer.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ai::{Message, Usage};
use crate::tenancy::keys::{Space, StorageKey};
use crate::tenancy::resolve::TenantCtx;

/// KV's shortest expiry.
pub const MIN_TTL_SECS: u32 = 60;

/// What is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub model: String,
    pub content: String,
    pub finish_reason: String,
    pub usage: Usage,
}

/// The hash of everything that shapes an answer.
pub fn prompt_hash(models: &[&str], max_tokens: u32, temperature: f64, messages: &[Message]) -> String {
    let mut h = Sha256::new();
    for m in models {
        h.update(m.as_bytes());
        h.update([0]);
    }
    h.update(max_tokens.to_le_bytes());
    h.update(temperature.to_le_bytes());
    for m in messages {
        h.update((m.role.len() as u64).to_le_bytes());
        h.update(m.role.as_bytes());
        h.update((m.content.len() as u64).to_le_bytes());
        h.update(m.content.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn key(ctx: &TenantCtx, hash: &str) -> StorageKey {
    ctx.key(Space::Cache, &["chat", hash])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::{EnvName, TenantId};

    fn m(c: &str) -> Vec<Message> {
        vec![Message {
            role: "user".into(),
            content: c.into(),
        }]
    }

    #[test]
    fn keys_differ_by_tenant_model_parameters_and_messages() {
        let h = prompt_hash(&["a"], 10, 0.5, &m("hi"));
        assert_ne!(h, prompt_hash(&["b"], 10, 0.5, &m("hi")));
        assert_ne!(h, prompt_hash(&["a"], 11, 0.5, &m("hi")));
        assert_ne!(h, prompt_hash(&["a"], 10, 0.6, &m("hi")));
        assert_ne!(h, prompt_hash(&["a"], 10, 0.5, &m("hi!")));
        // Boundaries are length-prefixed: no two splits of the same text collide.
        let two = vec![
            Message {
                role: "user".into(),
                content: "a".into(),
            },
            Message {
                role: "user".into(),
                content: "b".into(),
            },
        ];
        assert_ne!(prompt_hash(&["a"], 1, 0.0, &two), prompt_hash(&["a"], 1, 0.0, &m("ab")));
        let acme = TenantCtx::for_tests(TenantId::Acme, EnvName::Dev);
        let globex = TenantCtx::for_tests(TenantId::Globex, EnvName::Dev);
        assert_ne!(key(&acme, &h), key(&globex, &h));
    }
}
