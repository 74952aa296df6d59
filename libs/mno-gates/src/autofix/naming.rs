//! `naming-rename`: a file, folder or registry module renamed as its naming rule wants,
//! with the references to it updated.
//!
//! A file or folder is renamed in the patch itself (`rename from` / `rename to`, as
//! `git mv` shows it). References updated in every text file of the tree:
//!
//! - its root-relative path (`deploy/App_Settings.env`), and for a file its name
//!   (`App_Settings.env`), as whole words;
//! - for a folder, `Name/` in the files of the folder holding it (relative paths);
//! - Rust: `mod Name;` and module paths `…::Name::…` / `use Name::…` (a type of the same
//!   name is left alone); Python: `from …Name import`, and `import Name` becomes
//!   `import new_name as Name` so the code using it keeps working; JavaScript and
//!   TypeScript: relative import specifiers without extension (`'./Name'`).
//!
//! A registry module (`naming.module-name`) is renamed where the registry names it (its
//! `name:` and the dependencies on it) and in `build_verification.modules` of
//! `root.gates.yaml`. Anything else that names it (process names, scripts) is for the
//! reviewer: the note says so.

use std::collections::BTreeMap;

use ignore::WalkBuilder;
use regex::Regex;

use super::{Cx, FileChange, Fix, read_text};
use crate::config::CONFIG_FILE;
use crate::finding::Finding;

/// The fixer's name in reports.
pub(super) const NAME: &str = "naming-rename";

/// Text files larger than this are not searched for references.
const MAX_REF_FILE: u64 = 1 << 20;

/// The new name in a suggestion (`rename to `x``), when there is one.
fn suggested(f: &Finding, prefix: &str) -> Option<String> {
    let s = f.suggested_fix.as_deref()?.strip_prefix(prefix)?;
    let end = s.find('`')?;
    Some(s[..end].to_string()).filter(|n| !n.is_empty())
}

/// File and folder names with a suggested name.
pub(super) fn applies_file(f: &Finding) -> bool {
    f.check == crate::checks::naming::CHECK
        && f.rule_id != "naming.module-name"
        && suggested(f, "rename to `").is_some()
}

/// Registry module names with a suggested name.
pub(super) fn applies_module(f: &Finding) -> bool {
    f.check == crate::checks::naming::CHECK
        && f.rule_id == "naming.module-name"
        && suggested(f, "rename the module `").is_some()
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// `text` with whole-word occurrences of `old` replaced by `new`: the character before is
/// not a word character nor `.`, the one after is not a word character nor `.` followed
/// by one (`a.env.example` is another file; `see a.env.` is this one); `old` ending in `/`
/// needs no boundary after it.
fn replace_words(text: &str, old: &str, new: &str) -> String {
    if old.is_empty() || !text.contains(old) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(old) {
        if i < last {
            continue;
        }
        let before = text[..i].chars().next_back();
        let rest = &text[i + old.len()..];
        let mut after = rest.chars();
        let a1 = after.next();
        let a2 = after.next();
        let left_ok = before.is_none_or(|c| !word_char(c) && c != '.');
        // A folder's `Name/` ends at its own slash.
        let right_ok = old.ends_with('/')
            || match a1 {
                None => true,
                Some('.') => a2.is_none_or(|c| !word_char(c)),
                Some(c) => !word_char(c),
            };
        if left_ok && right_ok {
            out.push_str(&text[last..i]);
            out.push_str(new);
            last = i + old.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Language-aware references to a renamed source file's module name.
struct ModuleRefs {
    ext: String,
    rules: Vec<(Regex, String)>,
}

impl ModuleRefs {
    fn new(old_stem: &str, new_stem: &str, ext: &str) -> ModuleRefs {
        let o = regex::escape(old_stem);
        let rules: Vec<(&str, String)> = match ext {
            "rs" => vec![
                (r"\bmod(\s+)OLD(\s*[;{])", "mod${1}NEW${2}".into()),
                (r"(::|\buse\s+)OLD::", "${1}NEW::".into()),
            ],
            "py" => vec![
                (
                    r"(?m)^(\s*from\s+(?:[\w.]*\.)?)OLD(\s+import\b)",
                    "${1}NEW${2}".into(),
                ),
                (
                    r"(?m)^(\s*)import\s+OLD\s*$",
                    format!("${{1}}import NEW as {old_stem}"),
                ),
            ],
            "js" | "mjs" | "cjs" | "jsx" | "ts" | "tsx" => vec![(
                r#"(['"]\.{1,2}/(?:[^'"\n]*/)?)OLD(['"])"#,
                "${1}NEW${2}".into(),
            )],
            _ => Vec::new(),
        };
        let rules = rules
            .into_iter()
            .filter_map(|(re, rep)| {
                let re = Regex::new(&re.replace("OLD", &o)).ok()?;
                Some((re, rep.replace("NEW", &new_stem.replace('$', "$$"))))
            })
            .collect();
        ModuleRefs {
            ext: ext.to_string(),
            rules,
        }
    }

    fn apply(&self, file: &str, text: &str) -> String {
        let same_family = |e: &str| match self.ext.as_str() {
            "js" | "mjs" | "cjs" | "jsx" | "ts" | "tsx" => {
                ["js", "mjs", "cjs", "jsx", "ts", "tsx", "vue", "svelte"].contains(&e)
            }
            x => x == e,
        };
        let ext = file.rsplit_once('.').map_or("", |(_, e)| e);
        if !same_family(ext) {
            return text.to_string();
        }
        let mut t = text.to_string();
        for (re, rep) in &self.rules {
            t = re.replace_all(&t, rep.as_str()).into_owned();
        }
        t
    }
}

/// Every text file of the tree (root-relative, sorted), with its text.
fn text_files(cx: &Cx<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let walker = WalkBuilder::new(cx.tree)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    for e in walker.flatten() {
        if !e.file_type().is_some_and(|t| t.is_file())
            || e.metadata().map_or(true, |m| m.len() > MAX_REF_FILE)
        {
            continue;
        }
        let Ok(rel) = e.path().strip_prefix(cx.tree) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if let Ok(text) = std::fs::read_to_string(e.path())
            && !text.contains('\0')
        {
            out.insert(rel, text);
        }
    }
    out
}

/// Rename the file or folder the finding names, and what refers to it.
pub(super) fn fix_file(cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
    let new_stem = suggested(f, "rename to `").ok_or("no suggested name")?;
    let old_rel = f.file.as_str();
    let (parent, name) = match old_rel.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, old_rel),
    };
    let old_path = cx.tree.join(old_rel);
    let is_dir = old_path.is_dir();
    if !is_dir && !old_path.is_file() {
        return Err(format!("{old_rel} is not in the tree"));
    }
    // The checked part of a name: up to its first dot after a leading one (naming.rs's stem).
    let dot = if name.starts_with('.') { "." } else { "" };
    let body = &name[dot.len()..];
    let tail = if is_dir {
        ""
    } else {
        body.find('.').map_or("", |i| &body[i..])
    };
    let old_stem = &body[..body.len() - tail.len()];
    let new_name = format!("{dot}{new_stem}{tail}");
    let new_rel = match parent {
        Some(p) => format!("{p}/{new_name}"),
        None => new_name.clone(),
    };
    if !super::diff::plain_path(&new_rel) {
        return Err(format!("the new name {new_rel:?} needs quoting in a patch"));
    }
    if cx.tree.join(&new_rel).exists() {
        return Err(format!("{new_rel} exists already"));
    }
    let files = text_files(cx);
    // Files moved: the file, or every file under the folder.
    let mut moved: Vec<(String, String)> = Vec::new();
    if is_dir {
        let walker = WalkBuilder::new(&old_path)
            .hidden(false)
            .require_git(false)
            .build();
        for e in walker.flatten() {
            if !e.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(rel) = e.path().strip_prefix(cx.tree) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let Some(rest) = rel.strip_prefix(&format!("{old_rel}/")) else {
                continue;
            };
            let to = format!("{new_rel}/{rest}");
            moved.push((rel, to));
        }
        if moved.is_empty() {
            return Err(format!("{old_rel} holds no file git would track"));
        }
    } else {
        moved.push((old_rel.to_string(), new_rel.clone()));
    }
    let modules = (!is_dir && old_stem != new_stem)
        .then(|| ModuleRefs::new(old_stem, &new_stem, tail.trim_start_matches('.')));
    let parent_prefix = parent.map(|p| format!("{p}/")).unwrap_or_default();
    let update = |file: &str, text: &str| -> String {
        let mut t = replace_words(text, old_rel, &new_rel);
        if is_dir {
            // `Name/` in files beside the folder (relative paths).
            let here = file
                .strip_prefix(&parent_prefix)
                .is_some_and(|r| !r.contains('/'));
            if here {
                t = replace_words(&t, &format!("{name}/"), &format!("{new_name}/"));
                t = t.replace(&format!("./{name}/"), &format!("./{new_name}/"));
            }
        } else {
            t = replace_words(&t, name, &new_name);
            if let Some(m) = &modules {
                t = m.apply(file, &t);
            }
        }
        t
    };
    let mut changes = Vec::new();
    for (from, to) in &moved {
        match files.get(from) {
            Some(text) => {
                let new_text = update(to, text);
                changes.push(FileChange {
                    old_path: from.clone(),
                    new_path: to.clone(),
                    old_text: text.clone(),
                    new_text,
                });
            }
            // A binary or large file moves as it is (a rename without hunks).
            None => changes.push(FileChange {
                old_path: from.clone(),
                new_path: to.clone(),
                old_text: String::new(),
                new_text: String::new(),
            }),
        }
    }
    let mut refs = 0;
    for (file, text) in &files {
        if moved.iter().any(|(from, _)| from == file) {
            continue;
        }
        let new_text = update(file, text);
        if new_text != *text {
            refs += 1;
            changes.push(FileChange::edit(file, text.clone(), new_text));
        }
    }
    Ok(Fix {
        title: format!(
            "rename {old_rel} → {new_rel}{}",
            match refs {
                0 => String::new(),
                1 => " (1 file referring to it updated)".into(),
                n => format!(" ({n} files referring to it updated)"),
            }
        ),
        note: Some(
            "references are updated by name in text files; build and search for the old \
             name before merging"
                .into(),
        ),
        changes,
    })
}

/// Rename a registry module where the registry and root.gates.yaml name it.
pub(super) fn fix_module(cx: &Cx<'_>, f: &Finding) -> Result<Fix, String> {
    let new = suggested(f, "rename the module `").ok_or("no suggested name")?;
    let old = f
        .message
        .strip_prefix("module name `")
        .and_then(|s| s.split_once('`'))
        .map(|(n, _)| n.to_string())
        .ok_or("the finding does not name the module")?;
    let mut changes = Vec::new();
    let mut files = vec![f.file.clone()];
    if f.file != CONFIG_FILE && cx.tree.join(CONFIG_FILE).is_file() {
        files.push(CONFIG_FILE.to_string());
    }
    for file in files {
        let text = read_text(cx.tree, &file)?;
        let new_text = replace_module(&text, &old, &new);
        if new_text != text {
            changes.push(FileChange::edit(&file, text, new_text));
        }
    }
    Ok(Fix {
        title: format!("rename module `{old}` → `{new}` and the dependencies naming it"),
        note: Some(format!(
            "scripts, unit files or manifests that name the module `{old}` are not changed"
        )),
        changes,
    })
}

/// Whole-name occurrences of a module name (`.` also joins a name, as in `a.b`).
fn replace_module(text: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let part = |c: char| word_char(c) || c == '.';
    for (i, _) in text.match_indices(old) {
        if i < last {
            continue;
        }
        let before = text[..i].chars().next_back();
        let after = text[i + old.len()..].chars().next();
        if before.is_none_or(|c| !part(c)) && after.is_none_or(|c| !part(c)) {
            out.push_str(&text[last..i]);
            out.push_str(new);
            last = i + old.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert_eq!(
            replace_words(
                "see App_Settings.env. and x/App_Settings.env\n",
                "App_Settings.env",
                "app-settings.env"
            ),
            "see app-settings.env. and x/app-settings.env\n"
        );
        assert_eq!(
            replace_words(
                "App_Settings.env.example MyApp_Settings.env",
                "App_Settings.env",
                "n"
            ),
            "App_Settings.env.example MyApp_Settings.env"
        );
    }

    #[test]
    fn rust_module_paths_change_but_types_do_not() {
        let m = ModuleRefs::new("GateHandler", "gate_handler", "rs");
        let src = "mod GateHandler;\nuse crate::GateHandler::GateHandler;\nfn f() { GateHandler::new(); self::GateHandler::run(); }\n";
        assert_eq!(
            m.apply("src/lib.rs", src),
            "mod gate_handler;\nuse crate::gate_handler::GateHandler;\nfn f() { GateHandler::new(); self::gate_handler::run(); }\n"
        );
        assert_eq!(m.apply("README.md", "mod GateHandler;"), "mod GateHandler;");
    }

    #[test]
    fn python_and_js_imports() {
        let p = ModuleRefs::new("MyMod", "my_mod", "py");
        assert_eq!(
            p.apply("a.py", "import MyMod\nfrom pkg.MyMod import x\n"),
            "import my_mod as MyMod\nfrom pkg.my_mod import x\n"
        );
        let j = ModuleRefs::new("MyMod", "my-mod", "ts");
        assert_eq!(
            j.apply("b.tsx", "import x from './lib/MyMod';\n"),
            "import x from './lib/my-mod';\n"
        );
    }

    #[test]
    fn module_names_match_whole() {
        assert_eq!(
            replace_module(
                "- name: LogService\n  deps: [LogService (>=1), LogServiceX]\n",
                "LogService",
                "log-service"
            ),
            "- name: log-service\n  deps: [log-service (>=1), LogServiceX]\n"
        );
    }
}
