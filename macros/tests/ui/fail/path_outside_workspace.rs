// Up five levels from tests/ui/fail is the workspace's parent directory.
mod tenants {
    tenants_macros::include_tenants!("../../../../..");
}

fn main() {}
