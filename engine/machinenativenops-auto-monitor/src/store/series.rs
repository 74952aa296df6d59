//! Series identity and the label index.
//!
//! A series is a metric name plus a label set. Its canonical form is the
//! labels sorted by name, without empty values (Prometheus treats an empty
//! value as an absent label), written `{a="x",b="y"}` with the text format's
//! escapes; the 64-bit FNV-1a hash of name and canonical labels finds it in
//! the `series` table. The `label` table holds one posting per (label name,
//! value, series), `__name__` included, so matchers resolve through an index.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use mno_promql::Matcher;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

/// Label pairs sorted by name.
pub type Labels = Vec<(String, String)>;

/// The label name holding the metric name.
pub const NAME_LABEL: &str = "__name__";

/// 64-bit FNV-1a (stable across builds and platforms, unlike std's hasher).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Canonical label text of a sample's labels (the metric name excluded).
pub fn canonical<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut v: Vec<(&str, &str)> = labels
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && *k != NAME_LABEL)
        .collect();
    v.sort_unstable();
    v.dedup_by(|a, b| a.0 == b.0);
    let mut s =
        String::with_capacity(2 + v.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>());
    s.push('{');
    for (i, (k, val)) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        for c in val.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

/// Parse canonical label text back into pairs; `None` if it is malformed.
pub fn parse_canonical(text: &str) -> Option<Labels> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() || chars.next() != Some('"') {
            return None;
        }
        let mut val = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => val.push('\n'),
                    c => val.push(c),
                },
                '"' => break,
                c => val.push(c),
            }
        }
        out.push((key, val));
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return None,
        }
    }
    Some(out)
}

/// All labels of a series, `__name__` included, sorted by name.
pub fn full_labels(name: &str, canonical_text: &str) -> Option<Labels> {
    let mut l = parse_canonical(canonical_text)?;
    l.push((NAME_LABEL.to_string(), name.to_string()));
    l.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Some(l)
}

/// FxHash (rustc's hasher): the per-sample series lookup is the hot path of ingestion,
/// and its keys come from this host's own collectors, so flooding is not a concern.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hash map with the fast, non-keyed [`FxHasher`] (keys are the store's own ids and texts).
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Maps the agent's samples to series ids, creating series on first sight (writer side).
#[derive(Debug, Default)]
pub struct SeriesCache {
    /// Raw key (name and labels in emission order) → (id, hash): the per-sample fast path.
    raw: FxMap<String, (u32, u64)>,
    /// Name + canonical labels → (id, hash).
    canonical: FxMap<String, (u32, u64)>,
    /// Series created by the transaction in progress (forgotten if it rolls back).
    pending: Vec<u32>,
    key: String,
}

impl SeriesCache {
    /// Load every known series.
    pub fn load(conn: &Connection) -> Result<SeriesCache, StoreError> {
        let mut c = SeriesCache::default();
        let mut st = conn.prepare("SELECT id, name, labels, hash FROM series")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (id, name, labels, hash) = row?;
            c.canonical
                .insert(canon_key(&name, &labels), (id as u32, hash as u64));
        }
        Ok(c)
    }

    /// Number of known series.
    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    /// Whether no series is known.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// The (id, hash) of a known series; `None` for a series never stored (or deleted).
    pub fn find(&mut self, name: &str, labels: &[(String, String)]) -> Option<(u32, u64)> {
        self.key.clear();
        self.key.push_str(name);
        for (k, v) in labels {
            self.key.push('\u{1}');
            self.key.push_str(k);
            self.key.push('\u{2}');
            self.key.push_str(v);
        }
        if let Some(&found) = self.raw.get(self.key.as_str()) {
            return Some(found);
        }
        let text = canonical(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let found = *self.canonical.get(&canon_key(name, &text))?;
        self.raw.insert(self.key.clone(), found);
        Some(found)
    }

    /// The (id, hash) of a sample's series, inserting it (inside the caller's transaction)
    /// if new.
    pub fn resolve(
        &mut self,
        conn: &Connection,
        name: &str,
        labels: &[(String, String)],
    ) -> Result<(u32, u64), StoreError> {
        if let Some(found) = self.find(name, labels) {
            return Ok(found);
        }
        // `find` left this sample's raw key in `self.key`.
        let text = canonical(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let found = insert_series(conn, name, &text)?;
        self.canonical.insert(canon_key(name, &text), found);
        self.pending.push(found.0);
        self.raw.insert(self.key.clone(), found);
        Ok(found)
    }

    /// The transaction that created the pending series committed.
    pub fn commit(&mut self) {
        self.pending.clear();
    }

    /// The transaction rolled back: forget the series it created.
    pub fn rollback(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let gone: BTreeSet<u32> = self.pending.drain(..).collect();
        self.forget(&gone);
    }

    /// Forget series deleted from the database.
    pub fn forget(&mut self, gone: &BTreeSet<u32>) {
        self.raw.retain(|_, (id, _)| !gone.contains(id));
        self.canonical.retain(|_, (id, _)| !gone.contains(id));
    }
}

fn canon_key(name: &str, labels: &str) -> String {
    let mut k = String::with_capacity(name.len() + labels.len());
    k.push_str(name);
    k.push_str(labels);
    k
}

fn insert_series(conn: &Connection, name: &str, text: &str) -> Result<(u32, u64), StoreError> {
    let hash = fnv1a(&[name.as_bytes(), text.as_bytes()]) as i64;
    // A series deleted by retention and seen again gets a new id; an existing row is reused.
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM series WHERE hash = ?1 AND name = ?2 AND labels = ?3")?
        .query_row(params![hash, name, text], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok((id as u32, hash as u64));
    }
    conn.prepare_cached("INSERT INTO series (name, labels, hash) VALUES (?1, ?2, ?3)")?
        .execute(params![name, text, hash])?;
    let id = conn.last_insert_rowid();
    let id32 = u32::try_from(id)
        .map_err(|_| StoreError::Corrupt(format!("series id {id} out of range")))?;
    let mut st = conn.prepare_cached(
        "INSERT OR IGNORE INTO label (name, value, series_id) VALUES (?1, ?2, ?3)",
    )?;
    st.execute(params![NAME_LABEL, name, id])?;
    for (k, v) in parse_canonical(text).unwrap_or_default() {
        st.execute(params![k, v, id])?;
    }
    Ok((id32, hash as u64))
}

/// Ids (ascending) of the series matching every matcher.
pub fn matching_ids(conn: &Connection, matchers: &[Matcher]) -> Result<Vec<u32>, StoreError> {
    let mut result: Option<Vec<u32>> = None;
    let mut subtract: Vec<&Matcher> = Vec::new();
    for m in matchers {
        if m.matches("") {
            // Also matches series without the label: handled by removing the series whose
            // value for it does not match.
            subtract.push(m);
            continue;
        }
        let ids = if m.op == mno_promql::MatchOp::Equal {
            postings(conn, &m.name, &m.value)?
        } else {
            let mut all = Vec::new();
            for v in label_values_of(conn, &m.name)? {
                if m.matches(&v) {
                    all.extend(postings(conn, &m.name, &v)?);
                }
            }
            all.sort_unstable();
            all.dedup();
            all
        };
        result = Some(match result {
            None => ids,
            Some(prev) => intersect(&prev, &ids),
        });
        if result.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
    }
    let mut ids = match result {
        Some(r) => r,
        None => {
            let mut st = conn.prepare_cached("SELECT id FROM series ORDER BY id")?;
            st.query_map([], |r| r.get::<_, i64>(0))?
                .map(|r| r.map(|v| v as u32))
                .collect::<Result<Vec<u32>, _>>()?
        }
    };
    for m in subtract {
        let mut drop: Vec<u32> = Vec::new();
        for v in label_values_of(conn, &m.name)? {
            if !m.matches(&v) {
                drop.extend(postings(conn, &m.name, &v)?);
            }
        }
        if !drop.is_empty() {
            drop.sort_unstable();
            ids.retain(|id| drop.binary_search(id).is_err());
        }
    }
    Ok(ids)
}

fn postings(conn: &Connection, name: &str, value: &str) -> Result<Vec<u32>, StoreError> {
    let mut st =
        conn.prepare_cached("SELECT series_id FROM label WHERE name = ?1 AND value = ?2")?;
    let ids = st
        .query_map(params![name, value], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|v| v as u32))
        .collect::<Result<Vec<u32>, _>>()?;
    Ok(ids)
}

/// Distinct values of a label name, ascending.
pub fn label_values_of(conn: &Connection, name: &str) -> Result<Vec<String>, StoreError> {
    let mut st =
        conn.prepare_cached("SELECT DISTINCT value FROM label WHERE name = ?1 ORDER BY value")?;
    let v = st
        .query_map(params![name], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(v)
}

/// Sorted intersection of two ascending lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Labels (with `__name__`) of a series id.
pub fn labels_of(conn: &Connection, id: u32) -> Result<Labels, StoreError> {
    let (name, text): (String, String) = conn
        .prepare_cached("SELECT name, labels FROM series WHERE id = ?1")?
        .query_row(params![id as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    full_labels(&name, &text)
        .ok_or_else(|| StoreError::Corrupt(format!("series {id}: malformed labels {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_escapes_and_drops_empty_values() {
        let c = canonical([
            ("mode", "idle"),
            ("cpu", "0"),
            ("x", ""),
            ("q", "a\"b\\c\nd"),
        ]);
        assert_eq!(c, r#"{cpu="0",mode="idle",q="a\"b\\c\nd"}"#);
        assert_eq!(
            parse_canonical(&c).unwrap(),
            vec![
                ("cpu".into(), "0".into()),
                ("mode".into(), "idle".into()),
                ("q".into(), "a\"b\\c\nd".into())
            ]
        );
        assert_eq!(canonical([]), "{}");
        assert_eq!(parse_canonical("{}").unwrap(), vec![]);
        assert!(parse_canonical("{a=\"x\"").is_none());
        assert!(parse_canonical("{a=\"x\"b=\"y\"}").is_none());
    }

    #[test]
    fn hash_separates_parts() {
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        // Pinned: the hash is stored on disk and must not change between versions.
        assert_eq!(fnv1a(&[b"up", b"{}"]), 0xf166_68e8_8766_6f36);
    }

    #[test]
    fn intersection() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[2, 3, 7, 9]), vec![3, 7]);
        assert!(intersect(&[], &[1]).is_empty());
    }
}
