//! Look-alikes that must not be reported: placeholders, documented examples, hashes,
//! identifiers, data URIs, test vectors and code that names a secret without holding one.

use super::Rng;
use super::credentials::{ALNUM, B64, Cred, HEX};

/// Placeholder values, assigned like a real secret would be.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("API_KEY", "<token>"),
    ("api_key", "<your-api-key-here>"),
    ("DB_PASSWORD", "${DB_PASSWORD}"),
    ("password", "changeme"),
    ("password", "CHANGE_ME"),
    ("secret_key", "your-secret-key-here"),
    ("GITHUB_TOKEN", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("OPENAI_API_KEY", "sk-..."),
    ("OPENAI_API_KEY", "sk-proj-..."),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("STRIPE_SECRET_KEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    ("SLACK_BOT_TOKEN", "xoxb-your-token"),
    ("token", "xxxxxxxxxxxxxxxxxxxxxxxx"),
    ("client_secret", "REPLACE_ME"),
    (
        "DATABASE_URL",
        "postgres://user:password@localhost:5432/app",
    ),
    (
        "DATABASE_URL",
        "postgres://postgres:postgres@localhost:5432/test",
    ),
    ("REDIS_URL", "redis://:${REDIS_PASSWORD}@redis:6379/0"),
    ("password", "{{ .Values.db.password }}"),
    ("password", "%(db_password)s"),
    ("auth_token", "********"),
    ("api_key", "<redacted>"),
    ("SENDGRID_API_KEY", "SG.xxxxxxxx.yyyyyyyy"),
    ("HF_TOKEN", "hf_xxx"),
    ("password", "P@ssw0rd"),
    ("MYSQL_ROOT_PASSWORD", "root"),
    ("POSTGRES_PASSWORD", "postgres"),
    ("password", "hunter2"),
    ("api_token", "$API_TOKEN"),
    ("jwt_secret", "dev-secret"),
    ("token", "TODO"),
    ("VAULT_TOKEN", "hvs.<token>"),
    ("DD_API_KEY", "<DATADOG_API_KEY>"),
    ("password", "secret123"),
    ("SECRET_KEY", "django-insecure-change-me"),
    ("TWILIO_AUTH_TOKEN", "your_auth_token"),
    ("registry_url", "https://user:pass@registry.example.com"),
    ("MYSQL_PASSWORD", "${MYSQL_PASSWORD:-changeme}"),
    ("ansible_become_password", "{{ vault_become_pass }}"),
    ("spring.datasource.password", "${DB_PASSWORD}"),
    ("password", ""),
    ("token", "${{ secrets.GITHUB_TOKEN }}"),
    ("api_key_header", "X-Api-Key"),
    ("password_regex", "^(?=.*[A-Z])(?=.*\\d)(?=.*[!@#]).{12,}$"),
    (
        "token_endpoint",
        "https://login.example.com/oauth2/v2.0/token",
    ),
    ("secret_version", "v2"),
    ("TOKEN_EXPIRY_SECONDS", "86400"),
    ("existingSecret", "db-credentials-v3"),
    (
        "client_id",
        "1234567890-abc123def456ghi789.apps.googleusercontent.com",
    ),
    (
        "STRIPE_PUBLISHABLE_KEY",
        "pk_live_51H8xYzABcdEFghIJklMNopQRstUVwxYZ0123",
    ),
    ("aws_account_id", "123456789012"),
    ("idempotency_key", "order-2024-000042"),
    ("password_hint", "At least 12 characters and 1 digit"),
    ("AWS_REGION", "us-east-1"),
    (
        "secret_arn",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123",
    ),
    ("password_file", "/run/secrets/db_password"),
    ("token_type", "Bearer"),
];

/// Raw lines of code or data that look like secrets to a careless scanner.
fn raw(rng: &mut Rng, k: usize) -> (&'static str, String) {
    match k % 45 {
        0 => ("git-sha", format!("commit {}", rng.pick(HEX, 40))),
        1 => ("sha256sum", format!("{}  release-v1.4.2.tar.gz", rng.pick(HEX, 64))),
        2 => ("lockfile-integrity", format!("      \"integrity\": \"sha512-{}==\",", rng.pick(B64, 86))),
        3 => ("uuid-id", format!("    \"id\": \"{}-{}-4{}-a{}-{}\",", rng.pick(HEX, 8), rng.pick(HEX, 4), rng.pick(HEX, 3), rng.pick(HEX, 3), rng.pick(HEX, 12))),
        4 => ("data-uri", format!("  background: url(data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB{}AAAAAAAAAAAAAAAAAAAAA{});", rng.pick(B64, 60), rng.pick(B64, 80))),
        5 => ("test-vector", "    key = bytes.fromhex(\"000102030405060708090a0b0c0d0e0f\")".into()),
        6 => ("test-vector", "    expected = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"".into()),
        7 => ("password-field", "    password_field = forms.CharField(widget=forms.PasswordInput)".into()),
        8 => ("getter", "    String password = user.getPassword();".into()),
        9 => ("i18n", "  \"login.password\": \"Password:\",".into()),
        10 => ("css-class", "  .password-toggle-icon { cursor: pointer; }".into()),
        11 => ("trace-id", format!("    trace_id = \"{}\"", rng.pick(HEX, 32))),
        12 => ("docker-digest", format!("FROM python:3.12-slim@sha256:{}", rng.pick(HEX, 64))),
        13 => ("env-lookup", "    token = os.environ[\"GITHUB_TOKEN\"]".into()),
        14 => ("env-lookup", "  const apiKey = process.env.STRIPE_SECRET_KEY;".into()),
        15 => ("jwt-io-example", "    Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c".into()),
        16 => ("session-id", format!("  \"sessionId\": \"{}\",", rng.pick(ALNUM, 24))),
        17 => ("csrf-helper", "    csrf_token = generate_csrf_token(request)".into()),
        18 => ("token-url", "TOKEN_URL = \"https://oauth2.googleapis.com/token\"".into()),
        19 => ("grant-type", "    grant_type = \"refresh_token\"".into()),
        20 => ("secret-ref", "          secretKeyRef:\n            name: db-credentials-prod2\n            key: password".into()),
        21 => ("pem-header-only", "    if line.startswith(\"-----BEGIN RSA PRIVATE KEY-----\"):".into()),
        22 => ("public-key", format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} deploy@ci", rng.pick(B64, 43))),
        23 => ("go-sum", format!("github.com/acme/lib v1.2.3 h1:{}=", rng.pick(B64, 43))),
        24 => ("password-policy", "PASSWORD_MIN_LENGTH = 12".into()),
        25 => ("validation", "    if not validate_password(password, min_length=12):".into()),
        26 => ("random-id", format!("  request_id: req_{}", rng.pick(ALNUM, 16))),
        27 => ("placeholder-pem", "-----BEGIN PRIVATE KEY-----\n<paste your key here>\n-----END PRIVATE KEY-----".into()),
        28 => ("etag", format!("  etag: W/\"{}\"", rng.pick(HEX, 32))),
        29 => ("build-hash", format!("  \"version\": \"1.4.2+{}\",", rng.pick(HEX, 12))),
        30 => ("terraform-ref", "  password = random_password.db.result".into()),
        31 => ("config-lookup", "    api_key = config[\"services\"][\"weather\"][\"api_key\"]".into()),
        32 => ("jwt-encode", "    token = jwt.encode(payload, settings.SECRET_KEY, algorithm=\"HS256\")".into()),
        33 => ("getpass", "    passphrase = getpass.getpass(\"Passphrase: \")".into()),
        34 => ("commit-sha", format!("    commit_sha: \"{}\"", rng.pick(HEX, 40))),
        35 => ("public-key", format!("public_key = \"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ{} ops@bastion\"", rng.pick(B64, 200))),
        36 => ("sentry-dsn", format!("SENTRY_DSN=https://{}@o{}.ingest.sentry.io/{}", rng.pick(HEX, 32), rng.below(900000) + 100000, rng.below(9000000) + 1000000)),
        37 => ("header-variable", "curl -H \"x-api-key: $API_KEY\" -H \"Authorization: Bearer ${TOKEN}\" https://api.example.com".into()),
        38 => ("cache-key", format!("    cache_key = f\"user:{{user_id}}:profile:v{}\"", rng.below(9))),
        39 => ("hash-fixture", format!("    assert hash_password(\"x\") == \"$argon2id$v=19$m=65536,t=3,p=4${}\"", rng.pick(B64, 43))),
        40 => ("random-hex-id", format!("  \"deviceId\": \"{}\",", rng.pick(HEX, 40))),
        41 => ("base64-blob", format!("  \"thumbnail\": \"{}\",", rng.pick(B64, 120))),
        42 => ("secret-manager-ref", "          valueFrom: { secretKeyRef: { name: api-secrets, key: stripe-key } }".into()),
        43 => ("mailto", "Contact: mailto:security@example.com?subject=Token%20leak".into()),
        _ => ("compose-default", "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it in .env}".into()),
    }
}

/// Number of look-alike kinds.
pub const KINDS: usize = 45 + PLACEHOLDERS.len();

/// Look-alike `k`: either a placeholder credential (rendered like a real one) or raw lines.
pub enum LookAlike {
    Assigned(Cred),
    Raw(&'static str, String),
}

/// Look-alike kind `k`.
pub fn lookalike(rng: &mut Rng, k: usize) -> LookAlike {
    let k = k % KINDS;
    if k < PLACEHOLDERS.len() {
        let (name, value) = PLACEHOLDERS[k];
        LookAlike::Assigned(Cred {
            kind: "placeholder",
            name: name.into(),
            value: value.into(),
        })
    } else {
        let (kind, text) = raw(rng, k - PLACEHOLDERS.len());
        LookAlike::Raw(kind, text)
    }
}
