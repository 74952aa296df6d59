//! Telling a secret from its look-alikes: entropy, placeholders, fillers, defaults,
//! hashes, identifiers and paths.

/// Shannon entropy in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// `SCREAMING_SNAKE_CASE` with an underscore: a constant's name on the right of `=`, not a value.
pub fn is_constant_name(s: &str) -> bool {
    s.contains('_')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Character classes present: lowercase, uppercase, digit, symbol. `_`, `-` and `.` are
/// not symbols here: identifiers and file names are full of them.
pub fn classes(s: &str) -> (bool, bool, bool, bool) {
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    let symbol = s
        .bytes()
        .any(|b| b.is_ascii_punctuation() && !matches!(b, b'_' | b'-' | b'.'));
    (lower, upper, digit, symbol)
}

/// At least two kinds of characters (the old generic test; `_`, `-`, `.` count as "other").
pub fn has_mixed_classes(s: &str) -> bool {
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    let other = s.bytes().any(|b| !b.is_ascii_alphanumeric());
    [lower, upper, digit, other].iter().filter(|&&x| x).count() >= 2
}

/// Values that stand in for a secret in docs, templates and examples.
pub fn is_placeholder(secret: &str) -> bool {
    const MARKERS: &[&str] = &[
        "example",
        "changeme",
        "change_me",
        "change-me",
        "placeholder",
        "your",
        "xxxx",
        "dummy",
        "sample",
        "redacted",
        "replace",
        "insert",
        "fixme",
        "todo",
        "${",
        "{{",
        "%(",
        "%s",
        "****",
        "....",
        "…",
        "password",
        "passwd",
        "secret",
        "notreal",
        "not_real",
        "not-real",
        "fake",
    ];
    let lower = secret.to_ascii_lowercase();
    if MARKERS.iter().any(|m| lower.contains(m))
        || is_known_example(secret)
        || secret.starts_with('$')
        || secret.starts_with('%') && secret.ends_with('%')
        || secret.starts_with('{') && secret.ends_with('}')
        || secret.starts_with('[') && secret.ends_with(']')
        || has_angle_placeholder(secret)
        || has_format_slot(secret)
    {
        return true;
    }
    is_filler(secret)
}

/// A format or template slot (`{name}`, `{0}`, `{key:>8}`): text built at run time.
fn has_format_slot(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'{'
            && b[i + 1..]
                .iter()
                .position(|&d| d == b'}')
                .is_some_and(|len| {
                    let inner = &b[i + 1..i + 1 + len];
                    let name_len = inner
                        .iter()
                        .take_while(|d| d.is_ascii_alphanumeric() || **d == b'_')
                        .count();
                    let name = &inner[..name_len];
                    let spec = &inner[name_len..];
                    (name.first().is_some_and(|d| d.is_ascii_lowercase())
                        || name.iter().all(u8::is_ascii_digit))
                        && (spec.is_empty() || spec[0] == b':' && spec.len() <= 8)
                })
    })
}

/// `<token>`, `<your key here>`: a word in angle brackets (a lone `<` is just a character).
fn has_angle_placeholder(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'<'
            && b[i + 1..]
                .iter()
                .position(|&d| d == b'>')
                .is_some_and(|len| {
                    let inner = &b[i + 1..i + 1 + len];
                    inner.iter().filter(|d| d.is_ascii_alphabetic()).count() >= 3
                        && inner
                            .iter()
                            .all(|d| d.is_ascii_alphanumeric() || b" _-.:/".contains(d))
                })
    })
}

/// Keys published in vendor documentation; their text says nothing "example"-like.
pub fn is_known_example(secret: &str) -> bool {
    const KNOWN_EXAMPLES: &[&str] = &[
        // jwt.io's sample token signature.
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        // Stripe's documented test keys.
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        // Google's Maps JavaScript API samples.
        "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
        // Azurite's (the storage emulator's) well-known account key.
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq",
        // Slack's API documentation.
        "pdFZKVeTuE8sk7oOcBrzbqgy",
    ];
    KNOWN_EXAMPLES.iter().any(|k| secret.contains(k))
}

/// Few distinct characters (`aaaa`, `AKIAAAAAAAAAAAAAAAAA`, `0000-0000`) or mostly a run
/// of consecutive characters (`abcdefgh…`, `123456…`): typed by hand, not generated.
pub fn is_filler(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut seen = [false; 256];
    for &b in bytes {
        seen[b as usize] = true;
    }
    let distinct = seen.iter().filter(|&&x| x).count();
    if distinct <= 1 || (bytes.len() >= 16 && distinct < 6) {
        return true;
    }
    let steps = bytes
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    bytes.len() >= 12 && steps * 10 >= (bytes.len() - 1) * 4
}

/// Defaults and the handful of passwords every tutorial uses, after undoing leetspeak.
pub fn is_weak_default(s: &str) -> bool {
    const WEAK: &[&str] = &[
        "pass",
        "admin",
        "root",
        "guest",
        "test",
        "user",
        "login",
        "qwerty",
        "letmein",
        "welcome",
        "hunter2",
        "default",
        "demo",
        "postgres",
        "mysql",
        "mongo",
        "redis",
        "rabbitmq",
        "oracle",
        "sa",
        "token",
        "apikey",
        "abc123",
        "123456",
        "1234567890",
        "iloveyou",
        "monkey",
        "dragon",
        "master",
        "trustno1",
        "opensesame",
        "mypass",
        "mysecret",
        "s3cr3t",
        "temp",
        "foobar",
        "foo",
        "bar",
        "baz",
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "empty",
        "required",
        "optional",
        "string",
        "value",
    ];
    let norm: String = s
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            c => c,
        })
        .collect();
    let core = norm.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let core = core.trim_start_matches(|c: char| c.is_ascii_punctuation());
    WEAK.iter().any(|w| core == *w || s.eq_ignore_ascii_case(w))
        || norm.contains("passw")
        || norm.contains("changeme")
        || norm.contains("secret")
        || norm.contains("letmein")
        || norm.contains("qwerty")
        || norm.contains("admin")
}

/// `8-4-4-4-12` hex: an identifier far more often than a secret (specific rules that
/// expect one, Heroku's keys say, match it themselves).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A resource name (`db-credentials-v3`, `tls_cert_2024`): lowercase words, each letters
/// with an optional number, or a number, or a version (`v3`).
pub fn is_slug(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['-', '_', '.']).collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            let letters = p.bytes().take_while(|b| b.is_ascii_lowercase()).count();
            !p.is_empty() && p.bytes().skip(letters).all(|b| b.is_ascii_digit())
        })
        && parts
            .iter()
            .filter(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
            .count()
            >= 1
}

/// A reference to a resource (`owner/repo#assets/app-credentials`, `host.example.com:1234/x`):
/// lowercase words and numbers between `/`, `#`, `:` and `@`, not random characters.
pub fn is_resource_path(s: &str) -> bool {
    let parts: Vec<&str> = s
        .split(['/', '#', ':', '@', '?', '='])
        .filter(|p| !p.is_empty())
        .collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            p.split(['-', '_', '.']).all(|w| {
                let letters = w.bytes().take_while(|b| b.is_ascii_lowercase()).count();
                w.bytes().skip(letters).all(|b| b.is_ascii_digit())
            })
        })
}

/// An unquoted value that is an expression (a call, an index, a statement's end) or
/// markup (a Markdown link, a URL).
pub fn looks_like_code(s: &str) -> bool {
    let ident_head = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$' | b':'))
        .count();
    let rest = &s[ident_head..];
    s.ends_with(';')
        || s.ends_with(',')
        || s.ends_with('(')
        // `name::path` after a `:` separator: a Rust or C++ path.
        || s.starts_with(':')
        || s.contains("](")
        || s.contains("://")
        // A block opener (`if check(x, n=12):`), or a call's unbalanced closing parenthesis.
        || s.ends_with(':')
        || s.ends_with('{')
        || (s.ends_with(')') && s.matches(')').count() > s.matches('(').count())
        || (ident_head > 0
            && (rest.starts_with('(') || rest.starts_with('['))
            && (s.ends_with(')') || s.ends_with(']')))
}

/// A documentation host (RFC 2606 names, loopback): credentials shown there are examples
/// when they are also short or wordy.
pub fn is_example_host(host: &str) -> bool {
    let h = host.to_ascii_lowercase();
    let h = h.split([':', '/']).next().unwrap_or_default();
    ["example.com", "example.org", "example.net"]
        .iter()
        .any(|d| h == *d || h.ends_with(&format!(".{d}")))
        || [".example", ".test", ".invalid", ".localhost"]
            .iter()
            .any(|t| h.ends_with(t))
        || h == "localhost"
        || h.starts_with("127.")
}

/// Hex of a hash's length (MD5, SHA-1, SHA-256, SHA-512).
pub fn is_hash_hex(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64 | 128) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A file path or URL, not a credential (base64 may start with `/` too: a path has
/// only path characters and at least two separators).
pub fn is_path_or_url(s: &str) -> bool {
    let path_chars = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'~'));
    let path = ["/", "./", "../", "~/"].iter().any(|p| s.starts_with(p))
        && path_chars
        && s.matches('/').count() >= 2;
    // A relative file path: `app/settings.py`, `certs/server.pem`.
    let extension = s.rsplit_once('.').is_some_and(|(_, e)| {
        (1..=5).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_lowercase())
    });
    let path = path || (path_chars && s.contains('/') && extension);
    path || [
        "http://", "https://", "file:", "s3://", "gs://", "vault:", "arn:",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// A name that holds something about a secret (where it is, what it looks like), not one.
pub fn is_reference_name(name: &str) -> bool {
    const ENDS: &[&str] = &[
        "name",
        "names",
        "ref",
        "file",
        "path",
        "dir",
        "url",
        "uri",
        "env",
        "var",
        "type",
        "kind",
        "mode",
        "length",
        "len",
        "size",
        "policy",
        "version",
        "field",
        "label",
        "prompt",
        "hint",
        "placeholder",
        "message",
        "msg",
        "header",
        "param",
        "regex",
        "pattern",
        "hash",
        "hashed",
        "digest",
        "salt",
        "count",
        "max",
        "min",
        "enabled",
        "required",
        "rotation",
        "expiry",
        "expires",
        "ttl",
        "provider",
        "store",
        "manager",
        "backend",
        "class",
        "style",
        "format",
        "id_field",
        "input",
        "selector",
        "mount",
        "arn",
        "endpoint",
        "generator",
        "validator",
        "strength",
        "complexity",
        "reset",
        "text",
        "title",
        "error",
        "helper",
        "bypass",
        "through",
    ];
    const HAS: &[&str] = &["hash", "digest", "salt", "bcrypt", "sha1", "sha256", "md5"];
    let lower = name.to_ascii_lowercase();
    let last = lower.rsplit(['_', '-', '.']).next().unwrap_or(&lower);
    // camelCase: the last capitalised word.
    let camel_last = name
        .rfind(|c: char| c.is_ascii_uppercase())
        .map(|i| name[i..].to_ascii_lowercase())
        .unwrap_or_default();
    ENDS.contains(&last)
        || (!camel_last.is_empty() && ENDS.contains(&camel_last.as_str()))
        || HAS.iter().any(|h| lower.contains(h))
        || lower.starts_with("bypass")
}

/// Base64 that decodes to printable text: the decoded text gets the placeholder test too
/// (a Kubernetes `data:` value of `changeme` is still a placeholder).
pub fn decoded_placeholder(s: &str) -> bool {
    use base64::Engine;
    if s.len() < 8 || !s.len().is_multiple_of(4) {
        return false;
    }
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(raw) if raw.iter().all(|b| (0x20..0x7f).contains(b)) => {
            let text = String::from_utf8_lossy(&raw);
            is_placeholder(&text)
                || is_weak_default(&text)
                || is_slug(&text)
                || is_resource_path(&text)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_and_repeated_strings() {
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("abcd") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn placeholders_are_recognized() {
        for p in [
            "changeme",
            "${DB_PASSWORD}",
            "<your-token>",
            "AKIAIOSFODNN7EXAMPLE",
            "xxxxxxxxxxxxxxxx",
            "AKIAABCDEFGHIJKLMNOP",
            "ghp_1234567890abcdefghijklmnopqrstuvwxyz",
            "{password}",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        assert!(!is_placeholder("q8Zr2LmX0vT7wKp4"));
    }

    #[test]
    fn weak_defaults_survive_leetspeak() {
        for p in [
            "P@ssw0rd123!",
            "admin",
            "Admin123",
            "s3cr3t!",
            "postgres",
            "hunter2",
        ] {
            assert!(is_weak_default(p), "{p}");
        }
        assert!(!is_weak_default("X&pCl0pI@bN@zI*e@rBW6x"));
    }

    #[test]
    fn reference_names_are_not_secrets() {
        for n in [
            "secretName",
            "db_password_file",
            "PASSWORD_HASH",
            "token_url",
            "bypass",
        ] {
            assert!(is_reference_name(n), "{n}");
        }
        for n in ["db_password", "API_TOKEN", "clientSecret", "password"] {
            assert!(!is_reference_name(n), "{n}");
        }
    }
}
