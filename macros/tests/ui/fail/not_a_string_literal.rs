mod tenants {
    tenants_macros::include_tenants!(tenants);
}

fn main() {}
