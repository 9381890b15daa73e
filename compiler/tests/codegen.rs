//! Golden files of the code `include_tenants!` generates for the example
//! tenants (typify's pattern): the expansion, formatted with prettyplease,
//! is a committed snapshot, so every change to the generated code shows in
//! review. That it compiles and behaves is tested in `macros/tests/`.

use std::path::Path;

use tenants_compiler::emit::codegen;

#[test]
fn generated_code_for_the_examples_matches_the_golden_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants");
    let comp = tenants_compiler::compile(&root).unwrap();
    let model = comp.model.expect("the examples are valid");
    let tracked: Vec<String> = ["platform.kdl", "accounts.jsonc", "acme.kdl", "globex.jsonc", "initech.json"]
        .iter()
        .map(|f| format!("tenants/{f}"))
        .collect();
    let tokens = codegen::expand(&model, &tracked);
    let file: syn::File = syn::parse2(tokens).expect("the generated code parses as a Rust file");
    insta::assert_snapshot!("examples_expanded", prettyplease::unparse(&file));
}

#[test]
fn generated_code_is_deterministic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenants");
    let a = tenants_compiler::compile(&root).unwrap().model.unwrap();
    let b = tenants_compiler::compile(&root).unwrap().model.unwrap();
    assert_eq!(codegen::expand(&a, &[]).to_string(), codegen::expand(&b, &[]).to_string());
}

#[test]
fn variant_names_are_camel_case_and_never_clash() {
    assert_eq!(codegen::variant_name("acme"), "Acme");
    assert_eq!(codegen::variant_name("acme-eu-2"), "AcmeEu2");
    let v = codegen::variants(&["a-b1", "a-b-1", "acme"]);
    let names: Vec<String> = v.iter().map(|i| i.to_string()).collect();
    assert_eq!(names.len(), 3);
    assert_ne!(names[0], names[1], "{names:?}");
    assert_eq!(names[2], "Acme");
}
