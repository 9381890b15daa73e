//! The Workers AI model catalog shipped with the compiler
//! (`compiler/data/workers-ai-models.json`; its `source` field says where it
//! was taken from), plus the custom models a platform file adds.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    pub task: String,
    #[serde(default)]
    pub dimensions: Option<u32>,
    #[serde(default)]
    pub context_window: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct CatalogFile {
    #[allow(dead_code)]
    source: String,
    models: Vec<ModelInfo>,
}

/// The tools the Worker implements (`runtime/src/tools`), by name, sorted:
/// a platform file may list only these (`platform::tool::unimplemented`).
/// The runtime's registry is tested to implement exactly this list.
pub const TOOLS: &[&str] = &["classify-intent", "extract-entities", "ingest-docs", "summarize", "tag-and-chunk"];

/// The one tool a tenant gives `labels` to.
pub const LABELLED_TOOL: &str = "classify-intent";

pub const CATALOG_JSON: &str = include_str!("../../data/workers-ai-models.json");

#[derive(Debug, Clone)]
pub struct Catalog {
    by_id: HashMap<String, ModelInfo>,
}

impl Catalog {
    /// The shipped catalog. The data file is tested to parse, so this cannot fail at run time.
    pub fn builtin() -> Catalog {
        let file: CatalogFile = serde_json::from_str(CATALOG_JSON).expect("shipped model catalog is valid JSON (tested)");
        Catalog {
            by_id: file.models.into_iter().map(|m| (m.id.clone(), m)).collect(),
        }
    }
    pub fn add(&mut self, m: ModelInfo) {
        self.by_id.insert(m.id.clone(), m);
    }
    pub fn get(&self, id: &str) -> Option<&ModelInfo> {
        self.by_id.get(id)
    }
    pub fn ids_for_task<'a>(&'a self, task: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.by_id.values().filter(move |m| m.task == task).map(|m| m.id.as_str())
    }
}

/// The Workers AI cost table (`compiler/data/workers-ai-pricing.json`:
/// Cloudflare's published per-model prices, with its source and date).
pub const PRICING_JSON: &str = include_str!("../../data/workers-ai-pricing.json");

/// One model's published price. Token-priced models have the `*_m_*`
/// fields (per million tokens; embeddings and rerankers input only);
/// others (`audio-minute`, `1k-characters`) the `*_unit` fields.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ModelPrice {
    pub id: String,
    pub unit: String,
    #[serde(default)]
    pub neurons_per_m_input: f64,
    #[serde(default)]
    pub neurons_per_m_output: f64,
    #[serde(default)]
    pub usd_per_m_input: f64,
    #[serde(default)]
    pub usd_per_m_output: f64,
    #[serde(default)]
    pub neurons_per_unit: f64,
    #[serde(default)]
    pub usd_per_unit: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Pricing {
    /// Where the prices were taken from.
    pub source: String,
    /// When (`YYYY-MM-DD`).
    pub retrieved: String,
    /// Workers AI bills neurons at this rate.
    pub usd_per_1000_neurons: f64,
    pub models: Vec<ModelPrice>,
}

impl Pricing {
    /// The shipped table (tested to parse).
    pub fn builtin() -> Pricing {
        serde_json::from_str(PRICING_JSON).expect("shipped pricing table is valid JSON (tested)")
    }

    /// A model's price, if published.
    pub fn get(&self, id: &str) -> Option<&ModelPrice> {
        self.models.iter().find(|m| m.id == id)
    }

    /// (neurons, USD) of `tokens_in` + `tokens_out` of a token-priced model.
    pub fn token_cost(&self, id: &str, tokens_in: u64, tokens_out: u64) -> Option<(f64, f64)> {
        let p = self.get(id).filter(|p| p.unit == "tokens")?;
        let (i, o) = (tokens_in as f64 / 1e6, tokens_out as f64 / 1e6);
        Some((
            i * p.neurons_per_m_input + o * p.neurons_per_m_output,
            i * p.usd_per_m_input + o * p.usd_per_m_output,
        ))
    }
}

/// Catalog models close to an unknown model id, by family, version and
/// size: `llama-3.3-70b-instruct` → `@cf/meta/llama-3.3-70b-instruct-fp8-fast`
/// first. The written id may lack the `@cf/<author>/` prefix or be a
/// Hugging Face id (`meta-llama/Llama-3.3-70B-Instruct`). At most three,
/// best first; none when nothing shares the family.
pub fn closest_models<'a>(written: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let w = model_words(written);
    let Some(family) = w.first().cloned() else {
        return vec![];
    };
    let mut scored: Vec<(i32, &str)> = candidates
        .filter_map(|c| {
            let cw = model_words(c);
            if cw.first() != Some(&family) {
                return None;
            }
            // Shared words (version, size, variant), then the fewest extra ones.
            let shared = w.iter().filter(|x| cw.contains(x)).count() as i32;
            let extra = cw.iter().filter(|x| !w.contains(x)).count() as i32;
            let prefix = i32::from(last_segment(c).starts_with(&last_segment(written).to_ascii_lowercase()));
            Some((shared * 10 + prefix * 5 - extra, c))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// `Llama-3.3-70B-Instruct` → `["llama", "3.3", "70b", "instruct"]`: the
/// lowercase words of an id's last segment, family first.
fn model_words(id: &str) -> Vec<String> {
    last_segment(id)
        .to_ascii_lowercase()
        .split(['-', '_'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A Hugging Face style id (`owner/Model-Name`), not a Workers AI one.
pub fn looks_like_hugging_face_id(id: &str) -> bool {
    !id.starts_with('@') && id.matches('/').count() == 1 && !id.contains(' ')
}

#[cfg(test)]
mod pricing_tests {
    use super::*;

    #[test]
    fn the_pricing_table_parses_and_every_priced_model_is_in_the_catalog() {
        let p = Pricing::builtin();
        let c = Catalog::builtin();
        assert!(p.source.starts_with("https://developers.cloudflare.com/workers-ai/"));
        assert_eq!(p.usd_per_1000_neurons, 0.011);
        assert!(p.models.len() >= 20);
        for m in &p.models {
            assert!(c.get(&m.id).is_some(), "{} is priced but not in the catalog", m.id);
            match m.unit.as_str() {
                "tokens" => assert!(m.usd_per_m_input > 0.0 && m.neurons_per_m_input > 0.0, "{}", m.id),
                _ => assert!(m.usd_per_unit > 0.0 && m.neurons_per_unit > 0.0, "{}", m.id),
            }
            // Neurons and USD agree with the neuron rate (published USD is
            // rounded; small embedding prices by up to ~15%).
            let (n, usd) = match m.unit.as_str() {
                "tokens" => (m.neurons_per_m_input, m.usd_per_m_input),
                _ => (m.neurons_per_unit, m.usd_per_unit),
            };
            let implied = n * p.usd_per_1000_neurons / 1000.0;
            assert!(
                (implied - usd).abs() / usd < 0.15,
                "{}: {n} neurons is ${implied}, published ${usd}",
                m.id
            );
        }
    }

    #[test]
    fn token_cost_is_input_and_output_at_their_rates() {
        let p = Pricing::builtin();
        // llama-3.1-8b-instruct: $0.282 / $0.827 per M; 25608 / 75147 neurons per M.
        let (n, usd) = p.token_cost("@cf/meta/llama-3.1-8b-instruct", 1_000_000, 500_000).unwrap();
        assert!((usd - (0.282 + 0.4135)).abs() < 1e-9, "{usd}");
        assert!((n - (25608.0 + 37573.5)).abs() < 1e-6, "{n}");
        assert_eq!(p.token_cost("@cf/openai/whisper", 1, 1), None, "not token-priced");
        assert_eq!(p.token_cost("my-local-model", 1, 1), None);
    }
}
