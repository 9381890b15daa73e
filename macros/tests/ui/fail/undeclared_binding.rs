// The platform file declares no `SEARCH_CACHE` binding.
mod tenants {
    tenants_macros::include_tenants!("../../../../tenants");
}

fn get(env: &tenants::Env) -> &worker::KvStore {
    env.search_cache()
}

fn main() {}
