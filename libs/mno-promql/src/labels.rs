//! Label-set helpers. A label set is a `Vec<(name, value)>` sorted by name;
//! an empty value means the label is absent, as in Prometheus.

pub(crate) type Labels = Vec<(String, String)>;

/// The metric-name label.
pub(crate) const NAME: &str = "__name__";

/// The value of `name`, or "" when absent.
pub(crate) fn get<'a>(ls: &'a Labels, name: &str) -> &'a str {
    ls.binary_search_by(|(n, _)| n.as_str().cmp(name))
        .map(|i| ls[i].1.as_str())
        .unwrap_or("")
}

/// Set `name` to `value`; an empty value removes the label.
pub(crate) fn set(ls: &mut Labels, name: &str, value: &str) {
    match ls.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            ls.remove(i);
        }
        Ok(i) => ls[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => ls.insert(i, (name.to_string(), value.to_string())),
    }
}

/// The set without `__name__`.
pub(crate) fn drop_name(mut ls: Labels) -> Labels {
    if let Ok(i) = ls.binary_search_by(|(n, _)| n.as_str().cmp(NAME)) {
        ls.remove(i);
    }
    ls
}

/// Only the labels whose names are in `names`.
pub(crate) fn keep(ls: &Labels, names: &[String]) -> Labels {
    ls.iter()
        .filter(|(n, _)| names.iter().any(|k| k == n))
        .cloned()
        .collect()
}

/// Every label except those in `names`.
pub(crate) fn remove(ls: &Labels, names: &[String]) -> Labels {
    ls.iter()
        .filter(|(n, _)| !names.iter().any(|k| k == n))
        .cloned()
        .collect()
}

/// Append `name`/`value` to a signature buffer; 0xff cannot occur in UTF-8, so
/// the encoding is unambiguous.
fn push_sig(buf: &mut Vec<u8>, name: &str, value: &str) {
    buf.extend_from_slice(name.as_bytes());
    buf.push(0xfe);
    buf.extend_from_slice(value.as_bytes());
    buf.push(0xff);
}

/// Matching signature: `on(names)` keeps only `names`; otherwise every label
/// except `names` and `__name__` (Prometheus' `signatureFunc`).
pub(crate) fn signature(ls: &Labels, on: bool, names: &[String]) -> Vec<u8> {
    let mut buf = Vec::new();
    for (n, v) in ls {
        let listed = names.iter().any(|k| k == n);
        let include = if on { listed } else { !listed && n != NAME };
        if include {
            push_sig(&mut buf, n, v);
        }
    }
    buf
}

/// Grouping key of an aggregation: `by` keeps the listed labels, `without`
/// drops them and `__name__`.
pub(crate) fn grouping_key(ls: &Labels, without: bool, names: &[String]) -> Vec<u8> {
    signature(ls, !without, names)
}

/// Render as `{a="b", c="d"}` for error messages (Prometheus' `Labels.String`).
pub(crate) fn to_string(ls: &Labels) -> String {
    let inner: Vec<String> = ls.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn set_keeps_order_and_empty_removes() {
        let mut l = ls(&[("a", "1"), ("c", "3")]);
        set(&mut l, "b", "2");
        assert_eq!(l, ls(&[("a", "1"), ("b", "2"), ("c", "3")]));
        set(&mut l, "a", "");
        assert_eq!(l, ls(&[("b", "2"), ("c", "3")]));
        set(&mut l, "zz", "");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn signatures_ignore_the_name_unless_on_lists_it() {
        let a = ls(&[("__name__", "x"), ("job", "j")]);
        let b = ls(&[("__name__", "y"), ("job", "j")]);
        assert_eq!(signature(&a, false, &[]), signature(&b, false, &[]));
        let on_name = vec!["__name__".to_string()];
        assert_ne!(signature(&a, true, &on_name), signature(&b, true, &on_name));
        assert_eq!(get(&a, "job"), "j");
        assert_eq!(get(&a, "nope"), "");
        assert_eq!(drop_name(a), ls(&[("job", "j")]));
    }
}
