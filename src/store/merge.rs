//! Three-way merge of `issues.jsonl` by issue id: the `bd merge-driver` git
//! calls, and the merge `bd sync` relies on.
//!
//! Per id: a side equal to the base yields to the other; a tombstone on
//! either side wins over edits; when both sides changed an issue, each field
//! changed on one side only takes that side, `labels` and `dependencies`
//! merge as sets (additions from both, removals from both), `comments` are
//! the union, and a field both sides changed differently takes the value of
//! the side with the newer `updated_at` (ours on a tie) and is reported as a
//! conflict. The output is the canonical export (sorted by id, fixed keys).

use super::error::{Result, StoreError};
use super::jsonl::{self, Record};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A field both sides changed differently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    pub id: String,
    pub fields: Vec<String>,
    /// `ours` or `theirs`: whose values were kept.
    pub kept: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Merged {
    pub text: String,
    pub conflicts: Vec<Conflict>,
}

fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, Value>> {
    // Validate like an import (ids, fields, duplicates), then keep values.
    jsonl::parse(text, path)?;
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)?;
        let id = v["id"].as_str().unwrap_or_default().to_string();
        out.insert(id, v);
    }
    Ok(out)
}

fn is_tombstone(v: &Value) -> bool {
    v.get("tombstone").is_some()
}

fn updated(v: &Value) -> &str {
    v.get("updated_at")
        .or_else(|| v.get("deleted_at"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Merge three versions of the file.
pub fn merge(base: &str, ours: &str, theirs: &str) -> Result<Merged> {
    let b = parse(base, Path::new("base"))?;
    let o = parse(ours, Path::new("ours"))?;
    let t = parse(theirs, Path::new("theirs"))?;
    let ids: BTreeSet<&String> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    let mut out = Merged::default();
    for id in ids {
        let (bv, ov, tv) = (b.get(id), o.get(id), t.get(id));
        let v = match (ov, tv) {
            (x, y) if x == y => x.cloned(),
            (x, y) if x == bv => y.cloned(),
            (x, y) if y == bv => x.cloned(),
            (Some(x), Some(y)) if is_tombstone(x) || is_tombstone(y) => Some(newer_tombstone(x, y)),
            // Changed on one side, silently gone on the other: the edit stays.
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (Some(x), Some(y)) => {
                let (v, conflict) = merge_issue(id, bv, x, y);
                out.conflicts.extend(conflict);
                Some(v)
            }
            (None, None) => None,
        };
        if let Some(v) = v {
            out.text.push_str(&canonical(&v, id)?);
            out.text.push('\n');
        }
    }
    Ok(out)
}

fn newer_tombstone(x: &Value, y: &Value) -> Value {
    match (is_tombstone(x), is_tombstone(y)) {
        (true, true) if updated(y) > updated(x) => y.clone(),
        (true, _) => x.clone(),
        _ => y.clone(),
    }
}

/// Re-encode through the export's types: fixed key order, validated.
fn canonical(v: &Value, id: &str) -> Result<String> {
    let line = v.to_string();
    let rec = jsonl::parse(&line, Path::new("merged"))
        .map_err(|e| StoreError::Invalid(format!("merged record {id} is not valid: {e}")))?;
    Ok(match rec.into_iter().next() {
        Some(Record::Issue(i)) => serde_json::to_string(&i)?,
        Some(Record::Tombstone(t)) => serde_json::to_string(&t)?,
        None => line,
    })
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn merge_issue(id: &str, base: Option<&Value>, o: &Value, t: &Value) -> (Value, Option<Conflict>) {
    let (bm, om, tm) = (base.map(obj).unwrap_or_default(), obj(o), obj(t));
    let theirs_newer = updated(t) > updated(o);
    let keys: BTreeSet<&String> = om.keys().chain(tm.keys()).collect();
    let mut out = Map::new();
    let mut fields = Vec::new();
    for k in keys {
        let (bv, ov, tv) = (bm.get(k), om.get(k), tm.get(k));
        let v = if ov == tv || tv == bv {
            ov.cloned()
        } else if ov == bv {
            tv.cloned()
        } else if k == "updated_at" {
            if theirs_newer {
                tv.cloned()
            } else {
                ov.cloned()
            }
        } else if k == "labels" || k == "dependencies" || k == "comments" {
            Some(merge_set(k, bv, ov, tv))
        } else {
            fields.push(k.clone());
            if theirs_newer {
                tv.cloned()
            } else {
                ov.cloned()
            }
        };
        if let Some(v) = v {
            out.insert(k.clone(), v);
        }
    }
    // A merged record that is neither side must look newer than both, or
    // each clone's import would keep its own row (equal `updated_at`).
    let merged = Value::Object(out.clone());
    if &merged != o && &merged != t {
        let newest = std::cmp::max(updated(o), updated(t)).to_string();
        out.insert("updated_at".into(), Value::String(next_micro(&newest)));
    }
    let conflict = (!fields.is_empty()).then(|| Conflict {
        id: id.to_string(),
        fields,
        kept: if theirs_newer { "theirs" } else { "ours" },
    });
    (Value::Object(out), conflict)
}

/// The timestamp one microsecond after `ts` (fixed-width RFC 3339).
fn next_micro(ts: &str) -> String {
    let micros = ts.get(20..26).and_then(|m| m.parse::<i64>().ok());
    match (super::ids::parse_secs(ts), micros) {
        (Some(secs), Some(us)) => super::ids::format_micros(secs * 1_000_000 + us + 1),
        _ => super::ids::now(),
    }
}

/// Set merge of a list field: keep what both kept, add what either added,
/// drop what either removed. Dependencies are keyed by target and type.
fn merge_set(field: &str, b: Option<&Value>, o: Option<&Value>, t: Option<&Value>) -> Value {
    let key = |v: &Value| -> String {
        if field == "dependencies" {
            format!("{}\u{1f}{}", v["depends_on"], v["type"])
        } else {
            v.to_string()
        }
    };
    let items = |v: Option<&Value>| -> Vec<Value> {
        v.and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let (bi, oi, ti) = (items(b), items(o), items(t));
    let bk: BTreeSet<String> = bi.iter().map(key).collect();
    let ok: BTreeSet<String> = oi.iter().map(key).collect();
    let tk: BTreeSet<String> = ti.iter().map(key).collect();
    let mut seen = BTreeSet::new();
    let mut out: Vec<Value> = Vec::new();
    for v in oi.iter().chain(ti.iter()) {
        let k = key(v);
        let removed = bk.contains(&k) && (!ok.contains(&k) || !tk.contains(&k));
        if !removed && seen.insert(k) {
            out.push(v.clone());
        }
    }
    if field == "comments" {
        out.sort_by(|a, b| {
            a["created_at"]
                .to_string()
                .cmp(&b["created_at"].to_string())
        });
    } else {
        out.sort_by_key(|v| key(v));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, title: &str, prio: u8, updated: &str, labels: &[&str]) -> String {
        serde_json::json!({"id": id, "title": title, "status": "open", "issue_type": "task",
            "priority": prio, "labels": labels, "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": updated})
        .to_string()
            + "\n"
    }

    #[test]
    fn both_sides_edit_different_fields_and_both_survive() {
        let t0 = "2026-01-01T00:00:00.000000Z";
        let base = line("bd-a", "A", 2, t0, &["x"]);
        let ours = line(
            "bd-a",
            "A ours",
            2,
            "2026-01-02T00:00:00.000000Z",
            &["x", "o"],
        );
        let theirs = line("bd-a", "A", 0, "2026-01-03T00:00:00.000000Z", &["t"])
            + &line("bd-b", "B", 2, t0, &[]);
        let m = merge(&base, &ours, &theirs).unwrap();
        assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
        let lines: Vec<Value> = m
            .text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["title"], "A ours");
        assert_eq!(lines[0]["priority"], 0);
        assert_eq!(lines[0]["labels"], serde_json::json!(["o", "t"]));
        assert_eq!(lines[0]["updated_at"], "2026-01-03T00:00:00.000001Z");
    }

    #[test]
    fn same_field_takes_the_newer_side_and_is_reported() {
        let t0 = "2026-01-01T00:00:00.000000Z";
        let base = line("bd-a", "A", 2, t0, &[]);
        let ours = line("bd-a", "ours", 2, "2026-01-03T00:00:00.000000Z", &[]);
        let theirs = line("bd-a", "theirs", 2, "2026-01-02T00:00:00.000000Z", &[]);
        let m = merge(&base, &ours, &theirs).unwrap();
        assert!(m.text.contains("\"title\":\"ours\""));
        assert_eq!(m.conflicts[0].fields, vec!["title".to_string()]);
        assert_eq!(m.conflicts[0].kept, "ours");
    }

    #[test]
    fn a_tombstone_wins_over_an_edit() {
        let t0 = "2026-01-01T00:00:00.000000Z";
        let base = line("bd-a", "A", 2, t0, &[]);
        let ours = line("bd-a", "edited", 2, "2026-01-05T00:00:00.000000Z", &[]);
        let theirs = r#"{"id":"bd-a","tombstone":true,"deleted_at":"2026-01-02T00:00:00.000000Z"}"#
            .to_string()
            + "\n";
        let m = merge(&base, &ours, &theirs).unwrap();
        assert!(m.text.contains("\"tombstone\":true"), "{}", m.text);
    }
}
