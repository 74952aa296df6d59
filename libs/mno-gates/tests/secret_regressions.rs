//! The misses of the hidden corpus, one test each: they failed on the scanner before
//! the 177-rule set. Bodies are drawn from a seeded generator (see secrets_corpus.rs).

use mno_gates::checks::security::Detector;

// The corpus generator's seeded RNG, alphabets and UUID shape; the rest of it is unused here.
#[allow(dead_code)]
mod corpus_gen;

use corpus_gen::Rng;
use corpus_gen::credentials::{ALNUM, B64, HEX, uuid};

fn lines_found(text: &str) -> Vec<(usize, &'static str)> {
    let d = Detector::new(3.5, &[]).unwrap();
    d.scan(text.as_bytes())
        .iter()
        .map(|h| (h.line, h.rule.id))
        .collect()
}

fn body(rng: &mut Rng) -> String {
    (0..4)
        .map(|_| rng.pick(B64, 64))
        .collect::<Vec<_>>()
        .join("\\n")
}

#[test]
fn pem_key_with_escaped_newlines_in_env_and_json_is_found() {
    let mut rng = Rng(11);
    let env = format!(
        "X=1\nPRIVATE_KEY=\"-----BEGIN RSA PRIVATE KEY-----\\nMIIE{}\\n-----END RSA PRIVATE KEY-----\"\n",
        body(&mut rng)
    );
    assert!(lines_found(&env).contains(&(2, "private-key")), "{env}");
    let json = format!(
        "{{\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIE{}\\n-----END PRIVATE KEY-----\\n\"\n}}\n",
        body(&mut rng).replace('/', "\\/")
    );
    assert!(lines_found(&json).contains(&(2, "private-key")), "{json}");
}

#[test]
fn encrypted_pem_and_pgp_blocks_with_headers_are_found() {
    let mut rng = Rng(12);
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,{}\n\n{}\n-----END RSA PRIVATE KEY-----\n",
        rng.pick(b"0123456789ABCDEF", 32),
        rng.pick(B64, 64)
    );
    assert_eq!(lines_found(&pem), vec![(1, "private-key")]);
    let pgp = format!(
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: ci\n\nlQOYBG{}\n-----END PGP PRIVATE KEY BLOCK-----\n",
        rng.pick(B64, 58)
    );
    assert_eq!(lines_found(&pgp), vec![(1, "private-key")]);
}

#[test]
fn passwords_with_punctuation_in_constants_and_connect_calls_are_found() {
    let pw = "X&pCl0pI@bN@zI*e@rBW6x";
    for (line, rule) in [
        (
            format!("const DB_PASSWORD = \"{pw}\";"),
            "password-assignment",
        ),
        (
            format!("    private static final String PASSWORD = \"{pw}\";"),
            "password-assignment",
        ),
        (format!("PASSWORD: Final = '{pw}'"), "password-assignment"),
        (format!("DB_PASSWORD={pw}"), "password-assignment"),
        (
            format!("c = DriverManager.getConnection(url, \"app\", \"{pw}\");"),
            "password-in-connect-call",
        ),
        (
            format!("$c = mysql_connect(\"db\", \"app\", \"{pw}\");"),
            "password-in-connect-call",
        ),
        (
            format!("conn = psycopg2.connect(host='db', password='{pw}')"),
            "password-assignment",
        ),
        (
            format!("mysql -u root -p'{pw}' shop"),
            "password-on-command-line",
        ),
        (
            format!(
                "url = \"jdbc:mysql://db/shop?user=x&password={}\"",
                pw.replace('&', "")
            ),
            "password-in-url-parameter",
        ),
    ] {
        let found = lines_found(&format!("{line}\n"));
        assert!(found.contains(&(1, rule)), "{line}: {found:?}");
    }
}

#[test]
fn provider_tokens_that_had_no_rule_are_found() {
    let mut rng = Rng(13);
    let cases = [
        (
            format!(
                "SENDGRID_API_KEY=SG.{}.{}",
                rng.pick(ALNUM, 22),
                rng.pick(ALNUM, 43)
            ),
            "sendgrid-api-key",
        ),
        (
            format!("TWILIO_API_KEY=SK{}", rng.pick(HEX, 32)),
            "twilio-api-key",
        ),
        (
            format!("HEROKU_API_KEY={}", uuid(&mut rng)),
            "heroku-api-key",
        ),
        (
            format!("OPENAI_API_KEY=sk-proj-{}", rng.pick(ALNUM, 120)),
            "openai-api-key",
        ),
        (
            format!("ANTHROPIC_API_KEY=sk-ant-api03-{}AA", rng.pick(ALNUM, 93)),
            "anthropic-api-key",
        ),
        (
            format!("MAILGUN_API_KEY=key-{}", rng.pick(HEX, 32)),
            "mailgun-api-key",
        ),
        (
            format!("HF_TOKEN=hf_{}", rng.pick(ALNUM, 34)),
            "hugging-face-token",
        ),
        (
            format!("DD_API_KEY={}", rng.pick(HEX, 32)),
            "datadog-api-key",
        ),
        (
            format!("VAULT_TOKEN=hvs.{}", rng.pick(ALNUM, 90)),
            "vault-token",
        ),
        (
            format!(
                "git clone https://deploy:{}@git.corp.internal/x.git",
                rng.pick(ALNUM, 20)
            ),
            "basic-auth-url",
        ),
    ];
    for (line, rule) in cases {
        let found = lines_found(&format!("{line}\n"));
        assert!(found.contains(&(1, rule)), "{line}: {found:?}");
    }
}

#[test]
fn aws_key_id_is_judged_by_shape_not_entropy() {
    // Entropy about 2.9 bits a character: the old floor of 3.0 dropped it.
    let line = format!("aws_access_key_id = AKIA{}\n", "QQQQRRRRSSSS2233");
    assert_eq!(lines_found(&line), vec![(1, "aws-access-key-id")]);
    assert!(lines_found("aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n").is_empty());
}
