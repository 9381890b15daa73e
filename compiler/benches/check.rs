//! Criterion benchmark of `tenants_compiler::compile` on generated corpora of
//! 100 and 1,000 valid tenants (half KDL, half JSONC; see
//! `examples/common/corpus.rs`, shared with `examples/bench_check.rs`, which
//! also covers 10,000 tenants and peak memory).
//!
//!   cargo bench -p tenants-compiler --bench check
//!
//! Under `cargo test --all-targets` criterion runs each benchmark once (test
//! mode), so the check of the result happens inside the measured closure
//! rather than in an extra compile.

#[path = "../examples/common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};

fn compile_corpus(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    // One compile of 1,000 tenants takes a few hundred milliseconds: flat
    // sampling with few samples keeps a full run to about half a minute.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for (n, secs) in [(100usize, 5u64), (1_000, 10)] {
        let corpus = corpus::generate(n).expect("generate corpus");
        group.throughput(Throughput::Elements(n as u64));
        group.measurement_time(Duration::from_secs(secs));
        group.bench_with_input(BenchmarkId::new("tenants", n), &corpus, |b, corpus| {
            b.iter(|| {
                let comp = tenants_compiler::compile(black_box(corpus.path())).expect("compile");
                assert!(
                    !comp.diagnostics.has_errors() && comp.tenant_files.len() == n,
                    "generated corpus of {n} tenants does not check clean"
                );
                comp
            })
        });
    }
    group.finish();
}

criterion_group!(benches, compile_corpus);
criterion_main!(benches);
