//! Whether a candidate is a secret: the rule's own check, entropy, and the look-alike
//! filters, weighed by the rule's kind (provider format, generic value, password).

use super::detect::Compiled;
use super::filters::{
    classes, decoded_placeholder, has_mixed_classes, is_constant_name, is_hash_hex,
    is_known_example, is_path_or_url, is_placeholder, is_reference_name, is_resource_path, is_slug,
    is_uuid, is_weak_default, shannon_entropy,
};
use super::rules::{Check, Kind};

/// The generic entropy floor; hex (at most 4 bits a character) gets 3.0 from 32 characters.
fn random_enough(secret: &str, entropy: f64, threshold: f64) -> bool {
    let hex = secret.len() >= 32 && secret.bytes().all(|b| b.is_ascii_hexdigit());
    entropy >= threshold || hex && entropy >= threshold.min(3.0)
}

/// Whether a candidate is a secret rather than a look-alike, by its rule's kind;
/// `threshold` is the generic rules' entropy floor.
pub(super) fn plausible(
    rule: &Compiled,
    secret: &str,
    name: Option<&[u8]>,
    threshold: f64,
) -> bool {
    let entropy = shannon_entropy(secret);
    if !rule.builtin {
        // gitleaks' own guard: a generic rule's secret must hold a digit.
        let digit_ok =
            !rule.info.id.starts_with("generic") || secret.bytes().any(|b| b.is_ascii_digit());
        return entropy >= rule.min_entropy && digit_ok;
    }
    match rule.check.map_or(Check::Unknown, |f| f(secret)) {
        Check::Reject => return false,
        Check::Proven => return !is_placeholder(body(secret)),
        Check::Unknown => {}
    }
    let name = name.map(String::from_utf8_lossy);
    if name.as_deref().is_some_and(is_reference_name) {
        return false;
    }
    match rule.kind {
        Kind::Specific => {
            let weak = rule.min_entropy > 0.0 && is_weak_default(body(secret));
            let stand_in = is_placeholder(body(secret)) || is_known_example(secret) || weak;
            !stand_in && entropy >= rule.min_entropy
        }
        Kind::Generic => {
            random_enough(secret, entropy, threshold)
                && !is_placeholder(secret)
                && secret.bytes().any(|b| b.is_ascii_digit())
                && has_mixed_classes(secret)
                && !is_constant_name(secret)
                && !is_uuid(secret)
                && !is_path_or_url(secret)
                && !is_slug(secret)
                && !is_resource_path(secret)
                && !decoded_placeholder(secret)
        }
        // A token or key in a password-like position (a URL's `?token=`) is judged as one.
        Kind::Password if name.as_deref().is_some_and(|n| !is_password_name(n)) => {
            random_enough(secret, entropy, threshold)
                && !is_placeholder(secret)
                && secret.bytes().any(|b| b.is_ascii_digit())
                && has_mixed_classes(secret)
                && !is_uuid(secret)
                && !is_resource_path(secret)
        }
        Kind::Password => plausible_password(secret, name.as_deref()),
    }
}

/// A password: long enough, mixed, and none of the usual stand-ins.
fn plausible_password(s: &str, name: Option<&str>) -> bool {
    if s.len() < 8 || is_placeholder(s) || is_weak_default(s) || is_path_or_url(s) {
        return false;
    }
    if is_constant_name(s) || is_uuid(s) || is_slug(s) || decoded_placeholder(s) || has_variable(s)
    {
        return false;
    }
    // Hex of a hash's length under a password name is a stored hash, not the password.
    if name.is_none_or(is_password_name) && is_hash_hex(s) || is_resource_path(s) {
        return false;
    }
    // Code, not a literal: a call, a path (`Config::PASSWORD`), a Terraform reference.
    let path_like = s.contains("::")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.'));
    if s.contains("()") || path_like || s.starts_with("env.") || s.starts_with("var.") {
        return false;
    }
    let (lower, upper, digit, symbol) = classes(s);
    let n = [lower, upper, digit, symbol].iter().filter(|&&x| x).count();
    (n >= 3 || (n == 2 && (digit || symbol) && s.len() >= 12 && shannon_entropy(s) >= 3.3))
        && shannon_entropy(s) >= 2.5
}

/// A name that says password (rather than token or key).
fn is_password_name(n: &str) -> bool {
    let n = n.to_ascii_lowercase();
    n.contains("pass") || n.contains("pwd") || n.contains("pswd")
}

/// A shell or CI variable inside the value (`glcbt-$CI_JOB_TOKEN`, `pre${X}`, `$(cat f)`).
fn has_variable(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2).enumerate().any(|(i, w)| {
        w[0] == b'$'
            && (matches!(w[1], b'{' | b'(')
                || b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_uppercase() || **c == b'_')
                    .count()
                    >= 3)
    })
}

/// The token without its format prefix (`sb_secret_`, `ghp_`, `sk-ant-api03-`), so that
/// a prefix such as `secret_` is not taken for a placeholder word.
fn body(secret: &str) -> &str {
    let head = &secret.as_bytes()[..secret.len().min(16)];
    match head.iter().rposition(|&b| matches!(b, b'_' | b'-' | b'.')) {
        // Only a word-like prefix is a format prefix; `x>Nm&_5` is a password.
        Some(p)
            if secret.len() - p > 8
                && head[..p]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) =>
        {
            &secret[p + 1..]
        }
        _ => secret,
    }
}
