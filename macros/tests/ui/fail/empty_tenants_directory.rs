// A platform and an accounts file, but no tenant.
mod tenants {
    tenants_macros::include_tenants!("../fixtures/empty");
}

fn main() {}
