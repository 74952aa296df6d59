//! Planted credentials: what a user pastes, written from the providers' public formats
//! and from how people name and store them, not from the scanner's regexes. Bodies are
//! random (a fixed seed); none is a working credential.

use super::Rng;

pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const HEX: &[u8] = b"0123456789abcdef";
pub const DIGITS: &[u8] = b"0123456789";
pub const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const UPPERNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// What password generators draw from (no quotes, backslash, `$` or backtick: those
/// need escaping in every file kind and people avoid them).
pub const PUNCT: &[u8] = b"!@#%^&*()-_=+[]{}<>?~:;,./|";

/// A credential to plant: its kind (for the per-kind report), the name a user would
/// give it, and the value. A value with newlines is a key block.
pub struct Cred {
    pub kind: &'static str,
    pub name: String,
    pub value: String,
}

/// A random version-agnostic UUID (Heroku keys and look-alike request ids).
pub fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        rng.pick(HEX, 8),
        rng.pick(HEX, 4),
        rng.pick(HEX, 4),
        rng.pick(HEX, 4),
        rng.pick(HEX, 12)
    )
}

/// A generated password: 12 to 24 characters with letters, digits and punctuation, or
/// (a third of the time) letters and digits only.
pub fn password(rng: &mut Rng) -> String {
    let n = 12 + rng.below(13);
    let symbols = rng.below(3) != 0;
    loop {
        let mut p = String::new();
        for _ in 0..n {
            let r = rng.below(10);
            let set: &[u8] = if symbols && r < 2 {
                PUNCT
            } else if r < 3 {
                DIGITS
            } else {
                LETTERS
            };
            p.push(set[rng.below(set.len())] as char);
        }
        let digit = p.bytes().any(|b| b.is_ascii_digit());
        let upper = p.bytes().any(|b| b.is_ascii_uppercase());
        let lower = p.bytes().any(|b| b.is_ascii_lowercase());
        if digit && upper && lower {
            return p;
        }
    }
}

fn pem(rng: &mut Rng, label: &str, headers: &[String]) -> String {
    let mut s = format!("-----BEGIN {label}-----\n");
    for h in headers {
        s.push_str(h);
        s.push('\n');
    }
    if !headers.is_empty() {
        s.push('\n');
    }
    let lead = if label.contains("PGP") {
        "lQOYBG"
    } else {
        "MIIEow"
    };
    s.push_str(lead);
    s.push_str(&rng.pick(B64, 64 - lead.len()));
    s.push('\n');
    for _ in 0..(3 + rng.below(4)) {
        s.push_str(&rng.pick(B64, 64));
        s.push('\n');
    }
    s.push_str(&rng.pick(B64, 20));
    s.push_str("==\n");
    s.push_str(&format!("-----END {label}-----"));
    s
}

/// Number of credential kinds.
pub const KINDS: usize = 58;

/// Between `min` and `min + spread - 1` characters from `alphabet`.
fn pick_n(rng: &mut Rng, alphabet: &[u8], min: usize, spread: usize) -> String {
    let n = min + rng.below(spread);
    rng.pick(alphabet, n)
}

fn pick<'a>(rng: &mut Rng, names: &[&'a str]) -> &'a str {
    names[rng.below(names.len())]
}

/// Credential kind `k`.
pub fn cred(rng: &mut Rng, k: usize) -> Cred {
    let c = |kind, name: &str, value: String| Cred {
        kind,
        name: name.to_string(),
        value,
    };
    match k % KINDS {
        0 => c(
            "aws-key-id",
            pick(
                rng,
                &["AWS_ACCESS_KEY_ID", "aws_access_key_id", "accessKeyId"],
            ),
            format!("AKIA{}", rng.pick(UPPER32, 16)),
        ),
        1 => c(
            "aws-secret",
            pick(
                rng,
                &[
                    "AWS_SECRET_ACCESS_KEY",
                    "aws_secret_access_key",
                    "secretAccessKey",
                ],
            ),
            rng.pick(B64, 40),
        ),
        // Low-entropy key ids exist: few distinct characters.
        2 => c(
            "aws-key-id-low-entropy",
            "AWS_ACCESS_KEY_ID",
            format!("AKIA{}", rng.pick(b"QRST2345", 16)),
        ),
        3 => c(
            "github-classic",
            pick(rng, &["GITHUB_TOKEN", "gh_token", "githubToken", "GH_PAT"]),
            format!("ghp_{}", rng.pick(ALNUM, 36)),
        ),
        4 => c(
            "github-fine-grained",
            "GITHUB_PAT",
            format!(
                "github_pat_11{}_{}",
                rng.pick(ALNUM, 20),
                rng.pick(ALNUM, 59)
            ),
        ),
        5 => c(
            "gitlab",
            pick(
                rng,
                &["GITLAB_TOKEN", "gitlab_private_token", "CI_PUSH_TOKEN"],
            ),
            format!("glpat-{}", rng.pick(URLSAFE, 20)),
        ),
        6 => c(
            "slack-bot",
            pick(rng, &["SLACK_BOT_TOKEN", "slackToken", "slack_token"]),
            format!(
                "xoxb-{}-{}-{}",
                rng.pick(DIGITS, 12),
                rng.pick(DIGITS, 13),
                rng.pick(ALNUM, 24)
            ),
        ),
        7 => c(
            "slack-webhook",
            pick(rng, &["SLACK_WEBHOOK_URL", "webhook_url", "alerts_hook"]),
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                rng.pick(UPPERNUM, 9),
                rng.pick(UPPERNUM, 11),
                rng.pick(ALNUM, 24)
            ),
        ),
        8 => c(
            "stripe",
            pick(
                rng,
                &["STRIPE_SECRET_KEY", "stripe_api_key", "Stripe.apiKey"],
            ),
            format!("sk_live_{}", pick_n(rng, ALNUM, 24, 75)),
        ),
        9 => c(
            "sendgrid",
            pick(rng, &["SENDGRID_API_KEY", "sendgridKey", "mail_api_key"]),
            format!("SG.{}.{}", rng.pick(URLSAFE, 22), rng.pick(URLSAFE, 43)),
        ),
        10 => c(
            "twilio-api-key",
            pick(rng, &["TWILIO_API_KEY", "twilio_api_key_sid"]),
            format!("SK{}", rng.pick(HEX, 32)),
        ),
        11 => c(
            "twilio-auth-token",
            pick(rng, &["TWILIO_AUTH_TOKEN", "twilioAuthToken"]),
            rng.pick(HEX, 32),
        ),
        12 => c(
            "mailgun",
            pick(rng, &["MAILGUN_API_KEY", "mailgun_key"]),
            format!("key-{}", rng.pick(HEX, 32)),
        ),
        13 => c(
            "openai-project",
            pick(rng, &["OPENAI_API_KEY", "openai_key", "apiKey"]),
            format!(
                "sk-proj-{}T3BlbkFJ{}",
                rng.pick(URLSAFE, 74),
                rng.pick(URLSAFE, 74)
            ),
        ),
        14 => c(
            "openai-legacy",
            "OPENAI_API_KEY",
            format!("sk-{}T3BlbkFJ{}", rng.pick(ALNUM, 20), rng.pick(ALNUM, 20)),
        ),
        15 => c(
            "anthropic",
            pick(rng, &["ANTHROPIC_API_KEY", "anthropic_key", "CLAUDE_KEY"]),
            format!("sk-ant-api03-{}AA", rng.pick(URLSAFE, 93)),
        ),
        16 => c(
            "huggingface",
            pick(rng, &["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "hf_token"]),
            format!("hf_{}", rng.pick(LETTERS, 34)),
        ),
        17 => c(
            "datadog",
            pick(rng, &["DD_API_KEY", "DATADOG_API_KEY", "datadog_api_key"]),
            rng.pick(HEX, 32),
        ),
        18 => c(
            "vault",
            pick(rng, &["VAULT_TOKEN", "vault_token"]),
            format!("hvs.{}", pick_n(rng, URLSAFE, 24, 70)),
        ),
        19 => c(
            "heroku",
            pick(rng, &["HEROKU_API_KEY", "heroku_api_key"]),
            uuid(rng),
        ),
        20 => c(
            "npm",
            pick(rng, &["NPM_TOKEN", "npmToken"]),
            format!("npm_{}", rng.pick(ALNUM, 36)),
        ),
        21 => c(
            "pypi",
            pick(rng, &["PYPI_API_TOKEN", "TWINE_PASSWORD"]),
            format!("pypi-AgEIcHlwaS5vcmc{}", pick_n(rng, URLSAFE, 80, 60)),
        ),
        22 => c(
            "gcp-api-key",
            pick(rng, &["GOOGLE_API_KEY", "mapsKey", "FIREBASE_API_KEY"]),
            format!("AIza{}", rng.pick(URLSAFE, 35)),
        ),
        23 => c(
            "digitalocean",
            "DIGITALOCEAN_ACCESS_TOKEN",
            format!("dop_v1_{}", rng.pick(HEX, 64)),
        ),
        24 => c(
            "shopify",
            pick(rng, &["SHOPIFY_ACCESS_TOKEN", "shopify_token"]),
            format!("shpat_{}", rng.pick(HEX, 32)),
        ),
        25 => c(
            "discord-webhook",
            pick(rng, &["DISCORD_WEBHOOK", "discordHook"]),
            format!(
                "https://discord.com/api/webhooks/{}/{}",
                rng.pick(DIGITS, 19),
                rng.pick(URLSAFE, 68)
            ),
        ),
        26 => c(
            "telegram",
            pick(rng, &["TELEGRAM_BOT_TOKEN", "bot_token"]),
            format!("{}:AA{}", rng.pick(DIGITS, 10), rng.pick(URLSAFE, 33)),
        ),
        27 => c(
            "doppler",
            "DOPPLER_TOKEN",
            format!("dp.pt.{}", rng.pick(ALNUM, 43)),
        ),
        28 => c(
            "databricks",
            pick(rng, &["DATABRICKS_TOKEN", "databricks_pat"]),
            format!("dapi{}", rng.pick(HEX, 32)),
        ),
        29 => c(
            "grafana",
            pick(rng, &["GRAFANA_SA_TOKEN", "grafana_token"]),
            format!("glsa_{}_{}", rng.pick(ALNUM, 32), rng.pick(HEX, 8)),
        ),
        30 => c(
            "newrelic",
            "NEW_RELIC_API_KEY",
            format!("NRAK-{}", rng.pick(UPPERNUM, 27)),
        ),
        31 => c(
            "linear",
            "LINEAR_API_KEY",
            format!("lin_api_{}", rng.pick(ALNUM, 40)),
        ),
        32 => c(
            "postman",
            "POSTMAN_API_KEY",
            format!("PMAK-{}-{}", rng.pick(HEX, 24), rng.pick(HEX, 34)),
        ),
        33 => c(
            "dockerhub",
            pick(rng, &["DOCKERHUB_TOKEN", "DOCKER_PASSWORD"]),
            format!("dckr_pat_{}", rng.pick(URLSAFE, 27)),
        ),
        34 => c(
            "gcp-oauth-secret",
            pick(rng, &["GOOGLE_CLIENT_SECRET", "client_secret"]),
            format!("GOCSPX-{}", rng.pick(URLSAFE, 28)),
        ),
        35 => c(
            "age-key",
            "SOPS_AGE_KEY",
            format!(
                "AGE-SECRET-KEY-1{}",
                rng.pick(b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
            ),
        ),
        36 => c(
            "terraform-cloud",
            pick(rng, &["TFE_TOKEN", "token"]),
            format!("{}.atlasv1.{}", rng.pick(ALNUM, 14), rng.pick(URLSAFE, 67)),
        ),
        37 => c(
            "jwt",
            pick(rng, &["id_token", "SESSION_JWT", "authToken"]),
            format!(
                "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
                rng.pick(URLSAFE, 60),
                rng.pick(URLSAFE, 86)
            ),
        ),
        38 => c(
            "azure-storage",
            "AZURE_STORAGE_CONNECTION_STRING",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=st{};AccountKey={}==;EndpointSuffix=core.windows.net",
                rng.pick(HEX, 6),
                rng.pick(B64, 86)
            ),
        ),
        39 => c(
            "postgres-url",
            pick(rng, &["DATABASE_URL", "db_url", "SQLALCHEMY_DATABASE_URI"]),
            format!(
                "postgresql://app_{}:{}@db-{}.internal:5432/app",
                rng.pick(HEX, 3),
                rng.pick(ALNUM, 20),
                rng.pick(HEX, 4)
            ),
        ),
        40 => c(
            "mongodb-url",
            "MONGO_URI",
            format!(
                "mongodb+srv://svc:{}@cluster0.{}.mongodb.net/prod?retryWrites=true",
                rng.pick(ALNUM, 22),
                rng.pick(HEX, 5)
            ),
        ),
        41 => c(
            "basic-auth-url",
            pick(rng, &["REGISTRY_URL", "proxy", "remote"]),
            format!(
                "https://deploy:{}@git.{}.corp/org/repo.git",
                password(rng).replace(['@', '/', '#', '?', ':'], "x"),
                rng.pick(HEX, 4)
            ),
        ),
        42 => c(
            "password",
            pick(
                rng,
                &[
                    "DB_PASSWORD",
                    "password",
                    "db_pass",
                    "MYSQL_ROOT_PASSWORD",
                    "adminPassword",
                    "smtp_password",
                    "PASSWORD",
                    "redis_pwd",
                ],
            ),
            password(rng),
        ),
        43 => c(
            "password",
            pick(
                rng,
                &[
                    "DB_PASSWORD",
                    "password",
                    "PGPASSWORD",
                    "ldap_password",
                    "keystore_password",
                ],
            ),
            password(rng),
        ),
        44 => c(
            "password",
            pick(
                rng,
                &["dbPassword", "PASSWORD", "mail_password", "jdbc_password"],
            ),
            password(rng),
        ),
        45 => c(
            "generic-api-key",
            pick(
                rng,
                &[
                    "API_KEY",
                    "api_key",
                    "apiKey",
                    "X_API_KEY",
                    "payment_api_key",
                ],
            ),
            pick_n(rng, ALNUM, 32, 16),
        ),
        46 => c(
            "generic-secret",
            pick(
                rng,
                &[
                    "SECRET_KEY",
                    "client_secret",
                    "JWT_SECRET",
                    "app_secret",
                    "SESSION_SECRET",
                    "webhook_secret",
                ],
            ),
            pick_n(rng, URLSAFE, 40, 24),
        ),
        47 => c(
            "generic-token",
            pick(
                rng,
                &[
                    "ACCESS_TOKEN",
                    "auth_token",
                    "refreshToken",
                    "bot_token",
                    "service_token",
                ],
            ),
            rng.pick(ALNUM, 40),
        ),
        48 => c("rsa-key", "PRIVATE_KEY", pem(rng, "RSA PRIVATE KEY", &[])),
        49 => c("pkcs8-key", "private_key", pem(rng, "PRIVATE KEY", &[])),
        50 => c("encrypted-pem", "TLS_KEY", {
            let dek = format!(
                "DEK-Info: AES-256-CBC,{}",
                rng.pick(b"0123456789ABCDEF", 32)
            );
            pem(
                rng,
                "RSA PRIVATE KEY",
                &["Proc-Type: 4,ENCRYPTED".into(), dek],
            )
        }),
        51 => c(
            "pgp-key",
            "GPG_PRIVATE_KEY",
            pem(
                rng,
                "PGP PRIVATE KEY BLOCK",
                &[
                    "Version: GnuPG v2".into(),
                    "Comment: release signing key".into(),
                ],
            ),
        ),
        52 => c(
            "openssh-key",
            "deploy_key",
            pem(rng, "OPENSSH PRIVATE KEY", &[]),
        ),
        53 => c("ec-key", "SIGNING_KEY", pem(rng, "EC PRIVATE KEY", &[])),
        54 => c(
            "sentry",
            "SENTRY_AUTH_TOKEN",
            format!("sntrys_eyJpYXQiOjE3{}", rng.pick(B64, 120)),
        ),
        55 => c(
            "generic-secret",
            pick(rng, &["encryption_key", "MASTER_KEY", "signing_secret"]),
            rng.pick(B64, 44),
        ),
        56 => c(
            "mailchimp",
            "MAILCHIMP_API_KEY",
            format!("{}-us{}", rng.pick(HEX, 32), 1 + rng.below(20)),
        ),
        _ => c(
            "password",
            pick(
                rng,
                &["SA_PASSWORD", "rabbitmq_password", "POSTGRES_PASSWORD"],
            ),
            password(rng),
        ),
    }
}
