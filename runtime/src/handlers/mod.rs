//! Handlers: they take a resolved [`crate::resolve::TenantCtx`] (which only
//! the resolver can build) and return data or a failure.

pub mod health;
