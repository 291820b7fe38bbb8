//! Generated families: a range loop's iterations kept as one body of
//! templates plus the range (IR version 2), and the iterators that expand
//! them so every reader sees the steps and edges eager expansion made.
//!
//! Iteration `n` (1-based) of body step `b` is the step
//! `<loop id>.iter<n>.<b>`, titled from `b`'s title with every hole
//! filled by the loop var's value `first + n - 1`. Its edges, in order: a
//! `parent-child` to the loop's parent, then `blocks` on the body steps
//! `b` needs in the same iteration, or, for a body step that needs none
//! (a root), on the previous iteration's sinks (the body steps nothing
//! needs), or in iteration 1 on the loop's own `needs`.

use super::{
    DepKind, Proto, ProtoDep, ProtoEdge, ProtoEntry, ProtoStep, Provenance, TextKind,
    IR_VERSION_FLAT,
};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A text with holes where the loop var's value goes: the pieces between
/// the holes. Written as a string when it has no hole, else as the list
/// of pieces (`["Move ", ""]` is `Move {m}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// Never empty.
    pieces: Vec<String>,
}

impl Default for Text {
    fn default() -> Self {
        Text::plain(String::new())
    }
}

impl Text {
    pub fn plain(text: String) -> Text {
        Text { pieces: vec![text] }
    }

    pub fn from_pieces(pieces: Vec<String>) -> Text {
        if pieces.is_empty() {
            return Text::default();
        }
        Text { pieces }
    }

    /// The text with every hole filled by `value`.
    pub fn render(&self, value: &str) -> String {
        self.pieces.join(value)
    }

    pub fn pieces(&self) -> &[String] {
        &self.pieces
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.len() == 1 && self.pieces[0].is_empty()
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.pieces.as_slice() {
            [one] => s.serialize_str(one),
            many => s.collect_seq(many),
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Pieces(Vec<String>),
        }
        Ok(match Form::deserialize(d)? {
            Form::One(s) => Text::plain(s),
            Form::Pieces(p) => Text::from_pieces(p),
        })
    }
}

/// A range loop's iterations: one body of templates and the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoLoop {
    /// The loop step's id (`<formula>.<path>`). The loop step itself is
    /// not a step: its iterations take its place.
    pub id: String,
    /// The loop step's path below the root.
    pub path: String,
    /// The loop step's id as written: a body step without a title is
    /// titled `<name>.iter<n>.<body id>`, and provenance names the loop so.
    pub name: String,
    /// The parent step's id; absent for a top-level loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The loop var whose value fills the holes of the body's texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub var: Option<String>,
    /// The var's value in the first and the last iteration (inclusive).
    pub first: i64,
    pub last: i64,
    /// Step ids that the first iteration's roots wait for (the loop
    /// step's own dependencies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// `file:line:col` of the loop table, for the generated provenance.
    pub source: String,
    pub body: Vec<ProtoLoopStep>,
}

/// A body step of a [`ProtoLoop`]: the fields of a step, `title`,
/// `description` and `notes` as [`Text`]s with holes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoLoopStep {
    /// The body step's id; iteration `n` makes `<loop>.iter<n>.<id>`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    #[serde(default, skip_serializing_if = "Text::is_empty")]
    pub description: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Body steps (by id) this one waits for in the same iteration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Where the body step was written; each iteration adds a link to
    /// the chain.
    pub provenance: Provenance,
}

impl ProtoLoop {
    pub fn iterations(&self) -> usize {
        usize::try_from(self.last.saturating_sub(self.first).saturating_add(1)).unwrap_or(0)
    }

    pub fn step_count(&self) -> usize {
        self.iterations().saturating_mul(self.body.len())
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let id = &self.id;
        if self.body.is_empty() {
            return Err(format!("loop {id} has an empty body"));
        }
        let span = (self.last as i128) - (self.first as i128) + 1;
        if span < 1 || (span as u128).saturating_mul(self.body.len() as u128) > usize::MAX as u128 {
            return Err(format!(
                "loop {id} has the range {}..{}, which makes no iterations or too many",
                self.first, self.last
            ));
        }
        for (i, b) in self.body.iter().enumerate() {
            if self.body[..i].iter().any(|o| o.id == b.id) {
                return Err(format!("loop {id} has the body step {} twice", b.id));
            }
            if let Some(n) = b
                .needs
                .iter()
                .find(|n| !self.body.iter().any(|o| &o.id == *n))
            {
                return Err(format!(
                    "body step {} of loop {id} needs {n}, which is not in the body",
                    b.id
                ));
            }
        }
        Ok(())
    }

    /// The var's value in iteration `n`.
    fn value(&self, n: usize) -> String {
        (self.first + (n as i64 - 1)).to_string()
    }

    fn step_id(&self, n: usize, b: usize) -> String {
        format!("{}.iter{n}.{}", self.id, self.body[b].id)
    }

    /// Iteration `n` (1-based) of body step `b`.
    pub fn step(&self, n: usize, b: usize) -> ProtoStep {
        let t = &self.body[b];
        let value = self.value(n);
        let mut provenance = t.provenance.clone();
        provenance.chain.push(format!(
            "iteration {n} of loop `{}` ({})",
            self.name, self.source
        ));
        ProtoStep {
            id: self.step_id(n, b),
            path: format!("{}.iter{n}.{}", self.path, t.id),
            parent: self.parent.clone(),
            title: match &t.title {
                Some(title) => title.render(&value),
                None => format!("{}.iter{n}.{}", self.name, t.id),
            },
            description: t.description.render(&value),
            notes: t.notes.as_ref().map(|x| x.render(&value)),
            acceptance: t.acceptance.clone(),
            kind: t.kind.clone(),
            priority: t.priority,
            assignee: t.assignee.clone(),
            labels: t.labels.clone(),
            metadata: t.metadata.clone(),
            gate: None,
            condition: None,
            run: t.run.clone(),
            runtime: BTreeMap::new(),
            provenance,
        }
    }

    /// The body steps nothing in the body needs, by index.
    fn sinks(&self) -> Vec<usize> {
        (0..self.body.len())
            .filter(|&i| !self.body.iter().any(|o| o.needs.contains(&self.body[i].id)))
            .collect()
    }

    /// The edges of iteration `n` of body step `b`, in the order eager
    /// expansion writes them; `root` is the proto's root id.
    fn edges(&self, n: usize, b: usize, sinks: &[usize], root: &str, out: &mut Vec<ProtoDep>) {
        let from = self.step_id(n, b);
        out.push(ProtoDep {
            from: from.clone(),
            to: self.parent.as_deref().unwrap_or(root).to_string(),
            kind: DepKind::ParentChild,
            metadata: None,
        });
        let t = &self.body[b];
        let targets: Vec<String> = match (t.needs.is_empty(), n) {
            (true, 1) => self.needs.clone(),
            (true, _) => sinks.iter().map(|&s| self.step_id(n - 1, s)).collect(),
            (false, _) => t
                .needs
                .iter()
                .map(|x| format!("{}.iter{n}.{x}", self.id))
                .collect(),
        };
        let first = out.len();
        for to in targets {
            if to != from && !out[first..].iter().any(|d| d.to == to) {
                out.push(ProtoDep {
                    from: from.clone(),
                    to,
                    kind: DepKind::Blocks,
                    metadata: None,
                });
            }
        }
    }

    /// `(n, b)` of the generated step with this id.
    pub fn locate(&self, id: &str) -> Option<(usize, usize)> {
        let rest = id.strip_prefix(&self.id)?.strip_prefix(".iter")?;
        let (digits, body_id) = rest.split_once('.')?;
        let n: usize = digits.parse().ok()?;
        // `iter05` is not the id of iteration 5.
        if !(1..=self.iterations()).contains(&n) || n.to_string() != digits {
            return None;
        }
        let b = self.body.iter().position(|t| t.id == body_id)?;
        Some((n, b))
    }

    pub(super) fn texts(&self, f: &mut dyn FnMut(&str)) {
        for t in &self.body {
            for text in [t.title.as_ref(), Some(&t.description), t.notes.as_ref()]
                .into_iter()
                .flatten()
            {
                text.pieces.iter().for_each(|p| f(p));
            }
            for s in [&t.acceptance, &t.assignee, &t.run].into_iter().flatten() {
                f(s);
            }
        }
    }

    pub(super) fn texts_mut(&mut self, f: &mut dyn FnMut(&mut String, TextKind)) {
        for t in &mut self.body {
            for text in [t.title.as_mut(), Some(&mut t.description), t.notes.as_mut()]
                .into_iter()
                .flatten()
            {
                text.pieces.iter_mut().for_each(|p| f(p, TextKind::Plain));
            }
            for s in [&mut t.acceptance, &mut t.assignee].into_iter().flatten() {
                f(s, TextKind::Plain);
            }
            if let Some(r) = &mut t.run {
                f(r, TextKind::Shell);
            }
        }
    }
}

/// [`Proto::steps`]: every step in order, generated ones built on demand.
pub struct Steps<'a> {
    entries: std::slice::Iter<'a, ProtoEntry>,
    /// The family being expanded, its next `(iteration, body index)`.
    family: Option<(&'a ProtoLoop, usize, usize)>,
    left: usize,
}

impl<'a> Steps<'a> {
    pub(super) fn new(p: &'a Proto) -> Self {
        Steps {
            entries: p.entries.iter(),
            family: None,
            left: p.step_count(),
        }
    }
}

impl<'a> Iterator for Steps<'a> {
    type Item = Cow<'a, ProtoStep>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((f, n, b)) = self.family {
                if n <= f.iterations() {
                    self.family = Some(match b + 1 < f.body.len() {
                        true => (f, n, b + 1),
                        false => (f, n + 1, 0),
                    });
                    self.left -= 1;
                    return Some(Cow::Owned(f.step(n, b)));
                }
                self.family = None;
            }
            match self.entries.next()? {
                ProtoEntry::Step(s) => {
                    self.left -= 1;
                    return Some(Cow::Borrowed(&**s));
                }
                ProtoEntry::Loop { family } => self.family = Some((&**family, 1, 0)),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Steps<'_> {}

/// [`Proto::deps`]: every edge in step order, generated ones built on
/// demand.
pub struct Deps<'a> {
    proto: &'a Proto,
    edges: std::slice::Iter<'a, ProtoEdge>,
    /// The family being expanded, its sinks and next `(iteration, body index)`.
    family: Option<(&'a ProtoLoop, Vec<usize>, usize, usize)>,
    pending: std::vec::IntoIter<ProtoDep>,
}

impl<'a> Deps<'a> {
    pub(super) fn new(p: &'a Proto) -> Self {
        Deps {
            proto: p,
            edges: p.edges.iter(),
            family: None,
            pending: Vec::new().into_iter(),
        }
    }
}

impl<'a> Iterator for Deps<'a> {
    type Item = Cow<'a, ProtoDep>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(d) = self.pending.next() {
                return Some(Cow::Owned(d));
            }
            if let Some((f, sinks, n, b)) = &mut self.family {
                if *n <= f.iterations() {
                    let mut out = Vec::with_capacity(4);
                    f.edges(*n, *b, sinks, &self.proto.formula, &mut out);
                    (*n, *b) = match *b + 1 < f.body.len() {
                        true => (*n, *b + 1),
                        false => (*n + 1, 0),
                    };
                    self.pending = out.into_iter();
                    continue;
                }
                self.family = None;
            }
            match self.edges.next()? {
                ProtoEdge::Dep(d) => return Some(Cow::Borrowed(d)),
                ProtoEdge::Loop { id } => {
                    // `Proto::from_json` and cook guarantee the family exists.
                    if let Some(f) = self.proto.families().find(|f| &f.id == id) {
                        self.family = Some((f, f.sinks(), 1, 0));
                    }
                }
            }
        }
    }
}

/// A proto serialised with every family written out, as IR version 1.
/// Same fields, order and omissions as the derived `Serialize` of
/// [`Proto`] (tested).
pub(super) struct Expanded<'a>(&'a Proto);

impl<'a> Expanded<'a> {
    pub(super) fn new(p: &'a Proto) -> Self {
        Expanded(p)
    }
}

/// A sequence serialised from an iterator made on demand.
struct Seq<F>(F);

impl<I, F> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

impl Serialize for Expanded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let mut st = s.serialize_struct("Proto", 12)?;
        st.serialize_field("ir_version", &IR_VERSION_FLAT)?;
        st.serialize_field("formula", &p.formula)?;
        st.serialize_field("type", &p.kind)?;
        st.serialize_field("version", &p.version)?;
        if p.phase.is_some() {
            st.serialize_field("phase", &p.phase)?;
        }
        st.serialize_field("pour", &p.pour)?;
        st.serialize_field("root", &p.root)?;
        st.serialize_field("vars", &p.vars)?;
        if p.bound_vars.is_some() {
            st.serialize_field("bound_vars", &p.bound_vars)?;
        }
        st.serialize_field("steps", &Seq(|| p.steps()))?;
        st.serialize_field("deps", &Seq(|| p.deps()))?;
        st.serialize_field("sources", &p.sources)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ProtoRoot, SourceDigest};
    use super::*;

    fn step(id: &str) -> ProtoStep {
        ProtoStep {
            id: format!("f.{id}"),
            path: id.to_string(),
            parent: None,
            title: id.to_string(),
            description: String::new(),
            notes: None,
            acceptance: None,
            kind: "task".into(),
            priority: 2,
            assignee: None,
            labels: Vec::new(),
            metadata: None,
            gate: None,
            condition: None,
            run: None,
            runtime: BTreeMap::new(),
            provenance: Provenance {
                formula: "f".into(),
                file: "f.formula.toml".into(),
                line: 1,
                col: 1,
                chain: Vec::new(),
            },
        }
    }

    fn flat() -> Proto {
        Proto {
            ir_version: IR_VERSION_FLAT,
            formula: "f".into(),
            kind: "workflow".into(),
            version: 3,
            phase: Some("liquid".into()),
            pour: true,
            root: ProtoRoot {
                id: "f".into(),
                title: "f".into(),
                description: "d".into(),
            },
            vars: Vec::new(),
            bound_vars: Some(BTreeMap::from([("a".into(), "1".into())])),
            entries: vec![step("a").into(), step("b").into()],
            edges: vec![ProtoDep {
                from: "f.b".into(),
                to: "f.a".into(),
                kind: DepKind::Blocks,
                metadata: None,
            }
            .into()],
            sources: vec![SourceDigest {
                formula: "f".into(),
                path: "f.formula.toml".into(),
                sha256: "00".into(),
            }],
        }
    }

    fn written(p: &Proto, expanded: bool) -> String {
        let mut out = Vec::new();
        match expanded {
            true => p.write_json_expanded(&mut out),
            false => p.write_json(&mut out),
        }
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn expanded_writer_matches_the_derived_one_on_a_flat_proto() {
        let mut p = flat();
        assert_eq!(written(&p, true), p.to_json());
        (p.phase, p.bound_vars) = (None, None);
        assert_eq!(written(&p, true), p.to_json());
    }

    #[test]
    fn a_bad_step_or_edge_is_named_by_what_is_wrong() {
        let mut v = serde_json::to_value(flat()).unwrap();
        v["steps"][1].as_object_mut().unwrap().remove("title");
        let err = Proto::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("missing field `title`"), "{err}");
        let mut v = serde_json::to_value(flat()).unwrap();
        v["deps"][0]["type"] = "sideways".into();
        let err = Proto::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(err.contains("unknown variant `sideways`"), "{err}");
    }

    #[test]
    fn texts_are_strings_without_holes_and_pieces_with() {
        let t = Text::from_pieces(vec!["Move ".into(), " now".into()]);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"["Move "," now"]"#);
        assert_eq!(t.render("7"), "Move 7 now");
        let back: Text = serde_json::from_str(r#"["Move "," now"]"#).unwrap();
        assert_eq!(back, t);
        let plain: Text = serde_json::from_str(r#""Setup""#).unwrap();
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#""Setup""#);
        let empty: Text = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn a_family_without_its_edge_marker_is_refused() {
        let mut p = flat();
        let body = ProtoLoopStep {
            id: "move".into(),
            title: None,
            description: Text::default(),
            notes: None,
            acceptance: None,
            kind: "task".into(),
            priority: 2,
            assignee: None,
            labels: Vec::new(),
            metadata: None,
            run: None,
            needs: Vec::new(),
            provenance: step("x").provenance,
        };
        let family = ProtoLoop {
            id: "f.solve".into(),
            path: "solve".into(),
            name: "solve".into(),
            parent: None,
            var: None,
            first: 1,
            last: 3,
            needs: vec!["f.a".into()],
            source: "f.formula.toml:3:1".into(),
            body: vec![body],
        };
        p.entries.insert(
            1,
            ProtoEntry::Loop {
                family: Box::new(family),
            },
        );
        let err = Proto::from_json(&p.to_json()).unwrap_err().to_string();
        assert!(err.contains("loop f.solve"), "{err}");
        p.edges.push(ProtoEdge::Loop {
            id: "f.solve".into(),
        });
        let back = Proto::from_json(&p.to_json()).unwrap();
        let huge = p
            .to_json()
            .replace("\"last\": 3", "\"last\": 4000000000000");
        assert_ne!(huge, p.to_json());
        let err = Proto::from_json(&huge).unwrap_err().to_string();
        assert!(err.contains("expands to 4000000000002 steps"), "{err}");
        let ids: Vec<String> = back.steps().map(|s| s.id.clone()).collect();
        assert_eq!(
            ids,
            [
                "f.a",
                "f.solve.iter1.move",
                "f.solve.iter2.move",
                "f.solve.iter3.move",
                "f.b"
            ]
        );
        assert_eq!(back.steps().len(), 5);
        let chain: Vec<String> = back
            .deps()
            .map(|d| format!("{}>{}", d.from, d.to))
            .collect();
        assert_eq!(
            chain[1..],
            [
                "f.solve.iter1.move>f",
                "f.solve.iter1.move>f.a",
                "f.solve.iter2.move>f",
                "f.solve.iter2.move>f.solve.iter1.move",
                "f.solve.iter3.move>f",
                "f.solve.iter3.move>f.solve.iter2.move",
            ]
        );
        assert_eq!(
            back.step("solve.iter2.move").map(|s| s.title.clone()),
            Some("solve.iter2.move".to_string())
        );
        assert!(back.step("solve.iter4.move").is_none());
        assert!(back.step("solve.iter02.move").is_none());
        assert!(back.step("f.solve.iter2.move").is_some());
    }
}
