// `hooli` is not a tenant file: no such variant.
mod tenants {
    tenants_macros::include_tenants!("../../../../tenants");
}

fn main() {
    let _ = tenants::TenantId::Hooli;
}
