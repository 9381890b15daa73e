//! docs/observability.md and docs/grafana/ai-platform.json stay true to
//! the data point layout: the doc's table names every position the Worker
//! writes, and every dashboard query reads only documented positions of
//! layout v1, for the chosen dataset, environment and tenants.

use std::path::Path;

use serde_json::Value;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

/// `blobN` / `doubleN` names used in a text.
fn columns(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["blob", "double"] {
        let mut rest = text;
        while let Some(i) = rest.find(kind) {
            let digits: String = rest[i + kind.len()..].chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                out.push(format!("{kind}{digits}"));
            }
            rest = &rest[i + kind.len()..];
        }
    }
    out
}

#[test]
fn the_layout_table_names_fifteen_blobs_and_fifteen_doubles() {
    let doc = read("docs/observability.md");
    let table = &doc[doc.find("## Metrics").unwrap()..doc.find("### Cost").unwrap()];
    for n in 1..=15 {
        assert!(table.contains(&format!("`blob{n}`")), "blob{n} is not documented");
        assert!(table.contains(&format!("`double{n}`")), "double{n} is not documented");
    }
    assert!(!table.contains("`blob16`") && !table.contains("`double16`"));
    assert!(read("runtime/src/app/metrics.rs").contains("pub const LAYOUT: &str = \"v1\";"));
}

#[test]
fn every_dashboard_query_reads_documented_positions_of_layout_v1() {
    let dash: Value = serde_json::from_str(&read("docs/grafana/ai-platform.json")).expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "dataset", "env", "tenant"]);
    for p in panels {
        let q = p["targets"][0]["query"].as_str().unwrap();
        let title = p["title"].as_str().unwrap();
        assert_eq!(p["targets"][0]["datasource"]["type"], "vertamedia-clickhouse-datasource", "{title}");
        for needle in [
            "FROM $dataset WHERE",
            "blob15 = 'v1'",
            "blob2 = '$env'",
            "index1 IN ($tenant)",
            "$__from",
            "$__to",
        ] {
            assert!(q.contains(needle), "{title}: `{needle}` missing from {q}");
        }
        for c in columns(q) {
            let n: u32 = c.trim_start_matches(|ch: char| ch.is_ascii_alphabetic()).parse().unwrap();
            assert!((1..=15).contains(&n), "{title}: {c} is outside the layout");
        }
        // Sampled data: every sum is weighted.
        assert!(!q.contains("count()"), "{title}: use SUM(_sample_interval), not count()");
    }
}

#[test]
fn the_documented_metrics_queries_are_the_ones_the_cli_sends() {
    let doc = read("docs/observability.md").split_whitespace().collect::<Vec<_>>().join(" ");
    let sql = tenants_compiler::ops::metrics::summary_sql("ai_platform_events", "prod", &["globex".into()], 86_400).unwrap();
    // The doc shows the query laid out on lines; compare word by word.
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let sql = norm(&sql);
    let select = &sql[..sql.find(" FROM ").unwrap()];
    assert!(doc.contains(select), "the summary query's columns differ from the doc:\n{select}");
    let ttft = norm(&tenants_compiler::ops::metrics::ttft_sql("ai_platform_events", "prod", &["globex".into()], 86_400).unwrap());
    assert!(
        doc.contains(&ttft[..ttft.find(" FROM ").unwrap()]),
        "the ttft query differs from the doc"
    );
}
