//! How each file kind holds a value: the assignment forms, quoting and escaping people use.

use super::Rng;
use super::credentials::Cred;

/// The file kinds of the corpus: (extension or name, comment prefix).
pub const FILE_KINDS: &[(&str, &str)] = &[
    ("py", "#"),
    ("js", "//"),
    ("ts", "//"),
    ("go", "//"),
    ("java", "//"),
    ("kt", "//"),
    ("cs", "//"),
    ("rb", "#"),
    ("php", "//"),
    ("rs", "//"),
    ("sh", "#"),
    ("env", "#"),
    ("yaml", "#"),
    ("json", ""),
    ("toml", "#"),
    ("ini", ";"),
    ("xml", ""),
    ("properties", "#"),
    ("Dockerfile", "#"),
    ("tf", "#"),
    ("k8s.yaml", "#"),
    ("ipynb", ""),
    ("md", ""),
    ("sql", "--"),
];

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.char_indices() {
        if c.is_ascii_uppercase()
            && i > 0
            && !name[..i].ends_with(|p: char| p.is_ascii_uppercase() || p == '_')
        {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out.replace('.', "_")
}

fn upper(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

fn camel(name: &str) -> String {
    let s = snake(name);
    let mut out = String::new();
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn json_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('/', "\\/")
}

/// Lines holding `cred` in a file of kind `ext`, and the index of the line to report.
pub fn render(ext: &str, cred: &Cred, rng: &mut Rng) -> (Vec<String>, usize) {
    let v = &cred.value;
    if v.contains('\n') {
        return render_block(ext, cred, rng);
    }
    let n = &cred.name;
    let one = |s: String| (vec![s], 0);
    let r = rng.below(4);
    match ext {
        "py" => match r {
            0 => one(format!("{} = \"{v}\"", upper(n))),
            1 => one(format!("{} = '{v}'", snake(n))),
            2 => one(format!("    \"{}\": \"{v}\",", snake(n))),
            _ => one(format!("os.environ.setdefault(\"{}\", \"{v}\")", upper(n))),
        },
        "js" | "ts" => match r {
            0 => one(format!("const {} = '{v}';", camel(n))),
            1 => one(format!("export const {} = \"{v}\";", upper(n))),
            2 => one(format!("  {}: `{v}`,", camel(n))),
            _ => one(format!(
                "process.env.{} = process.env.{} || \"{v}\";",
                upper(n),
                upper(n)
            )),
        },
        "go" => match r {
            0 => one(format!("const {} = \"{v}\"", camel(n))),
            1 => one(format!("\t{} := \"{v}\"", camel(n))),
            2 => one(format!("var {} string = `{v}`", camel(n))),
            _ => one(format!("\tos.Setenv(\"{}\", \"{v}\")", upper(n))),
        },
        "java" => match r {
            0 | 1 => one(format!(
                "    private static final String {} = \"{v}\";",
                upper(n)
            )),
            2 => one(format!(
                "        props.setProperty(\"{}\", \"{v}\");",
                snake(n).replace('_', ".")
            )),
            _ => one(format!("    String {} = \"{v}\";", camel(n))),
        },
        "kt" => match r {
            0 => one(format!("const val {} = \"{v}\"", upper(n))),
            1 => one(format!("    val {}: String = \"{v}\"", camel(n))),
            _ => one(format!("private val {} = \"{v}\"", camel(n))),
        },
        "cs" => match r {
            0 => one(format!("    private const string {} = \"{v}\";", camel(n))),
            1 => one(format!("        var {} = @\"{v}\";", camel(n))),
            _ => one(format!(
                "    public static readonly string {} = \"{v}\";",
                upper(n)
            )),
        },
        "rb" => match r {
            0 => one(format!("{} = '{v}'", upper(n))),
            1 => one(format!("  config.{} = \"{v}\"", snake(n))),
            _ => one(format!("  {}: '{v}',", snake(n))),
        },
        "php" => match r {
            0 => one(format!("${} = '{v}';", snake(n))),
            1 => one(format!("define('{}', '{v}');", upper(n))),
            _ => one(format!("    '{}' => '{v}',", snake(n))),
        },
        "rs" => match r {
            0 => one(format!("const {}: &str = \"{v}\";", upper(n))),
            1 => one(format!("    let {} = String::from(\"{v}\");", snake(n))),
            _ => one(format!("static {}: &'static str = \"{v}\";", upper(n))),
        },
        "sh" => match r {
            0 => one(format!("export {}='{v}'", upper(n))),
            1 => one(format!("{}=\"{v}\" ./deploy.sh", upper(n))),
            _ => (
                vec![
                    "cat > .env <<EOF".into(),
                    format!("{}={v}", upper(n)),
                    "EOF".into(),
                ],
                1,
            ),
        },
        "env" => match r {
            0 | 1 => one(format!("{}={v}", upper(n))),
            _ => one(format!("{}=\"{v}\"", upper(n))),
        },
        "yaml" => match r {
            0 => one(format!("  {}: {v}", snake(n))),
            1 => one(format!("    {}: \"{v}\"", snake(n))),
            _ => one(format!("      - {}={v}", upper(n))),
        },
        "json" => one(format!("    \"{}\": \"{}\",", camel(n), json_escape(v))),
        "toml" => one(format!("{} = \"{v}\"", snake(n))),
        "ini" => one(format!("{} = {v}", snake(n))),
        "xml" => match r {
            0 | 1 => one(format!("  <{}>{v}</{}>", camel(n), camel(n))),
            _ => one(format!("  <add key=\"{}\" value=\"{v}\" />", camel(n))),
        },
        "properties" => one(format!("{}={v}", snake(n).replace('_', "."))),
        "Dockerfile" => match r {
            0 | 1 => one(format!("ENV {}={v}", upper(n))),
            _ => one(format!("ARG {}=\"{v}\"", upper(n))),
        },
        "tf" => one(format!("  {} = \"{v}\"", snake(n))),
        "k8s.yaml" => match r {
            0 | 1 => one(format!("  {}: \"{v}\"", upper(n))),
            _ => {
                use base64::Engine;
                let b = base64::engine::general_purpose::STANDARD.encode(v);
                one(format!("  {}: {b}", snake(n).replace('_', "-")))
            }
        },
        "ipynb" => one(format!(
            "    \"{} = \\\"{}\\\"\\n\",",
            snake(n),
            json_escape(v).replace("\\\"", "\\\\\\\"")
        )),
        "md" => match r {
            0 | 1 => one(format!("export {}={v}", upper(n))),
            _ => one(format!("Set `{}` to `{v}` in your shell.", upper(n))),
        },
        "sql" => one(format!(
            "INSERT INTO settings (name, value) VALUES ('{}', '{v}');",
            snake(n)
        )),
        _ => one(format!("{n}={v}")),
    }
}

/// A key block: real newlines where the format allows them, escaped ones where it does not.
fn render_block(ext: &str, cred: &Cred, rng: &mut Rng) -> (Vec<String>, usize) {
    let v = &cred.value;
    let n = upper(&cred.name);
    let lines: Vec<String> = v.lines().map(str::to_string).collect();
    let escaped = v.replace('\n', "\\n");
    match ext {
        "env" => (vec![format!("{n}=\"{escaped}\"")], 0),
        "json" => (vec![format!("  \"{}\": \"{}\",", snake(&n), escaped)], 0),
        "ipynb" => (
            vec![format!(
                "    \"key = \\\"{}\\\"\\n\",",
                v.replace('\n', "\\\\n")
            )],
            0,
        ),
        "yaml" | "k8s.yaml" => {
            let mut out = vec![format!("  {}: |", snake(&n))];
            out.extend(lines.iter().map(|l| format!("    {l}")));
            (out, 1)
        }
        "py" => {
            let mut out = lines.clone();
            out[0] = format!("{n} = \"\"\"{}", lines[0]);
            let last = out.len() - 1;
            out[last].push_str("\"\"\"");
            (out, 0)
        }
        "js" | "ts" | "go" => {
            let mut out = lines.clone();
            out[0] = format!("const {} = `{}", camel(&n), lines[0]);
            let last = out.len() - 1;
            out[last].push('`');
            (out, 0)
        }
        "java" | "cs" | "kt" => {
            let mut out = vec![format!("    String {} =", camel(&n))];
            out.extend(lines.iter().map(|l| format!("        \"{l}\\n\" +")));
            out.push("        \"\";".into());
            (out, 1)
        }
        "tf" => {
            let mut out = vec![format!("  {} = <<-EOT", snake(&n))];
            out.extend(lines.iter().map(|l| format!("    {l}")));
            out.push("  EOT".into());
            (out, 1)
        }
        "sh" if rng.below(2) == 0 => (vec![format!("echo -e \"{escaped}\" > key.pem")], 0),
        "md" => {
            let mut out = vec!["```".to_string()];
            out.extend(lines);
            out.push("```".into());
            (out, 1)
        }
        _ => (lines, 0),
    }
}

/// Forms that are not `name = value`: calls, URLs, command lines. `None` when the kind
/// has no such form for this credential.
pub fn special(ext: &str, cred: &Cred, rng: &mut Rng) -> Option<(Vec<String>, usize)> {
    let v = &cred.value;
    let one = |s: String| Some((vec![s], 0));
    if v.contains('\n') {
        return None;
    }
    match (cred.kind, ext) {
        ("password", "java") => one(format!(
            "        Connection conn = DriverManager.getConnection(\"jdbc:postgresql://db:5432/app\", \"app\", \"{v}\");"
        )),
        ("password", "php") if rng.below(2) == 0 => one(format!(
            "$link = mysqli_connect(\"db.local\", \"shop\", \"{v}\");"
        )),
        ("password", "py") => one(format!(
            "conn = psycopg2.connect(host=\"db\", dbname=\"app\", user=\"app\", password='{v}')"
        )),
        ("password", "sh") if !v.contains('\'') => {
            one(format!("mysqldump -h db -u backup -p'{v}' shop > shop.sql"))
        }
        ("password", "properties") => {
            let safe: String = v.chars().filter(|c| !"&;#?".contains(*c)).collect();
            one(format!(
                "db.url=jdbc:mysql://db:3306/shop?user=shop&password={safe}&useSSL=true"
            ))
        }
        ("password", "sql") if !v.contains('\'') => {
            one(format!("CREATE USER 'report'@'%' IDENTIFIED BY '{v}';"))
        }
        ("password", "md") => {
            let safe: String = v.chars().filter(|c| !":@/#?".contains(*c)).collect();
            one(format!(
                "    curl -u admin:{safe} https://ci.internal/api/json"
            ))
        }
        ("generic-token" | "generic-api-key", "sh") => one(format!(
            "curl -H \"Authorization: Bearer {v}\" https://api.internal.example/v2/jobs"
        )),
        ("generic-api-key", "md") => one(format!(
            "    https://api.weather.example/v1/forecast?city=Oslo&api_key={v}"
        )),
        ("openai-project" | "anthropic" | "sendgrid" | "stripe", "py") => {
            one(format!("client = Client(\"{v}\")"))
        }
        ("github-classic", "sh") => one(format!(
            "git clone https://x-access-token:{v}@github.com/acme/infra.git"
        )),
        _ => None,
    }
}
