//! # tenants-macros
//!
//! Proc-macros that turn the tenant files into Rust types for the runtime
//! Worker. This crate only emits tokens: all parsing, validation and code
//! generation lives in `tenants-compiler` (`emit/codegen.rs`), so the macro and
//! the CLI report the same diagnostics.
//!
//! `include_tenants!("../../tenants")` expands, where it is invoked, to the
//! `TenantId` and `EnvName` enums, static per-tenant config (`TENANTS`),
//! the baked host → tenant routing table (`EnvName::resolve_host`) and the
//! typed `Env` (one workers-rs accessor per platform binding); see
//! docs/generated-code.md. The path is relative to the file that invokes
//! the macro (like `include_str!`) and must stay inside the workspace.
//!
//! Invariants:
//! - any problem is one `compile_error!` spanned on the path argument: a
//!   missing directory, a path outside the workspace, a directory without
//!   tenant files, or invalid tenant files (with the rendered diagnostics:
//!   file, line:col, label, help);
//! - every input file is `include_bytes!`-ed by the expansion, so editing
//!   one recompiles the invoking crate; new or deleted files are seen
//!   through the invoking crate's build script watching the directory
//!   (`runtime/build.rs`).

use proc_macro::TokenStream;
use quote::quote_spanned;

/// The directory holding `Cargo.lock` above `start`: the workspace root.
fn workspace_of(start: &std::path::Path) -> Option<std::path::PathBuf> {
    start.ancestors().find(|a| a.join("Cargo.lock").is_file()).map(|p| p.to_path_buf())
}

#[proc_macro]
pub fn include_tenants(input: TokenStream) -> TokenStream {
    let lit = match syn::parse::<syn::LitStr>(input) {
        Ok(l) => l,
        Err(_) => {
            return quote_spanned!(proc_macro2::Span::call_site()=>
                ::core::compile_error!("include_tenants! takes one string literal: the tenants directory, e.g. include_tenants!(\"../../tenants\")");
            )
            .into()
        }
    };
    let rel = lit.value();
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // Relative to the invoking file, as include_str! is.
    let base = proc_macro::Span::call_site()
        .local_file()
        .and_then(|f| f.parent().map(|p| p.to_path_buf()))
        // A relative file path is relative to rustc's working directory.
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            }
        })
        .unwrap_or_else(|| manifest.clone());
    // The runtime's build script may point the build at another tenants
    // directory (`TENANTS_DIR`, used by the end-to-end suite for its
    // generated test tenants); it passes the absolute path through rustc's
    // environment, so a change recompiles the crate.
    let dir = match std::env::var("TENANTS_SOURCE_DIR") {
        Ok(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => base.join(&rel),
    };
    let workspace = workspace_of(&base).or_else(|| workspace_of(&manifest)).unwrap_or(manifest);
    match tenants_compiler::emit::codegen::expand_dir(&dir, &workspace, &rel) {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let msg = e.0;
            quote_spanned!(lit.span()=> ::core::compile_error!(#msg);).into()
        }
    }
}
