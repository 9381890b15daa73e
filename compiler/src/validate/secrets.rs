//! Secrets and vars: a credential-looking value anywhere is reported
//! (`tenant::secret::value`), var and secret names are checked, and a name
//! is either a var or a secret (`tenant::var::*`, `tenant::secret::*`).

use super::*;

/// The tenant-level vars (checked, as name → value) and the `secrets` list.
pub(super) fn check_vars_and_secrets(cx: &mut Cx<'_>, p: &PlatformInfo, t: &RawTenant) -> BTreeMap<String, String> {
    let mut tenant_vars = BTreeMap::new();
    for (k, v) in &t.vars {
        check_var(cx, p, k, v);
        tenant_vars.insert(k.value.clone(), v.value.clone());
    }
    let mut seen_secrets: HashMap<&str, Span> = HashMap::new();
    for s in &t.secrets {
        if secret_check(cx, s, &"an entry of `secrets`", true) {
            continue;
        }
        if !is_upper_name(&s.value) {
            cx.err(
                Diagnostic::error(
                    "tenant::secret::name",
                    format!("`{}` is not a valid secret name", s.value),
                    s.span,
                    "invalid name",
                )
                .with_help("secret names are UPPER_SNAKE_CASE, e.g. GATEWAY_TOKEN"),
            );
        } else if let Some(first) = seen_secrets.insert(&s.value, s.span) {
            cx.err(
                Diagnostic::error(
                    "tenant::secret::duplicate",
                    format!("secret `{}` is listed twice", s.value),
                    s.span,
                    "second",
                )
                .with_label(first, "first")
                .with_help("remove one"),
            );
        } else {
            secret_var_clash(cx, t, s);
        }
    }
    tenant_vars
}

/// A secret that is also a var (`tenant::secret::conflict`): reported at the
/// secret, with a primary label at every var of that name (tenant-level and
/// per environment), since either may be the line a change added.
fn secret_var_clash(cx: &mut Cx<'_>, t: &RawTenant, s: &Sp<String>) {
    let tenant_level = t
        .vars
        .iter()
        .filter(|(k, _)| k.value == s.value)
        .map(|(k, _)| (k.span, "the var".to_string()));
    let per_env = t.envs.iter().flat_map(|e| {
        e.vars
            .iter()
            .filter(|(k, _)| k.value == s.value)
            .map(move |(k, _)| (k.span, format!("the var in `{}`", e.name.value)))
    });
    let vars: Vec<(Span, String)> = tenant_level.chain(per_env).collect();
    if vars.is_empty() {
        return;
    }
    let mut d = Diagnostic::error(
        "tenant::secret::conflict",
        format!("`{}` is both a secret and a var", s.value),
        s.span,
        "the secret",
    );
    for (span, label) in vars {
        d = d.with_primary_label(span, label);
    }
    cx.err(d.with_help(format!(
        "a name is either a plain var or a secret: remove the var `{0}` if the value is secret (set it with `wrangler secret put {0}`), or drop `{0}` from `secrets` if it is not",
        s.value
    )));
}

/// One var: an UPPER_SNAKE_CASE name that is neither reserved nor a
/// binding's, and a value that is not a credential.
pub(super) fn check_var(cx: &mut Cx<'_>, p: &PlatformInfo, k: &Sp<String>, v: &Sp<String>) {
    if !is_upper_name(&k.value) {
        cx.err(
            Diagnostic::error(
                "tenant::var::name",
                format!("`{}` is not a valid var name", k.value),
                k.span,
                "invalid name",
            )
            .with_help("UPPER_SNAKE_CASE, e.g. SUPPORT_EMAIL"),
        );
    } else if k.value == "TENANT_ID" || k.value == "TENANT_ENV" {
        cx.err(
            Diagnostic::error(
                "tenant::var::reserved",
                format!("`{}` is a reserved var name", k.value),
                k.span,
                "reserved",
            )
            .with_help(
                "TENANT_ID and TENANT_ENV are reserved for pinning each deployment to its tenant and environment; choose another name",
            ),
        );
    } else if p.resolved.bindings.iter().any(|b| b.name == k.value) {
        cx.err(
            Diagnostic::error(
                "tenant::var::conflict",
                format!("var `{}` has the name of a binding", k.value),
                k.span,
                "clashes with a binding",
            )
            .with_help("choose another name"),
        );
    }
    secret_check(cx, v, &format_args!("the value of var `{}`", k.value), false);
}

/// Report a credential-looking value. `slot` names where it was found;
/// `is_name` says whether only a name belongs there. Every match is an
/// error, the statistical high-entropy one included (a value in the
/// platform's `not_secrets` passes).
pub(super) fn secret_check(cx: &mut Cx<'_>, s: &Sp<String>, slot: &dyn std::fmt::Display, is_name: bool) -> bool {
    let help = "never put secret values in tenant files: remove it, rotate it if it is real (it stays in git history), list the secret's NAME under `secrets` and set its value with `wrangler secret put NAME`";
    secret_check_with(cx, s, slot, is_name, true, help)
}

/// [`secret_check`] with its help text, and whether a merely high-entropy
/// string counts at all (not where ids are expected). True when reported.
pub(super) fn secret_check_with(
    cx: &mut Cx<'_>,
    s: &Sp<String>,
    slot: &dyn std::fmt::Display,
    is_name: bool,
    entropy: bool,
    help: &str,
) -> bool {
    secret_check_as(cx, "tenant::secret::value", s, slot, is_name, entropy, help)
}

/// [`secret_check_with`] under a given diagnostic code (`platform::…`,
/// `accounts::…` for those files).
pub(super) fn secret_check_as(
    cx: &mut Cx<'_>,
    code: &'static str,
    s: &Sp<String>,
    slot: &dyn std::fmt::Display,
    is_name: bool,
    entropy: bool,
    help: &str,
) -> bool {
    let Some(what) = looks_like_secret(&s.value) else {
        return false;
    };
    if (what == HIGH_ENTROPY && !entropy) || cx.allow.allows(&s.value) {
        return false;
    }
    let message = if is_name {
        format!("{slot} looks like {what}, not a name")
    } else {
        format!("{slot} looks like {what}")
    };
    let help = if is_name {
        help.to_string()
    } else {
        format!("{help}. {NOT_SECRET_HELP}")
    };
    cx.err(Diagnostic::error(code, message, s.span, "this looks like a credential").with_help(help));
    true
}

/// The help for a credential in a free-text setting (a display name, a
/// label, a description).
pub const FREE_TEXT_HELP: &str =
    "this text is kept in git and shown to people: remove the credential, and rotate it if it is real (it stays in git history)";

/// How to pass a value that only looks like a credential.
pub const NOT_SECRET_HELP: &str = "If it is not a secret (a public key or id), list this exact value in the platform file with the reason: `not-secret \"<value>\" reason=\"…\"` (JSON: `\"not_secrets\": { \"<value>\": { \"reason\": \"…\" } }`)";

/// The platform's `not_secrets`: exact values that look like credentials
/// but are not. Shared by the threads that check tenants; each entry
/// records whether any file used it, for the unused-entry warning.
#[derive(Default)]
pub struct NotSecrets {
    entries: Vec<(String, Span, std::sync::atomic::AtomicBool)>,
}

impl NotSecrets {
    pub(super) fn new(raw: &[RawNotSecret]) -> Self {
        NotSecrets {
            entries: raw
                .iter()
                .map(|n| (n.value.value.clone(), n.value.span, std::sync::atomic::AtomicBool::new(false)))
                .collect(),
        }
    }

    /// Whether `value` is listed (and mark its entry used).
    pub(super) fn allows(&self, value: &str) -> bool {
        match self.entries.iter().find(|(v, ..)| v == value) {
            Some((.., used)) => {
                used.store(true, std::sync::atomic::Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Warn about the entries no file used (`platform::not-secret::unused`).
    pub(super) fn report_unused(&self, cx: &mut Cx<'_>) {
        for (value, span, used) in &self.entries {
            if used.load(std::sync::atomic::Ordering::Relaxed) {
                continue;
            }
            let help = if looks_like_secret(value).is_none() {
                "remove the entry: this value does not look like a credential, so it needs none"
            } else {
                "remove the entry: no file has this value where credentials are checked any more, and an unused entry would let the value back in unnoticed"
            };
            cx.err(
                Diagnostic::warning(
                    "platform::not-secret::unused",
                    "this `not_secrets` entry is not used by any file",
                    *span,
                    "unused",
                )
                .with_help(help),
            );
        }
    }
}
