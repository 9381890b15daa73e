mod tenants {
    tenants_macros::include_tenants!("../fixtures/does-not-exist");
}

fn main() {}
