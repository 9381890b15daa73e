//! `GET /v1/me`: who the caller is, as the Worker sees them — the tenant,
//! the environment, the user, the roles and how they authenticated. The
//! response carries the caller's rate-limit headers like every limited
//! route. Clients use it to check their credentials.

use schemars::JsonSchema;
use serde::Serialize;

use crate::app::envelope::{data_response, ErrorCode, Failure};
use crate::app::Scope;
use crate::http::{Incoming, Response};

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct Me {
    pub tenant: &'static str,
    pub env: &'static str,
    pub user: String,
    pub roles: Vec<String>,
    /// `jwt`, `access`, `api-key` or `development`.
    pub auth: &'static str,
}

pub fn me<R: Incoming>(s: &Scope<'_, R>) -> Result<Response, Failure> {
    let p = s
        .principal
        .ok_or_else(|| Failure::new(ErrorCode::Internal, "route without a principal"))?;
    Ok(data_response(
        &Me {
            tenant: s.ctx.tenant().as_str(),
            env: s.ctx.env().as_str(),
            user: p.user().to_string(),
            roles: p.roles().to_vec(),
            auth: p.method().as_str(),
        },
        s.request_id,
    ))
}
