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
        if secret_check(cx, s, "an entry of `secrets`", true) {
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
        } else if tenant_vars.contains_key(&s.value) || t.envs.iter().any(|e| e.vars.iter().any(|(k, _)| k.value == s.value)) {
            cx.err(
                Diagnostic::error(
                    "tenant::secret::conflict",
                    format!("`{}` is both a secret and a var", s.value),
                    s.span,
                    "also a var",
                )
                .with_help("a name is either a plain var or a secret"),
            );
        }
    }
    tenant_vars
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
    secret_check(cx, v, &format!("the value of var `{}`", k.value), false);
}

/// Report a credential-looking value. `slot` names where it was found;
/// `is_name` says whether only a name belongs there. Certain shapes (bearer
/// headers, known key prefixes, private keys, URLs with passwords) are
/// errors; a merely high-entropy string is a warning (it may be an id).
pub(super) fn secret_check(cx: &mut Cx<'_>, s: &Sp<String>, slot: &str, is_name: bool) -> bool {
    let help = "never put secret values in tenant files: list the secret's NAME under `secrets` and set its value with `wrangler secret put NAME`; if this is a real credential, rotate it, it is in git history";
    secret_check_with(cx, s, slot, is_name, true, help)
}

/// [`secret_check`] with its help text, and whether a merely high-entropy
/// string is reported (as a warning) at all.
pub(super) fn secret_check_with(cx: &mut Cx<'_>, s: &Sp<String>, slot: &str, is_name: bool, entropy: bool, help: &str) -> bool {
    let Some(what) = looks_like_secret(&s.value) else {
        return false;
    };
    let certain = what != HIGH_ENTROPY;
    if !certain && !entropy {
        return false;
    }
    let message = if is_name {
        format!("{slot} looks like {what}, not a name")
    } else {
        format!("{slot} looks like {what}")
    };
    let d = if certain {
        Diagnostic::error("tenant::secret::value", message, s.span, "this looks like a credential")
    } else {
        Diagnostic::warning("tenant::secret::value", message, s.span, "this may be a credential")
    };
    cx.err(d.with_help(help));
    certain
}
