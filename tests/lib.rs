//! Workspace-level tests (`tests/tests/*.rs`): they drive the built `tenants`
//! binary the way a user or CI does, on copies of the example tenants.
