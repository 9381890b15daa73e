//! Tenancy: which tenant a request belongs to ([`resolve`], fail closed),
//! the one place storage names are made ([`keys`]), and which browser
//! origins may call the tenant ([`cors`]).

pub mod cors;
pub mod keys;
pub mod resolve;
