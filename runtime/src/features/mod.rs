//! Capabilities, one module (later one folder) each, over the core
//! ([`crate::app`], [`crate::http`], [`crate::ports`]). A handler takes a
//! [`crate::app::Scope`] — tenant context, principal, ports — and returns
//! a response or a [`crate::app::envelope::Failure`].
//!
//! - [`health`]: `GET /health` (public);
//! - [`me`]: `GET /v1/me`, who the caller is and how much rate limit is left;
//! - [`keys`]: `GET|POST /v1/keys`, `DELETE /v1/keys/{id}`, API keys (admin);
//! - [`dev_stream`]: `GET /v1/dev/stream`, a server-sent-events test stream
//!   (development environments only);
//! - [`chat`]: `POST /chat` and `POST /v1/chat/completions` (OpenAI-compatible);
//! - [`sessions`]: `GET /sessions`, `GET|DELETE /sessions/{id}`, the
//!   caller's own chat sessions;
//! - [`documents`]: `POST|GET /documents`, `DELETE /documents/{id}`,
//!   `GET /documents/jobs/{id}`, the tenant's searchable documents;
//! - [`search`]: `POST /search`, a cited answer from those documents;
//! - [`tools`]: `GET /tools`, `POST /tools/{name}`, `GET /audit`: the
//!   tools the caller may use, calling one, the tenant's audit log;
//! - [`tts`]: `POST /tts`, text to audio;
//! - [`playground`]: `GET /_playground` and `GET /_playground/log/{id}`,
//!   the developer page (development environments only).

pub mod chat;
pub mod dev_stream;
pub mod documents;
pub mod health;
pub mod keys;
pub mod me;
pub mod playground;
pub mod search;
pub mod sessions;
pub mod tools;
pub mod tts;
