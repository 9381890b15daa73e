// acme.kdl gives no KV namespace for `CACHE` in stage.
mod tenants {
    tenants_macros::include_tenants!("../fixtures/missing-resource");
}

fn main() {}
