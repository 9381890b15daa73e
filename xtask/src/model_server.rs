//! The scripted model server (`xtask/scripted-model/server.mjs`): test and
//! local-development infrastructure that speaks the OpenAI-compatible API
//! with deterministic replies, token delays and failure injection. It is
//! never a feature: `cargo xtask dev` starts it only when no real
//! OpenAI-compatible server is named, and says so.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::net::{request, wait_ready, Guard};
use crate::toolchain::Toolchain;

pub struct ModelServer {
    pub port: u16,
    /// `http://127.0.0.1:PORT/v1`
    pub url: String,
    /// Held for its `Drop`: the server stops with the `ModelServer`.
    _guard: Guard,
}

impl ModelServer {
    /// Start it on a free loopback port; ready when its readiness line is
    /// in `log`.
    pub fn start(tc: &Toolchain, log: &Path, delay_ms: u32) -> Result<ModelServer, String> {
        let mut c = std::process::Command::new(&tc.node);
        c.arg(tc.root.join("xtask/scripted-model/server.mjs"))
            .args(["--port", "0", "--delay-ms", &delay_ms.to_string()]);
        let _ = std::fs::remove_file(log);
        let mut guard =
            Guard::spawn("scripted model server", c, log).map_err(|e| format!("cannot start the scripted model server: {e}"))?;
        let mut found: Option<(u16, String)> = None;
        wait_ready(&mut guard, Duration::from_secs(20), || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            found = text.lines().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["scripted_model_server"] == true).then(|| {
                    (
                        v["port"].as_u64().unwrap_or(0) as u16,
                        v["url"].as_str().unwrap_or_default().to_string(),
                    )
                })
            });
            found.is_some()
        })?;
        let (port, url) = found.ok_or("no readiness line")?;
        Ok(ModelServer { port, url, _guard: guard })
    }

    /// The server's counters (`GET /__scripted/stats`).
    pub fn stats(&self) -> Result<Value, String> {
        let r = request(self.port, "GET", "/__scripted/stats", &[("host", "127.0.0.1")], b"").map_err(|e| e.to_string())?;
        r.json()
    }
}
