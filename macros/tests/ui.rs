//! trybuild: code using the generated types compiles (`ui/pass`), and each
//! misuse or broken tenants directory fails with the committed message
//! (`ui/fail/*.stderr`). Regenerate the snapshots with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
