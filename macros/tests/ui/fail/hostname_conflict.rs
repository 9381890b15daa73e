// globex.jsonc claims acme's stage host.
mod tenants {
    tenants_macros::include_tenants!("../fixtures/host-conflict");
}

fn main() {}
