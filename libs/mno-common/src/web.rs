//! What the services' HTML pages share: escaping and the base style (light and dark by
//! `prefers-color-scheme`, one column on narrow screens). Pages are rendered on the server
//! and load nothing from elsewhere.

/// Escape text for HTML (element content and quoted attributes) and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The `<head>` of a page: charset, viewport, both colour schemes, a reload every
/// `refresh_seconds` (0: none), an empty icon (no request for /favicon.ico), and `css`
/// after [`BASE_CSS`].
pub fn head(title: &str, refresh_seconds: u64, css: &str) -> String {
    let refresh = if refresh_seconds > 0 {
        format!(r#"<meta http-equiv="refresh" content="{refresh_seconds}">"#)
    } else {
        String::new()
    };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark">{refresh}<title>{}</title><link rel="icon" href="data:,"><style>{BASE_CSS}{css}</style></head><body>"#,
        esc(title)
    )
}

/// Colours, layout, header, panels and tables.
pub const BASE_CSS: &str = r#"
:root{--bg:#f6f7f9;--fg:#1b1f24;--muted:#5d6672;--panel:#fff;--border:#dde1e6;--grid:#e6e9ed;--accent:#0b62d6;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;
--c0:#0b62d6;--c1:#d4590b;--c2:#1a7f37;--c3:#8250df;--c4:#bf3989;--c5:#0a7d8c;--c6:#9a6700;--c7:#57606a}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--panel:#161b22;--border:#30363d;--grid:#262c34;--accent:#4493f8;--ok:#3fb950;--warn:#d29922;--bad:#f85149;
--c0:#4493f8;--c1:#f0883e;--c2:#3fb950;--c3:#a371f7;--c4:#db61a2;--c5:#39c5cf;--c6:#d29922;--c7:#9198a1}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 20px;padding:12px 20px;border-bottom:1px solid var(--border);background:var(--panel)}
h1{font-size:18px;margin:0;font-weight:600}
h1 .host{color:var(--muted);font-weight:400}
h2{font-size:15px;margin:4px 0 8px}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
nav.ranges{display:flex;border:1px solid var(--border);border-radius:6px;overflow:hidden}
nav.ranges a{padding:3px 10px;border-right:1px solid var(--border)}
nav.ranges a:last-child{border-right:0}
nav.ranges a.on{background:var(--accent);color:#fff}
nav.links{display:flex;flex-wrap:wrap;gap:4px 14px;margin-left:auto}
main{padding:16px 20px;display:grid;gap:16px;max-width:1600px;margin:0 auto}
.panel{background:var(--panel);border:1px solid var(--border);border-radius:8px;padding:12px 14px;margin:0;min-width:0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--border);white-space:nowrap}
td.wrap{white-space:normal;min-width:16em}
th{color:var(--muted);font-weight:500}
.ok,.st-passed{color:var(--ok)}.bad,.st-firing,.st-failed,.st-error,.st-critical{color:var(--bad)}.warn,.st-pending,.st-warning{color:var(--warn)}.st-skipped,.st-note,.st-info{color:var(--muted)}
.muted{color:var(--muted)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;margin:0}
footer{color:var(--muted);font-size:12px;padding:8px 20px 20px;text-align:center}
@media (max-width:600px){header{padding:10px 12px}main{padding:12px;gap:12px}nav.links{margin-left:0}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn head_has_no_external_asset() {
        let h = head("t<", 15, "");
        assert!(h.contains(r#"content="15""#) && h.contains("<title>t&lt;</title>"));
        assert!(!h.contains("http://") && !h.contains("https://"));
        assert!(!head("t", 0, "").contains("refresh"));
    }
}
