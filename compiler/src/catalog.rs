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

pub const CATALOG_JSON: &str = include_str!("../data/workers-ai-models.json");

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
