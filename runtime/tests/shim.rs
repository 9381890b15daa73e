//! The wasm shim (runtime/src/wasm/shim.rs, compiled for wasm32 only)
//! packs the headers every request reads in a fixed order: its JavaScript
//! list (`NAMES`) must be [`Header::EVERY_REQUEST`], name for name; a
//! mismatch would hand one header's value to another. This reads the
//! JavaScript list out of the shim's source and compares.

use tenants_runtime::http::Header;

#[test]
fn the_javascript_names_are_the_headers_every_request_reads_in_order() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/wasm/shim.rs")).expect("read shim.rs");
    let start = src.find("const NAMES = [").expect("`const NAMES = [` in shim.rs") + "const NAMES = [".len();
    let end = src[start..].find(']').expect("the end of NAMES");
    let js: Vec<&str> = src[start..start + end]
        .split(',')
        .map(|n| n.trim().trim_matches('"'))
        .filter(|n| !n.is_empty())
        .collect();
    let rust: Vec<&str> = Header::EVERY_REQUEST.iter().map(|h| h.name()).collect();
    assert_eq!(js, rust);
    // Every request reads these; a name in neither list is read on demand.
    for h in [Header::Host, Header::TenantId, Header::RequestId, Header::Traceparent] {
        assert!(js.contains(&h.name()), "{} is read eagerly", h.name());
    }
}
