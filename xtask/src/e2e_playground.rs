//! The developer playground in a real browser: Debian's Chromium driven by
//! `puppeteer-core` (`xtask/e2e/playground.test.mjs`) against acme's
//! development Worker on local workerd — a chat streams into the page, a
//! search shows its cited sources, the tools panel has its forms, each
//! call's request id links to its log line; screenshots are saved in
//! `target/e2e/playground/`. And the stage deployment answers 404 on the
//! playground's paths, as for any unknown path.

use std::process::Command;

use serde_json::json;

use crate::e2e::{check, send, Dev, Tally};
use crate::toolchain::Toolchain;

pub fn cases(acme: &Dev, stage: Option<&Dev>, tc: &Toolchain, tally: &mut Tally) {
    tally.case(
        "playground: chat streams into the page and a search shows its sources, in Chromium",
        browser_case(acme, tc),
    );
    if let Some(s) = stage {
        tally.case("playground: not served in stage (404 as for an unknown path)", stage_case(s));
    }
}

fn browser_case(acme: &Dev, tc: &Toolchain) -> Result<(), String> {
    // Something to find: a refund document in acme's local index.
    let doc = json!({"documents": [{"id": "playground-refunds", "title": "Refund policy",
        "text": "Refund policy\n\nAcme refunds any device returned within 30 days of delivery. Refunds reach the original payment method within five business days."}]})
    .to_string();
    let len = doc.len().to_string();
    let host = acme.tenant.host.as_str();
    let r = send(
        acme.port,
        "POST",
        "/documents",
        &[
            ("host", host),
            ("x-user-id", "playground-admin"),
            ("x-user-roles", "admin"),
            ("content-type", "application/json"),
            ("content-length", &len),
        ],
        doc.as_bytes(),
    )?;
    check(r.status == 200 || r.status == 202, || {
        format!("ingest: {} {}", r.status, String::from_utf8_lossy(&r.body))
    })?;
    let shots = tc.root.join("target/e2e/playground");
    let _ = std::fs::remove_dir_all(&shots);
    let url = format!("http://{host}:{}/_playground", acme.port);
    let out = Command::new(&tc.node)
        .arg(tc.root.join("xtask/e2e/playground.test.mjs"))
        .env("PLAYGROUND_URL", &url)
        .env("SCREENSHOT_DIR", &shots)
        .env("SEARCH_QUERY", "What is the refund policy?")
        // Slow tokens (the scripted model server's directive), so that the
        // page is seen to grow.
        .env(
            "CHAT_MESSAGE",
            "[[scripted:delay=40]] Hello from the playground test. Tell me about refunds.",
        )
        .current_dir(&tc.root)
        .output()
        .map_err(|e| format!("node: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    check(out.status.success(), || format!("{url}: {}", text.trim()))?;
    for f in ["chat.png", "search.png", "tools.png"] {
        let ok = std::fs::metadata(shots.join(f)).is_ok_and(|m| m.len() > 10_000);
        check(ok, || format!("screenshot {f} missing or empty in {}", shots.display()))?;
    }
    eprintln!(
        "    playground: {} (screenshots in {})",
        text.lines().last().unwrap_or("").trim(),
        shots.display()
    );
    Ok(())
}

fn stage_case(stage: &Dev) -> Result<(), String> {
    let host = stage.tenant.host.as_str();
    for path in ["/_playground", "/_playground/log/0123456789abcdef0123456789abcdef"] {
        let r = send(stage.port, "GET", path, &[("host", host)], b"")?;
        let v = r.json()?;
        check(r.status == 404 && v["error"]["code"] == "not_found", || {
            format!("{path}: {} {v}", r.status)
        })?;
    }
    Ok(())
}
