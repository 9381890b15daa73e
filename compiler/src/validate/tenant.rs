//! One tenant file: its identity (`tenant::id::*`, `tenant::account::*`,
//! `tenant::name::*`) and environments (`tenant::env::*`) here, each other
//! concern in its own module (hosts, resources, secrets, auth, AI, RAG,
//! sessions, tools), then the resolved tenant with defaults applied. A
//! tenant resolves only when none of its rules reported an error.

use super::*;

/// Checks one tenant file against the platform (and the accounts, when the
/// accounts file could be read); the resolved tenant when nothing was wrong.
pub(super) fn check_tenant(
    cx: &mut Cx<'_>,
    p: &PlatformInfo,
    accounts: Option<&BTreeMap<String, (res::Account, Span)>>,
    t: &RawTenant,
) -> Option<res::Tenant> {
    let before = cx.diags.error_count();
    check_identity(cx, accounts, t);
    let header_policy = match t.header_policy.as_ref().map(|h| h.value.as_str()) {
        Some("always") => res::HeaderPolicy::Always,
        Some("dev-only") => res::HeaderPolicy::DevOnly,
        _ => res::HeaderPolicy::Never,
    };
    let tenant_vars = secrets::check_vars_and_secrets(cx, p, t);

    // Auth: every block on its own, then per environment below.
    let tenant_auth = t.auth.as_ref().map(|a| auth::check_block(cx, p, a));
    let env_auths: Vec<Option<res::Auth>> = t
        .envs
        .iter()
        .map(|e| e.auth.as_ref().map(|a| auth::check_block(cx, p, a)))
        .collect();

    // Environments.
    let account_id = accounts
        .zip(t.account.as_ref())
        .and_then(|(a, k)| a.get(&k.value))
        .map(|(a, _)| a.account_id.clone())
        .unwrap_or_default();
    check_env_names(cx, p, t);
    // Each platform environment with the tenant's settings for it; when the
    // platform's environments are unknown (its file is broken), every
    // environment the tenant configures, checked for what does not need them.
    let to_check: Vec<(std::borrow::Cow<'_, res::Environment>, usize)> = if p.resolved.environments.is_empty() {
        t.envs
            .iter()
            .enumerate()
            .map(|(i, e)| (std::borrow::Cow::Owned(unknown_environment(e)), i))
            .collect()
    } else {
        p.resolved
            .environments
            .iter()
            .filter_map(|pe| match t.envs.iter().position(|e| e.name.value == pe.name) {
                Some(i) => Some((std::borrow::Cow::Borrowed(pe), i)),
                None => {
                    env_missing(cx, t, pe);
                    None
                }
            })
            .collect()
    };
    let mut envs = Vec::new();
    for (pe, env_index) in &to_check {
        // The environment's own block replaces the tenant-level one.
        let auth = if cx.resolve {
            env_auths[*env_index].clone().or_else(|| tenant_auth.clone()).unwrap_or_default()
        } else {
            res::Auth::default()
        };
        let scope = EnvScope {
            p,
            pe,
            e: &t.envs[*env_index],
            t,
            header_policy,
            account_id: &account_id,
            tenant_vars: &tenant_vars,
        };
        envs.extend(check_env(cx, &scope, auth));
    }

    // AI: models, routes, budgets (each environment's provider is checked above).
    let ai_out = t.ai.as_ref().and_then(|ai| ai::check_ai(cx, p, t, ai));
    let rag = rag::check_rag(cx, p, t);
    // Sessions: the retention, in days or in seconds.
    let sessions_out = sessions::check_sessions(cx, &t.sessions);
    let tools = tools::check_tools(cx, p, t);
    if cx.diags.error_count() > before || !cx.resolve {
        return None;
    }
    resolve(t, header_policy, envs, ai_out?, rag, sessions_out?, tools)
}

/// The id (a slug, equal to the file name), the account (declared in the
/// accounts file) and the display name.
fn check_identity(cx: &mut Cx<'_>, accounts: Option<&BTreeMap<String, (res::Account, Span)>>, t: &RawTenant) {
    let file = cx.sources.file(t.file);
    let stem = file.path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
    if let Some(id) = &t.id {
        if !is_slug(&id.value, 32) {
            cx.err(
                Diagnostic::error(
                    "tenant::id::invalid",
                    format!("`{}` is not a valid tenant id", id.value),
                    id.span,
                    "invalid id",
                )
                .with_help("lowercase letters, digits and single dashes, at most 32 characters, starting with a letter"),
            );
        } else if id.value != stem {
            cx.err(
                Diagnostic::error(
                    "tenant::id::file-name",
                    format!(
                        "tenant `{}` is declared in a file named `{}`",
                        id.value,
                        file.path.file_name().and_then(|s| s.to_str()).unwrap_or("")
                    ),
                    id.span,
                    "id differs from the file name",
                )
                .with_help(format!(
                    "rename the file to `{}.{}` or change the id to `{stem}`",
                    id.value,
                    file.path.extension().and_then(|s| s.to_str()).unwrap_or("kdl")
                )),
            );
        }
    }
    if let (Some(a), Some(accounts)) = (&t.account, accounts) {
        if !accounts.contains_key(&a.value) {
            let mut d = Diagnostic::error(
                "tenant::account::unknown",
                format!("unknown account `{}`", a.value),
                a.span,
                "not in the accounts file",
            );
            d = match did_you_mean(&a.value, accounts.keys().map(String::as_str)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "declare it in the accounts file; known accounts: {}",
                    accounts.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            };
            cx.err(d);
        }
    }
    if let Some(n) = &t.name {
        let len = n.value.chars().count();
        let leaked = secret_check_with(cx, n, &"the display name", false, false, FREE_TEXT_HELP);
        if !leaked && (len > 200 || n.value.trim().is_empty()) {
            cx.err(
                Diagnostic::error(
                    "tenant::name::invalid",
                    "a display name has 1 to 200 characters",
                    n.span,
                    format!("{len} characters"),
                )
                .with_help("e.g. \"Acme Corp\""),
            );
        }
    }
}

/// Environments the tenant configures that the platform does not declare.
fn check_env_names(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant) {
    let env_names: Vec<&str> = p.resolved.environments.iter().map(|e| e.name.as_str()).collect();
    for e in t.envs.iter().filter(|_| p.complete) {
        if !env_names.contains(&e.name.value.as_str()) {
            let mut d = Diagnostic::error(
                "tenant::env::unknown",
                format!("unknown environment `{}`", e.name.value),
                e.name.span,
                "not declared in the platform file",
            );
            d = match did_you_mean(&e.name.value, env_names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the platform declares: {}", env_names.join(", "))),
            };
            cx.err(d);
        }
    }
}

/// A tenant environment as far as it is known without the platform's
/// declaration: a development environment, so that no rule that holds
/// only outside development (auth `none`, say) fires on a guess.
fn unknown_environment(e: &RawTenantEnv) -> res::Environment {
    res::Environment {
        name: e.name.value.clone(),
        development: true,
        workers_dev: false,
    }
}

/// A platform environment the tenant has no settings for.
fn env_missing(cx: &mut Cx<'_>, t: &RawTenant, pe: &res::Environment) {
    // Without any `envs` the decoder already reported the missing key.
    if let Some(envs_span) = t.envs_span {
        let at = if t.envs.is_empty() {
            envs_span
        } else {
            t.id.as_ref().map(|i| i.span).unwrap_or(Span {
                end: t.span.start + 1,
                ..t.span
            })
        };
        let help = cx.syntax(
            at,
            format!("add `env \"{}\" {{ host \"…\" … }}` with its hosts and binding resources", pe.name),
            format!("add `\"{}\": {{ \"hosts\": [\"…\"], … }}` under `envs`", pe.name),
        );
        cx.err(
            Diagnostic::error(
                "tenant::env::missing",
                format!("no settings for environment `{}`", pe.name),
                at,
                format!("`{}` missing", pe.name),
            )
            .with_help(help),
        );
    }
}

/// What checking one environment of a tenant needs to know.
struct EnvScope<'a> {
    p: &'a PlatformInfo,
    pe: &'a res::Environment,
    e: &'a RawTenantEnv,
    t: &'a RawTenant,
    header_policy: res::HeaderPolicy,
    account_id: &'a str,
    tenant_vars: &'a BTreeMap<String, String>,
}

/// One environment: hosts, resources, vars, auth and AI provider; `None`
/// when it has no usable model provider (reported).
fn check_env(cx: &mut Cx<'_>, s: &EnvScope<'_>, auth: res::Auth) -> Option<res::TenantEnv> {
    let EnvScope { p, pe, e, t, .. } = *s;
    let (hosts, cors_origins) = hosts::check_env_hosts(cx, pe, e);
    let resources = resources::check_env_resources(cx, p, t, pe, e);
    let mut vars = if cx.resolve { s.tenant_vars.clone() } else { BTreeMap::new() };
    for (k, v) in &e.vars {
        secrets::check_var(cx, p, k, v);
        if cx.resolve {
            vars.insert(k.value.clone(), v.value.clone());
        }
    }
    auth::check_env(cx, pe, e, t);
    let ai_provider = ai::check_provider(cx, p, pe, e, t, s.account_id)?;
    let vector_index = vector_index(&p.resolved.bindings, pe, &resources);
    let ingest_queue = resources
        .iter()
        .find(|r| matches!(r.kind, res::ResourceKind::Queue { .. }))
        .map(|r| r.binding.clone());
    Some(res::TenantEnv {
        name: pe.name.clone(),
        hosts,
        cors_origins,
        header_allowed: match s.header_policy {
            res::HeaderPolicy::Always => true,
            res::HeaderPolicy::DevOnly => pe.development,
            res::HeaderPolicy::Never => false,
        },
        resources,
        vars,
        auth,
        ai_provider,
        vector_index,
        ingest_queue,
        playground: pe.development.then(|| PLAYGROUND_PATH.to_string()),
    })
}

/// The resolved tenant: every value as given or its default.
fn resolve(
    t: &RawTenant,
    header_policy: res::HeaderPolicy,
    envs: Vec<res::TenantEnv>,
    ai: res::Ai,
    rag: res::Rag,
    sessions: res::Sessions,
    tools: Vec<res::Tool>,
) -> Option<res::Tenant> {
    let limit = |scope: &str, default: u32| {
        let r = t.rate_limits.iter().find(|r| r.scope.value == scope);
        res::RateLimit {
            limit: r.and_then(|r| r.limit.as_ref()).map(|l| l.value as u32).unwrap_or(default),
            per: match r.and_then(|r| r.per.as_ref()).map(|p| p.value.as_str()) {
                Some("second") => res::Window::Second,
                Some("hour") => res::Window::Hour,
                Some("day") => res::Window::Day,
                _ => res::Window::Minute,
            },
        }
    };
    let mut secrets: Vec<String> = t.secrets.iter().map(|s| s.value.clone()).collect();
    secrets.sort();
    Some(res::Tenant {
        id: t.id.as_ref()?.value.clone(),
        name: t.name.as_ref()?.value.clone(),
        account: t.account.as_ref()?.value.clone(),
        header_policy,
        envs,
        ai,
        rag,
        sessions,
        rate_limits: res::RateLimits {
            tenant: limit("tenant", defaults::TENANT_LIMIT),
            user: limit("user", defaults::USER_LIMIT),
            ip: limit("ip", defaults::IP_LIMIT),
        },
        cache: res::Cache {
            search_ttl: t.cache.search_ttl.as_ref().map(|c| c.value as u32).unwrap_or(defaults::SEARCH_TTL),
            chat_ttl: t.cache.chat_ttl.as_ref().map(|c| c.value as u32).unwrap_or(defaults::CHAT_TTL),
        },
        tools,
        tts: res::Tts {
            enabled: t.tts.enabled.as_ref().is_some_and(|e| e.value),
            voice: t.tts.voice.as_ref().map(|v| v.value.clone()),
            max_chars: t.tts.max_chars.as_ref().map(|c| c.value as u32).unwrap_or(defaults::TTS_MAX_CHARS),
        },
        safety: res::Safety {
            max_input_chars: t
                .safety
                .max_input_chars
                .as_ref()
                .map(|c| c.value as u32)
                .unwrap_or(defaults::MAX_INPUT_CHARS),
            pii_redaction: t.safety.pii_redaction.as_ref().is_some_and(|e| e.value),
            blocked_terms: t.safety.blocked_terms.iter().map(|b| b.value.clone()).collect(),
        },
        secrets,
    })
}
