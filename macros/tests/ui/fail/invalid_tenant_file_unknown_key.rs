// acme.kdl has `max-age` in `sessions`: the tenant compiler's diagnostic.
mod tenants {
    tenants_macros::include_tenants!("../fixtures/unknown-key");
}

fn main() {}
