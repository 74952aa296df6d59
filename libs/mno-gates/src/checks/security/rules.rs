//! The built-in secret rules: keywords for the prefilter and a regex whose group 1 is the secret.

/// One credential format.
#[derive(Debug, Clone, Copy)]
pub struct RuleDef {
    /// Stable rule id, reported as `rule_id`.
    pub id: &'static str,
    /// What the secret is, for messages.
    pub title: &'static str,
    /// Lowercase keywords, one of which must occur on the line for the regex to run.
    pub keywords: &'static [&'static str],
    /// The pattern; its first capture group that took part in the match is the secret.
    pub regex: &'static str,
    /// Minimum Shannon entropy of the secret (0 for formats whose shape is proof enough).
    pub min_entropy: f64,
    /// A generic rule: skipped where a specific rule already matched on the same span.
    pub generic: bool,
}

const fn rule(
    id: &'static str,
    title: &'static str,
    keywords: &'static [&'static str],
    regex: &'static str,
    min_entropy: f64,
) -> RuleDef {
    RuleDef {
        id,
        title,
        keywords,
        regex,
        min_entropy,
        generic: false,
    }
}

/// Every built-in rule, specific formats first.
pub const RULES: &[RuleDef] = &[
    rule(
        "aws-access-key-id",
        "AWS access key ID",
        &["akia", "asia", "abia", "acca"],
        r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        3.0,
    ),
    rule(
        "aws-secret-access-key",
        "AWS secret access key",
        &[
            "aws_secret",
            "aws-secret",
            "secret_access_key",
            "secretaccesskey",
        ],
        r#"(?i)aws.{0,20}secret.{0,20}?['"]?\s*(?:=|:|=>)\s*['"]?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        3.5,
    ),
    rule(
        "gcp-api-key",
        "Google Cloud API key",
        &["aiza"],
        r"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)",
        3.0,
    ),
    rule(
        "gcp-service-account-key",
        "Google Cloud service account private key ID",
        &["private_key_id"],
        r#""private_key_id"\s*:\s*"([a-f0-9]{40})""#,
        3.0,
    ),
    rule(
        "azure-storage-account-key",
        "Azure storage account key",
        &["accountkey="],
        r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
        3.5,
    ),
    rule(
        "azure-client-secret",
        "Azure AD client secret",
        &["q~"],
        r"(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)",
        3.0,
    ),
    rule(
        "github-token",
        "GitHub token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"\b(gh[pousr]_[A-Za-z0-9]{36})\b",
        3.0,
    ),
    rule(
        "github-fine-grained-pat",
        "GitHub fine-grained personal access token",
        &["github_pat_"],
        r"\b(github_pat_[A-Za-z0-9_]{82})\b",
        3.0,
    ),
    rule(
        "gitlab-token",
        "GitLab token",
        &["glpat-", "glrt-", "gldt-", "glptt-"],
        r"\b((?:glpat|glrt|gldt)-[A-Za-z0-9_\-]{20}|glptt-[0-9a-f]{40})(?:[^A-Za-z0-9_\-]|$)",
        3.0,
    ),
    rule(
        "npm-token",
        "npm access token",
        &["npm_"],
        r"\b(npm_[A-Za-z0-9]{36})\b",
        3.0,
    ),
    rule(
        "pypi-token",
        "PyPI upload token",
        &["pypi-ageichlwas5vcmc"],
        r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})",
        3.0,
    ),
    rule(
        "slack-token",
        "Slack token",
        &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"],
        r"\b(xox[bpares]-[0-9]{8,13}-[0-9A-Za-z\-]{10,120})",
        3.0,
    ),
    rule(
        "slack-webhook-url",
        "Slack incoming webhook URL",
        &["hooks.slack.com"],
        r"(https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32})",
        3.0,
    ),
    rule(
        "stripe-key",
        "Stripe API key",
        &["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
        r"\b((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,99})\b",
        3.0,
    ),
    rule(
        "private-key",
        "private key block",
        &["private key-----", "private key block-----"],
        r"-----BEGIN[ A-Z0-9]{0,20} PRIVATE KEY(?: BLOCK)?-----\s*([A-Za-z0-9+/=]{40,})?",
        0.0,
    ),
    rule(
        "jwt",
        "JSON Web Token",
        &["eyj"],
        r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})",
        3.0,
    ),
    rule(
        "connection-string-password",
        "password in a connection string",
        &[
            "postgres",
            "mysql",
            "mariadb",
            "mongodb",
            "redis",
            "amqp",
            "mssql",
            "sqlserver",
        ],
        r#"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver)://[^\s:/@'"]*:([^\s@/'"]{3,})@[^\s'"]+"#,
        0.0,
    ),
    RuleDef {
        id: "generic-secret-assignment",
        title: "high-entropy secret assigned to a secret-like name",
        keywords: &[
            "secret",
            "token",
            "passwd",
            "password",
            "pwd",
            "api_key",
            "apikey",
            "api-key",
            "auth_key",
            "credential",
            "private_key",
            "access_key",
            "client_key",
        ],
        regex: r#"(?i)[\w.\-]*(?:secret|token|passw(?:or)?d|pwd|api[_\-]?key|auth[_\-]?key|credentials?|private[_\-]?key|access[_\-]?key|client[_\-]?key)[\w.\-]*['"]?\s*(?::=|=>|=|:)\s*(?:['"]([A-Za-z0-9+/=_\-!@#$%^&*.~]{12,})['"]|([A-Za-z0-9+/=_\-!@#$%^&*.~]{12,})\s*(?:#.*)?\r?$)"#,
        // A value is either quoted, or unquoted and the last thing on its line (an env file, a
        // YAML scalar): an unquoted value followed by `(`, `;`, `,` or `.x` is code, not data.
        // The entropy floor is replaced by the configured threshold at run time.
        min_entropy: 3.5,
        generic: true,
    },
];
