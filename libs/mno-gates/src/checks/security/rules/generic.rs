//! Formats with no provider: key blocks, JWTs, passwords in URLs, calls, SQL and
//! assignments, and high-entropy values assigned to secret-like names.
//!
//! The password and generic rules capture the assigned name as group `name` (so a
//! `password_hash` or a `secretName` reference can be told apart) and the value in the
//! first group after it. A value is quoted (`"…"`, `'…'`, `` `…` ``, JSON-escaped `\"…\"`)
//! or unquoted and the last thing on its line (env files, YAML, properties): an
//! unquoted value followed by `(`, `;` or `,` is code, not data.

use super::{Kind, RuleDef, basic_auth, rule};

/// Words in a name that mark a password.
macro_rules! pw_name {
    () => {
        r"(?P<name>[\w.\-]*(?:passw(?:or)?d|passphrase|pwd|pswd|pass\b)[\w.\-]*)"
    };
}

/// Words in a name that mark a token or key (passwords have their own rule).
macro_rules! secret_name {
    () => {
        r"(?P<name>[\w.\-]*(?:secret|token|api[_\-.]?key|apikey|auth[_\-.]?key|credentials?|private[_\-.]?key|access[_\-.]?key|client[_\-.]?key|signing[_\-.]?key|encryption[_\-.]?key|master[_\-.]?key|app[_\-.]?key)[\w.\-]*)"
    };
}

/// After the name: its closing quote, an optional type (`: str`, `: Final`, Go's
/// `string`), the operator (`||`/`??` for a default), and an optional wrapping call
/// (`String::from(`, `SecretStr(`) or C#'s verbatim `@`.
macro_rules! assign {
    () => {
        r#"\\?['"]?\]?(?:\s*:\s*[\w&'<>\[\]., ]{1,40}?|\s+[\w.\[\]*]{1,20})?\s*(?::=|=>|\|\|=|\?\?=|\|\||\?\?|==?|:|,)\s*(?:new\s+)?(?:[\w.]+(?:::\w+)?\(\s*)?@?"#
    };
}

/// A quoted value (any quoting, JSON-escaped too), or an unquoted one ending its line
/// (code such as `get_token(x);` or `tokens[0]` is told apart by the filters).
macro_rules! value {
    () => {
        r#"(?:\\?"((?:[^"\\\s]|\\[^"\s]){6,})\\?"|'([^'\s\\]{6,})'|`([^`\s]{6,})`|([^\s'"`]{6,})\s*(?:#.*|//.*)?\r?$)"#
    };
}

/// The no-provider family.
pub const RULES: &[RuleDef] = &[
    // A key block: the BEGIN line, then PEM headers (`Proc-Type:`, `DEK-Info:`, PGP's
    // `Version:`/`Comment:`) and blank lines, then the base64 body, with real newlines or
    // escaped ones (`\n` in JSON and .env strings), or cut into concatenated strings.
    rule(
        "private-key",
        "private key block",
        &["private key-----", "private key block-----"],
        r#"-----BEGIN[ A-Z0-9]{0,30} PRIVATE KEY(?: BLOCK)?-----(?:\\+[rn]|[\s"'+,])*(?:[A-Za-z][A-Za-z\-]{1,30}: ?[^\n\\]*(?:\\+[rn]|\r?\n)(?:\\+[rn]|[\s"'+,])*)*([A-Za-z0-9+/=]{40,})"#,
        0.0,
    )
    .multiline()
    .pos(&[
        "-----BEGIN RSA PRIVATE KEY-----\n{b:64}\n{b:64}\n-----END RSA PRIVATE KEY-----",
        "PRIVATE_KEY=\"-----BEGIN RSA PRIVATE KEY-----\\nMIIE{b:60}\\n{b:64}\\n-----END RSA PRIVATE KEY-----\"",
        "{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIE{b:60}\\n-----END PRIVATE KEY-----\\n\"}",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{H:32}\n\n{b:64}\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: build key\n\nlQOYBF{b:58}\n{b:64}\n-----END PGP PRIVATE KEY BLOCK-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA{b:40}\n-----END OPENSSH PRIVATE KEY-----",
    ])
    .neg(&[
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        "if line.starts_with(\"-----BEGIN RSA PRIVATE KEY-----\") {",
        "key = \"-----BEGIN PRIVATE KEY-----\\n<your key>\\n-----END PRIVATE KEY-----\"",
    ]),
    rule(
        "putty-private-key",
        "PuTTY private key",
        &["private-lines:"],
        r"Private-Lines:\s*\d+\s*\r?\n\s*([A-Za-z0-9+/=]{40,})",
        3.5,
    )
    .multiline()
    .pos(&["Private-Lines: 14\n{b:64}\n{b:64}"])
    .neg(&["Private-Lines: 14\n..."]),
    rule(
        "jwt",
        "JSON Web Token",
        &["eyj"],
        r"\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})",
        3.0,
    )
    .pos(&["Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{u:40}.{u:43}"])
    .neg(&["jwt = \"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\""]),
    // A password in a database URL; `@` may occur in the password itself.
    rule(
        "connection-string-password",
        "password in a connection string",
        &["postgres", "mysql", "mariadb", "mongodb", "redis", "amqp", "mssql", "sqlserver", "cockroach", "clickhouse", "neo4j", "couchdb", "oracle"],
        r#"(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|cockroachdb|clickhouse|neo4j(?:\+s)?|bolt|couchdbs?|oracle)://[^\s:/@'"]*:([^\s'"/]{3,}?)@[A-Za-z0-9.\-_\[\]]+(?:[:/?,;'"\s\\]|$)"#,
        2.0,
    )
    .pos(&[
        "DATABASE_URL=postgres://app:{a:18}@db.internal:5432/app",
        "  uri: \"mongodb+srv://svc:{a:20}@cluster0.mongo.net/prod\"",
        "url = 'mysql://root:X&p{p:14}@10.0.0.5/shop'",
    ])
    .neg(&[
        "database_url = \"postgres://user:password@localhost:5432/app\"",
        "DATABASE_URL=postgres://app:${DB_PASS}@db:5432/app",
        "REDIS_URL=redis://:<password>@redis:6379/0",
        "mongodb://admin:changeme@mongo:27017",
        "DATABASE_URL=postgres://postgres:postgres@localhost/test",
        "url = f\"postgresql://{user}:{password}@{host}/{db}\"",
    ]),
    rule(
        "basic-auth-url",
        "credentials in a URL",
        &["://", ":\\/\\/"],
        r#"(?i)\b(?:https?|ftps?|sftp|ssh|git|smtps?|ldaps?|wss?|svn|imaps?|pop3s?|nntp|socks5h?)://[^\s:/@'"<>()\[\]{}]+:([^\s'"/]+?)@[A-Za-z0-9.\-_\[\]]+(?:[:/?#'"\s,;)\\]|$)"#,
        2.0,
    )
    .pos(&[
        "git clone https://deploy:{a:20}@git.internal.example/org/repo.git",
        "PROXY=http://proxyuser:{p:16}@proxy.corp:3128",
    ])
    .neg(&[
        "https://user:pass@example.com",
        "https://username:password@host/path",
        "https://${USER}:${PASS}@registry.example.com",
        "http://admin:admin@localhost:8080",
        "https://user:<token>@github.com/org/repo",
        "see https://example.com/a:b@c",
        "    \"input\": \"https://localhost:3000/jqueryui@1.2.3\",",
        "/// assert_eq!(url.as_str(), \"ftp://user1:secre1@example.com/\");",
    ]),
    rule(
        "password-in-url-parameter",
        "password or key in a URL or DSN parameter",
        &["password=", "passwd=", "pwd=", "pass=", "token=", "secret=", "key=", "apikey="],
        concat!(
            r"(?i)[?&;](?P<name>[\w.\-]*(?:passw(?:or)?d|pwd|pass|secret|token|api[_\-]?key|apikey|access[_\-]?key))",
            r##"=([^&;\s'"<>(){}\[\],]{6,})|\s(?P<name2>passw(?:or)?d|pwd)=([^\s'"]{6,})"##
        ),
        0.0,
    )
    .kind(Kind::Password)
    .pos(&[
        "String url = \"jdbc:mysql://db:3306/shop?user=app&password={p:18}&useSSL=true\";",
        "conn = \"Server=sql01;Database=app;User Id=sa;Password=X{p:17};\"",
        "curl 'https://api.example.net/v1/items?api_key={h:32}&limit=5'",
        "dsn = \"host=db port=5432 user=app password=Q{p:15} sslmode=require\"",
    ])
    .neg(&[
        "url = \"jdbc:mysql://db/shop?user=app&password=${DB_PASSWORD}\"",
        "conn = \"Server=sql01;Database=app;User Id=sa;Password=<password>;\"",
        "https://example.com/reset?token=abc",
        "window.location = '/login?next=/home&key=value'",
        "[![codecov](https://codecov.io/gh/acme/app/graph/badge.svg?token=yt4XSmQNKQ)](https://codecov.io)",
    ]),
    rule(
        "password-in-connect-call",
        "password passed to a database connect call",
        &["getconnection", "_connect(", "new mysqli", "new pdo", "pg_connect"],
        r#"(?i)(?:getConnection\(\s*[^,()]+,|mysqli?_connect\(\s*\\?['"][^'"]*\\?['"]\s*,|new\s+(?:mysqli|PDO)\(\s*[^,()]+,)\s*\\?['"][^'"]*\\?['"]\s*,\s*\\?['"]([^'"\\]{4,})\\?['"]"#,
        0.0,
    )
    .kind(Kind::Password)
    .pos(&[
        "Connection c = DriverManager.getConnection(url, \"app\", \"{p:18}Z9\");",
        "$db = mysqli_connect(\"localhost\", \"shop\", \"Q{p:15}\");",
        "$pdo = new PDO($dsn, 'app', 'x{p:16}');",
    ])
    .neg(&[
        "Connection c = DriverManager.getConnection(url, user, password);",
        "$db = mysqli_connect(\"localhost\", \"shop\", getenv(\"DB_PASSWORD\"));",
        "$pdo = new PDO($dsn, 'app', 'changeme');",
    ]),
    rule(
        "password-on-command-line",
        "password on a command line",
        &["mysql", "sshpass", "login", "mongo", "redis-cli", "curl", "wget", "psql"],
        r#"(?i)\b(?:mysql\w*|mariadb|sshpass|login|mongo\w*|redis-cli|curl|wget|psql)\b.*?\s(?:-p|--password[= ]|-a\s|-u\s+\S+?:|--user[= ]\S+?:|--http-password[= ])\s*(?:'([^'\s]{4,})'|"([^"\s]{4,})"|([^\s'"\-][^\s'"]{3,}))"#,
        0.0,
    )
    .kind(Kind::Password)
    .pos(&[
        "mysql -h db -u root -p'{p:14}7x' shop < dump.sql",
        "sshpass -p \"{p:14}X7\" ssh deploy@host",
        "curl -u admin:{p:16}Q3 https://api.internal/v1/jobs",
        "docker login -u ci --password Wq{p:16} registry.local",
        "redis-cli -h cache -a Zt{p:18} ping",
    ])
    .neg(&[
        "mysql -u root -p shop",
        "mysql -u root -p\"$MYSQL_PASSWORD\" shop",
        "curl -u \"$USER:$TOKEN\" https://api.example.com",
        "docker login -u ci --password-stdin registry.local",
        "mkdir -p /var/lib/mysql",
    ]),
    rule(
        "password-in-sql",
        "password in an SQL statement",
        &["identified by", "password '"],
        r"(?i)\b(?:identified\s+by|password)\s+'([^'\s]{4,})'",
        0.0,
    )
    .kind(Kind::Password)
    .pos(&[
        "CREATE USER 'app'@'%' IDENTIFIED BY '{p:16}Q7';",
        "ALTER ROLE reporting WITH PASSWORD 'Rk{p:16}';",
    ])
    .neg(&["CREATE USER 'app'@'%' IDENTIFIED BY 'changeme';", "ALTER ROLE app WITH PASSWORD :'pw';"]),
    rule(
        "netrc-password",
        "password in a .netrc or similar file",
        &["password"],
        r#"(?i)^\s*(?:machine\s+\S+\s+(?:login\s+\S+\s+)?)?(?P<name>password)\s+([^\s'"]{4,})\s*$"#,
        0.0,
    )
    .kind(Kind::Password)
    .pos(&["machine api.internal login deploy password {p:16}K2", "  password W{p:15}5"])
    .neg(&["password changeme", "  password required for login"]),
    rule(
        "authorization-basic",
        "HTTP basic authorization credentials",
        &["basic "],
        r#"(?i)\bauthorization\\?['"]?\s*[:=,]\s*\\?['"]?basic\s+([A-Za-z0-9+/]{12,}={0,2})"#,
        3.0,
    )
    .check(basic_auth)
    .pos(&["curl -H \"Authorization: Basic {basic}\" https://api.internal/"])
    .neg(&["Authorization: Basic <base64 user:password>", "Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ="]),
    rule(
        "markup-password",
        "password or token in XML/HTML configuration",
        &["pass", "pwd", "secret", "token", "api_key>", "api-key>", "apikey>"],
        concat!(
            r#"(?i)(?:<(?P<name>[\w.:\-]*(?:passw(?:or)?d|pass\b|pwd|secret|token|api[_\-]?key)[\w.:\-]*)>([^<\s]{6,})</|"#,
            r#"(?:name|key)=\\?"(?P<name2>[\w.\-]*(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key)[\w.\-]*)\\?"\s+value=\\?"([^"\\]{6,})\\?")"#
        ),
        0.0,
    )
    .kind(Kind::Password)
    .pos(&[
        "  <password>Tq{p:16}</password>",
        "  <dbPass>W{p:17}</dbPass>",
        "<add key=\"DbPassword\" value=\"Xn{p:16}\" />",
        "<property name=\"spring.datasource.password\" value=\"Y{p:17}\"/>",
    ])
    .neg(&[
        "  <password>${db.password}</password>",
        "<add key=\"DbPassword\" value=\"\" />",
        "<label for=\"password\">Password</label>",
    ]),
    // Passwords: shorter and wordier than tokens, so the value must mix classes with a
    // digit or symbol, and must not be a default or a placeholder.
    rule(
        "password-assignment",
        "password assigned in code or configuration",
        &["pass", "pwd", "pswd"],
        concat!("(?i)", pw_name!(), assign!(), value!()),
        0.0,
    )
    .kind(Kind::Password)
    .pos(&[
        "DB_PASSWORD=X&p{p:18}",
        "const DB_PASSWORD = \"{p:18}A1\";",
        "    private static final String PASSWORD = \"{p:20}b2\";",
        "PASSWORD: Final = '{p:16}C3'",
        "db_pass: \"{p:16}D4\"",
        "psycopg2.connect(host='db', user='app', password='{p:16}E5')",
        "\"password\": \"{p:16}F6\",",
        "    \"source\": [\"db_password = \\\"{p:16}G7\\\"\\n\"]",
        "let password: &str = \"{p:16}H8\";",
        "define('DB_PASSWORD', 'I9{p:16}');",
    ])
    .neg(&[
        "password: changeme",
        "password = \"changeme123\"",
        "DB_PASSWORD=${DB_PASSWORD}",
        "password = os.environ[\"DB_PASSWORD\"]",
        "password = user.getPassword();",
        "password_field = forms.CharField(widget=forms.PasswordInput)",
        "\"password_label\": \"Password:\",",
        "PASSWORD_HASH = \"$2b$12$KIXQJvLJg2VfE5YQm9s9Oe4b0gk2u0aX8QeGQyZ6p5uHf3S1lKx1W\"",
        "password_hash = \"5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99\"",
        "db_password_file: /run/secrets/db_password_v2",
        "password = \"P@ssw0rd123!\"",
        ".password-input:focus,",
        "            .decrypt(password, self.encrypted_data)?",
        "bypass_cache = true",
        "/// https://user@pass:example.com:1234/foo/bar?baz#quux",
    ]),
    // Tokens and keys assigned to a secret-like name: must look random.
    rule(
        "generic-secret-assignment",
        "high-entropy secret assigned to a secret-like name",
        &[
            "secret", "token", "api_key", "apikey", "api-key", "auth_key", "auth-key",
            "credential", "private_key", "private-key", "access_key", "access-key",
            "client_key", "signing_key", "encryption_key", "master_key", "app_key", "appkey",
            "privatekey", "accesskey", "clientkey", "signingkey", "encryptionkey", "masterkey",
            "authkey", "api.key", "access.key", "private.key",
        ],
        concat!("(?i)", secret_name!(), assign!(), value!()),
        3.5,
    )
    .kind(Kind::Generic)
    .pos(&[
        "api_token = \"{a:32}\"",
        "  client_key: {b:40}",
        "const signingKey = `{a:28}`;",
        "SECRET_KEY_BASE={h:64}",
    ])
    .neg(&[
        "token = request.headers.get(\"Authorization\")",
        "auth_token: \"********************\"",
        "secretName: db-credentials-v2",
        "api_key: \"<your-api-key-here>\"",
        "token: {{ secrets.GITHUB_TOKEN }}",
        "csrf_token_field = \"csrf_token_input_name\"",
        "        let key = PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(",
        "request_token: 550e8400-e29b-41d4-a716-446655440000",
        "  credentials: yegor256/home#assets/crates-credentials",
        "secret_key = \"replace-me-with-a-real-key\"",
    ]),
    // A value given in prose, as READMEs and runbooks do: "Set `TWILIO_AUTH_TOKEN` to
    // `…`". Only a quoted value after a secret-like name and `to`/`is`/`as`, and it must
    // look random like any generic value.
    rule(
        "generic-secret-prose",
        "secret-like value given in prose",
        &[
            "secret", "token", "api_key", "apikey", "api-key", "auth_key", "credential",
            "private_key", "access_key", "client_key", "signing_key", "master_key", "app_key",
        ],
        concat!(
            "(?i)",
            secret_name!(),
            r#"\x60?\s+(?:to|is|as|=)\s+(?:\x60([^\x60\s]{12,})\x60|"([^"\s]{12,})"|'([^'\s]{12,})')"#
        ),
        3.5,
    )
    .kind(Kind::Generic)
    .pos(&[
        "Set `TWILIO_AUTH_TOKEN` to `{h:32}` in your shell.",
        "The staging api_key is \"{a:32}\" until rotation.",
    ])
    .neg(&[
        "Set `API_TOKEN` to `<your token>` in your shell.",
        "Set `TOKEN_TTL` to `3600` seconds.",
        "Set `SECRET_KEY` to `${SECRET_KEY}` before starting.",
        "Point `CLIENT_SECRET` to `/run/secrets/client_secret`.",
    ]),
    // A bearer token in code or a curl command; yields to the specific rules (JWT, …).
    rule(
        "authorization-bearer",
        "bearer token",
        &["bearer"],
        // The token must end where the value does (not at a `{template}` or `...`).
        r#"(?i)\bbearer\s+([A-Za-z0-9_\-.=+/~]{20,})(?:$|[\s"'\x60,;)\]}\\<&])"#,
        3.5,
    )
    .kind(Kind::Generic)
    .pos(&["curl -H \"Authorization: Bearer {a:40}\" https://api.internal/v2"])
    .neg(&[
        "-H \"Authorization: Bearer $API_TOKEN\"",
        "Authorization: Bearer <token>",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{payload}",
    ]),
];
