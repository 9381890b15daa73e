//! Operations: the library half of the commands that act on deployed
//! tenants or on the tenant files themselves, after (or around) the
//! pipeline. Each module is used by one `tenants` subcommand
//! (`compiler/src/cli/`), which owns the terminal output and exit codes.
//!
//! - [`generate`]: `tenants init`, `new`, `add binding`, `add env` — edit
//!   files in place, keeping comments and formatting;
//! - [`deploy`]: deploy jobs from the registry, `wrangler deploy` per tenant
//!   and environment, status and rollback;
//! - [`drift`]: generated configs against what the Cloudflare API says;
//! - [`diff`]: what a change to tenant files does to the generated configs;
//! - [`fix`]: `tenants check --fix`, the certain repairs applied in place;
//! - [`metrics`]: the Analytics Engine SQL API per tenant and route;
//! - [`audit`]: re-verifying a tenant's tool audit chain;
//! - [`ingest`]: documents from files and folders for a tenant's Worker;
//! - [`api_keys`]: API keys in the Worker's format.
//!
//! Invariants: nothing here runs unless the tenants directory checks clean;
//! a token is read from the environment variable the accounts file names,
//! never from a file, and is never printed.

pub mod api_keys;
pub mod audit;
pub mod deploy;
pub mod diff;
pub mod drift;
pub mod fix;
pub mod generate;
pub mod ingest;
pub mod metrics;
