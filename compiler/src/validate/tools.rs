//! Tools a tenant enables (`tenant::tool::*`) and the labels of a tool.

use super::*;

/// The tools a tenant enables: offered by the platform, granted to roles the
/// platform allows for them; sorted by name.
pub(super) fn check_tools(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant) -> Vec<res::Tool> {
    if !p.complete {
        // Without the platform's tools: what each tool's settings say on their own.
        for tool in &t.tools {
            tool.roles.iter().for_each(|r| _ = role_name(cx, r));
            check_tool_labels(cx, tool);
        }
        return Vec::new();
    }
    let tool_names: Vec<&str> = p.resolved.tools.iter().map(|t| t.name.as_str()).collect();
    let mut tools = Vec::new();
    for tool in &t.tools {
        let Some(def) = p.resolved.tools.iter().find(|d| d.name == tool.name.value) else {
            let mut d = Diagnostic::error(
                "tenant::tool::unknown",
                format!("unknown tool `{}`", tool.name.value),
                tool.name.span,
                "not offered by the platform",
            );
            d = match did_you_mean(&tool.name.value, tool_names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the platform offers: {}", tool_names.join(", "))),
            };
            cx.err(d);
            continue;
        };
        for r in &tool.roles {
            if !role_name(cx, r) {
                continue;
            }
            if !def.roles.is_empty() && !def.roles.contains(&r.value) {
                let mut d = Diagnostic::error(
                    "tenant::tool::role",
                    format!("tool `{}` cannot be granted to role `{}`", def.name, r.value),
                    r.span,
                    "role not allowed for this tool",
                );
                d = match did_you_mean(&r.value, def.roles.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the platform allows: {}", def.roles.join(", "))),
                };
                cx.err(d);
            }
        }
        let mut roles: Vec<String> = tool.roles.iter().map(|r| r.value.clone()).collect();
        roles.sort();
        roles.dedup();
        tools.push(res::Tool {
            name: def.name.clone(),
            roles,
            timeout_ms: tool.timeout_ms.as_ref().map(|t| t.value as u32),
            labels: check_tool_labels(cx, tool),
        });
    }
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// Whether a granted role is a valid role name (reported if not).
fn role_name(cx: &mut Cx<'_>, r: &Sp<String>) -> bool {
    if is_slug(&r.value, 32) {
        return true;
    }
    cx.err(
        Diagnostic::error(
            "tenant::tool::role",
            format!("`{}` is not a valid role name", r.value),
            r.span,
            "invalid role",
        )
        .with_help("lowercase letters, digits and dashes, e.g. \"admin\""),
    );
    false
}

/// The labels of a tenant's tool: only `classify-intent` takes them, and
/// needs two or more (each 1–64 characters, distinct, at most 32).
fn check_tool_labels(cx: &mut Cx<'_>, tool: &RawTool) -> Vec<String> {
    let labelled = tool.name.value == crate::validate::catalog::LABELLED_TOOL;
    if !labelled {
        if let Some(at) = tool.labels_at {
            cx.err(
                Diagnostic::error(
                    "tenant::tool::labels",
                    format!("tool `{}` takes no labels", tool.name.value),
                    at,
                    "not a setting of this tool",
                )
                .with_help(format!(
                    "only `{}` takes labels; remove them",
                    crate::validate::catalog::LABELLED_TOOL
                )),
            );
        }
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for l in &tool.labels {
        let v = &l.value;
        if secret_check_with(
            cx,
            l,
            &format_args!("a label of `{}`", tool.name.value),
            false,
            false,
            FREE_TEXT_HELP,
        ) {
            continue;
        }
        let bad = if v.trim().is_empty() || v.chars().count() > 64 {
            Some((format!("invalid label `{v}`"), "a label is 1–64 characters"))
        } else if v.trim() != v || v.chars().any(char::is_control) {
            Some((
                format!("invalid label `{v}`"),
                "a label has no leading or trailing spaces and no control characters",
            ))
        } else if out.contains(v) {
            Some((format!("label `{v}` is given twice"), "list each label once"))
        } else {
            None
        };
        match bad {
            Some((msg, help)) => cx.err(Diagnostic::error("tenant::tool::labels", msg, l.span, "invalid label").with_help(help)),
            None => out.push(v.clone()),
        }
    }
    if out.len() > 32 {
        cx.err(
            Diagnostic::error(
                "tenant::tool::labels",
                format!("`{}` takes at most 32 labels; {} given", tool.name.value, out.len()),
                tool.labels_at.unwrap_or(tool.name.span),
                "too many labels",
            )
            .with_help("merge related intents"),
        );
    } else if out.len() < 2 && tool.labels.len() == out.len() {
        let help = cx.syntax(
            tool.name.span,
            "give the intents to choose from: `tool \"classify-intent\" { labels \"billing\" \"support\" \"sales\" }`".to_string(),
            "give the intents to choose from: `\"classify-intent\": { \"labels\": [\"billing\", \"support\", \"sales\"] }`".to_string(),
        );
        cx.err(
            Diagnostic::error(
                "tenant::tool::labels",
                format!("`{}` needs at least two labels", tool.name.value),
                tool.labels_at.unwrap_or(tool.name.span),
                if out.is_empty() { "labels missing" } else { "one label" },
            )
            .with_help(help),
        );
    }
    out
}
