//! A labeled corpus generator: planted fake credentials among look-alikes, in many file
//! kinds, graded by location (file and line) as the hidden corpus is.
//!
//! Bodies come from a seeded generator at test time rather than being committed:
//! realistic-looking tokens in the repository would trip push protection and every other
//! scanner that reads it.

pub mod carriers;
pub mod credentials;
pub mod lookalikes;

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

use carriers::{FILE_KINDS, render, special};
use lookalikes::LookAlike;

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

/// A planted credential's location and kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Label {
    pub file: String,
    pub line: usize,
    pub kind: String,
}

/// What was written: planted labels, and the kind of look-alike on each other line.
#[derive(Default)]
pub struct Corpus {
    pub planted: Vec<Label>,
    pub lookalikes: Vec<Label>,
    /// Every planted secret value (for the redaction test).
    pub secrets: Vec<String>,
}

impl Corpus {
    /// Add a corpus written under the sub-folder `prefix`.
    pub fn absorb(&mut self, other: Corpus, prefix: &str) {
        let moved = |l: Label| Label {
            file: format!("{prefix}/{}", l.file),
            ..l
        };
        self.planted.extend(other.planted.into_iter().map(moved));
        self.lookalikes
            .extend(other.lookalikes.into_iter().map(moved));
        self.secrets.extend(other.secrets);
    }
}

fn filler(ext: &str, comment: &str, rng: &mut Rng) -> String {
    let code = match ext {
        "py" => [
            "import os",
            "def handler(event, context):",
            "    return {\"ok\": True}",
            "logger = logging.getLogger(__name__)",
        ],
        "js" | "ts" => [
            "import express from 'express';",
            "const app = express();",
            "app.listen(3000);",
            "module.exports = { handler };",
        ],
        "go" => [
            "package main",
            "import \"fmt\"",
            "func main() { fmt.Println(\"ready\") }",
            "type Config struct{ Port int }",
        ],
        "java" | "kt" | "cs" => [
            "public class AppConfig {",
            "    private int port = 8080;",
            "}",
            "    // TODO: move to vault",
        ],
        "rb" => ["require 'json'", "module App", "end", "puts 'ready'"],
        "php" => [
            "<?php",
            "require __DIR__ . '/vendor/autoload.php';",
            "echo 'ok';",
            "$app->run();",
        ],
        "rs" => ["use std::env;", "fn main() {", "}", "#[derive(Debug)]"],
        "yaml" | "k8s.yaml" => [
            "apiVersion: v1",
            "kind: Secret",
            "metadata:",
            "  name: app-secrets",
        ],
        "json" | "ipynb" => [
            "{",
            "  \"name\": \"app\",",
            "  \"version\": \"1.0.0\",",
            "}",
        ],
        "md" => [
            "## Configuration",
            "Set the variables below before you deploy.",
            "",
            "| name | meaning |",
        ],
        "sql" => [
            "BEGIN;",
            "CREATE TABLE settings (name text, value text);",
            "COMMIT;",
            "",
        ],
        "Dockerfile" => [
            "FROM python:3.12-slim",
            "WORKDIR /app",
            "COPY . .",
            "CMD [\"python\", \"app.py\"]",
        ],
        "tf" => [
            "resource \"aws_db_instance\" \"main\" {",
            "  engine = \"postgres\"",
            "}",
            "provider \"aws\" {",
        ],
        _ => ["[server]", "port = 8080", "timeout = 30", ""],
    };
    let line = code[rng.below(code.len())].to_string();
    if rng.below(6) == 0 && !comment.is_empty() {
        format!(
            "{comment} configuration for the {} service",
            ["billing", "auth", "search"][rng.below(3)]
        )
    } else {
        line
    }
}

/// Write the corpus under `root`: `files_per_kind` files of each kind, each with a few
/// planted credentials among look-alikes and filler.
pub fn write_corpus(root: &Path, rng: &mut Rng, files_per_kind: usize) -> Corpus {
    let mut planted = Vec::new();
    let mut lookalikes = Vec::new();
    let mut secrets = Vec::new();
    let mut next_cred = 0usize;
    let mut next_look = 0usize;
    for &(ext, comment) in FILE_KINDS {
        for f in 0..files_per_kind {
            let name = match ext {
                "Dockerfile" => format!("svc{f}/Dockerfile"),
                "env" => format!("svc{f}/.env"),
                e => format!(
                    "svc{f}/{}.{e}",
                    ["config", "settings", "main", "deploy"][f % 4]
                ),
            };
            let mut text = String::new();
            let mut line = 1;
            if ext == "k8s.yaml" {
                let header = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque\ndata:\n";
                text.push_str(header);
                line += header.matches('\n').count();
            }
            let push = |text: &mut String, lines: &[String], line: &mut usize| {
                for l in lines {
                    let _ = writeln!(text, "{l}");
                    *line += l.matches('\n').count() + 1;
                }
            };
            for slot in 0..12 {
                let f_line = filler(ext, comment, rng);
                push(&mut text, &[f_line], &mut line);
                if slot % 3 == 0 {
                    // A planted credential: every kind in turn, so each file kind meets many.
                    let cred = credentials::cred(rng, next_cred);
                    next_cred += 1;
                    let (lines, at) = match special(ext, &cred, rng) {
                        Some(s) if rng.below(2) == 0 => s,
                        _ => render(ext, &cred, rng),
                    };
                    planted.push(Label {
                        file: name.clone(),
                        line: line + at,
                        kind: cred.kind.to_string(),
                    });
                    secrets.push(cred.value.clone());
                    push(&mut text, &lines, &mut line);
                } else {
                    let look = lookalikes::lookalike(rng, next_look);
                    next_look += 1;
                    let (kind, lines) = match look {
                        LookAlike::Assigned(c) => {
                            let kind = format!("placeholder {}={}", c.name, c.value);
                            (kind, render(ext, &c, rng).0)
                        }
                        LookAlike::Raw(kind, text) => (kind.to_string(), vec![text]),
                    };
                    lookalikes.push(Label {
                        file: name.clone(),
                        line,
                        kind,
                    });
                    push(&mut text, &lines, &mut line);
                }
            }
            let path = root.join(&name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
    Corpus {
        planted,
        lookalikes,
        secrets,
    }
}

/// Recall, precision and what went wrong, by location.
pub struct Score {
    pub recall: f64,
    pub precision: f64,
    pub misses: Vec<Label>,
    /// False positives: location, the rule that fired, and what was there.
    pub false_positives: Vec<(String, usize, String, String)>,
    pub found_locations: usize,
}

/// Grade findings (file, line, rule) against the planted labels.
pub fn score(corpus: &Corpus, findings: &[(String, usize, String)]) -> Score {
    let planted: BTreeSet<(&str, usize)> = corpus
        .planted
        .iter()
        .map(|l| (l.file.as_str(), l.line))
        .collect();
    let found: BTreeSet<(&str, usize)> =
        findings.iter().map(|(f, l, _)| (f.as_str(), *l)).collect();
    let misses: Vec<Label> = corpus
        .planted
        .iter()
        .filter(|l| !found.contains(&(l.file.as_str(), l.line)))
        .cloned()
        .collect();
    let tp = found.iter().filter(|x| planted.contains(*x)).count();
    let mut false_positives = Vec::new();
    let mut seen = BTreeSet::new();
    for (f, l, rule) in findings {
        if planted.contains(&(f.as_str(), *l)) || !seen.insert((f.clone(), *l)) {
            continue;
        }
        // The look-alike written at or just above this line.
        let what = corpus
            .lookalikes
            .iter()
            .filter(|x| x.file == *f && x.line <= *l)
            .max_by_key(|x| x.line)
            .map_or("filler".to_string(), |x| x.kind.clone());
        false_positives.push((f.clone(), *l, rule.clone(), what));
    }
    let recall = tp as f64 / planted.len().max(1) as f64;
    let precision = tp as f64 / found.len().max(1) as f64;
    Score {
        recall,
        precision,
        misses,
        false_positives,
        found_locations: found.len(),
    }
}
