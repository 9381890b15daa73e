//! The wasm shim (runtime/src/wasm/shim.rs, compiled for wasm32 only)
//! packs the headers every request reads in a fixed order that its
//! JavaScript (`NAMES`) and its Rust (`EAGER`) must agree on; a mismatch
//! would hand one header's value to another. This reads both lists out of
//! the source and compares them with the headers' names.

use tenants_runtime::http::Header;

fn shim() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/wasm/shim.rs")).expect("read shim.rs")
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s.find(start).unwrap_or_else(|| panic!("`{start}` not in shim.rs")) + start.len();
    let j = s[i..].find(end).unwrap_or_else(|| panic!("no `{end}` after `{start}`"));
    &s[i..i + j]
}

#[test]
fn the_javascript_names_and_the_rust_eager_headers_are_the_same_list() {
    let src = shim();
    let js: Vec<String> = between(&src, "const NAMES = [", "]")
        .split(',')
        .map(|n| n.trim().trim_matches('"').to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let rust: Vec<String> = between(&src, "const EAGER: [Header; ", "];")
        .split_once('[')
        .expect("EAGER's list")
        .1
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let variant = v.strip_prefix("Header::").unwrap_or_else(|| panic!("`{v}` is not a Header"));
            Header::ALL
                .iter()
                .find(|h| format!("{h:?}") == variant)
                .unwrap_or_else(|| panic!("no Header::{variant}"))
                .name()
                .to_string()
        })
        .collect();
    assert_eq!(js, rust);
    // Every request reads these; a name in neither list is read on demand.
    for h in [Header::Host, Header::TenantId, Header::RequestId, Header::Traceparent] {
        assert!(js.iter().any(|n| n == h.name()), "{} is read eagerly", h.name());
    }
}
