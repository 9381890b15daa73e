// `CACHE` is declared; `CAHCE` is not: a compile error naming the accessor.
mod tenants {
    tenants_macros::include_tenants!("../../../../tenants");
}

fn get(env: &tenants::Env) -> &worker::KvStore {
    env.cahce()
}

fn main() {}
