//! Pour: a protomolecule becomes a molecule, in one transaction.

use super::{MolError, Result};
use crate::formula::api::{cook, CookOptions};
use crate::formula::proto::{DepKind, Proto};
use crate::formula::vars;
use crate::store::{DepType, IssueType, Store, StoreError, Tx};
use rusqlite::params;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

#[derive(Debug, Clone, Default)]
pub struct PourOptions {
    pub vars: BTreeMap<String, String>,
    /// Overrides the root's assignee.
    pub assignee: Option<String>,
    /// A wisp: ephemeral issues, never exported.
    pub ephemeral: bool,
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Use this root id instead of generating one (bond `--ref`).
    pub root_id: Option<String>,
}

/// One planned issue.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedIssue {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub issue_type: IssueType,
    pub priority: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(skip)]
    pub description: String,
    #[serde(skip)]
    pub notes: String,
    #[serde(skip)]
    pub acceptance: String,
    #[serde(skip)]
    pub metadata: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedDep {
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub dep_type: DepType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PourResult {
    pub new_epic_id: String,
    /// Proto id -> issue id.
    pub id_mapping: BTreeMap<String, String>,
    pub created: usize,
    pub phase: &'static str,
    pub ephemeral: bool,
    pub dry_run: bool,
    pub formula: String,
    pub proto_hash: String,
    pub vars: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Only filled for `--dry-run`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<PlannedIssue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<PlannedDep>,
}

/// Load `target`: a saved protomolecule (`*.json` file), or a formula name
/// or file that the compiler cooks. A formula is cooked with `vars` bound,
/// so that the compiler applies conditions; pour then takes the bound vars.
pub fn load_proto(target: &str, cwd: &Path, vars: &BTreeMap<String, String>) -> Result<Proto> {
    let path = Path::new(target);
    let as_file = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    if target.ends_with(".json") {
        let text = std::fs::read_to_string(&as_file)
            .map_err(|e| MolError::Invalid(format!("cannot read {}: {e}", as_file.display())))?;
        return Ok(Proto::from_json(&text)?);
    }
    let opts = CookOptions {
        target: target.to_string(),
        cwd: cwd.to_path_buf(),
        vars: vars.clone(),
        bind_vars: true,
        ..Default::default()
    };
    let proto = cook(&opts).map_err(|e| MolError::Cook(e.rendered))?;
    crate::packages::lock::enforce(&proto.sources).map_err(|e| MolError::Cook(e.to_string()))?;
    Ok(proto)
}

/// sha256 of the proto's canonical JSON.
pub fn proto_hash(proto: &Proto) -> String {
    hex::encode(Sha256::digest(proto.to_json().as_bytes()))
}

/// Bind the vars by the one rule in `formula::vars`.
fn bind(proto: &Proto, supplied: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    if let Some(bound) = &proto.bound_vars {
        let differs = supplied.iter().any(|(k, v)| bound.get(k) != Some(v));
        if differs {
            return Err(MolError::Invalid(
                "this protomolecule was cooked with its vars already bound; pour it without --var, or cook the formula again with the new values".into(),
            ));
        }
        return Ok(bound.clone());
    }
    vars::bind(&proto.vars, supplied, &proto.referenced_vars()).map_err(MolError::Vars)
}

struct Plan {
    root: String,
    mapping: BTreeMap<String, String>,
    issues: Vec<PlannedIssue>,
    deps: Vec<PlannedDep>,
    vars: BTreeMap<String, String>,
    hash: String,
    warnings: Vec<String>,
}

fn plan(proto: &Proto, root: &str, opts: &PourOptions) -> Result<Plan> {
    let values = bind(proto, &opts.vars)?;
    let sub = |t: &str| vars::substitute(t, &values);
    let hash = proto_hash(proto);
    let mut warnings: Vec<String> = vars::undeclared(&proto.vars, &opts.vars)
        .iter()
        .filter(|_| proto.bound_vars.is_none())
        .map(|e| format!("{e} ({})", e.help()))
        .collect();
    if !opts.ephemeral && proto.phase.as_deref() == Some("vapor") {
        warnings.push(format!(
            "formula {} recommends a wisp (phase = \"vapor\"); consider `bd mol wisp`",
            proto.formula
        ));
    }
    let mut mapping = BTreeMap::new();
    mapping.insert(proto.root.id.clone(), root.to_string());
    for s in proto.steps() {
        let id = format!("{root}.{}", s.path);
        // Check the step part (the root may be a dry-run placeholder).
        if let Err(e) = crate::ids::validate_bead_id(&format!("r.{}", s.path)) {
            return Err(MolError::Invalid(format!(
                "step {} has a path `{}` that makes an invalid bead id: {e}",
                s.id, s.path
            )));
        }
        if mapping.insert(s.id.clone(), id.clone()).is_some() {
            return Err(MolError::Invalid(format!("step id {} appears twice", s.id)));
        }
    }
    let mut root_meta = Map::new();
    root_meta.insert("formula".into(), json!(proto.formula));
    root_meta.insert("proto_hash".into(), json!(hash));
    root_meta.insert("vars".into(), json!(values));
    if let Some(p) = &proto.phase {
        root_meta.insert("phase".into(), json!(p));
    }
    let mut issues = vec![PlannedIssue {
        id: root.to_string(),
        title: sub(&proto.root.title),
        issue_type: IssueType::Molecule,
        priority: 2,
        assignee: opts.assignee.clone().filter(|a| !a.is_empty()),
        labels: Vec::new(),
        description: sub(&proto.root.description),
        notes: String::new(),
        acceptance: String::new(),
        metadata: Value::Object(root_meta),
    }];
    let mut deps = Vec::new();
    let mut seen_edges = BTreeSet::new();
    let mut push_dep =
        |deps: &mut Vec<PlannedDep>, from: &str, to: &str, t: DepType, m: Option<Value>| {
            if seen_edges.insert((from.to_string(), to.to_string(), t)) {
                deps.push(PlannedDep {
                    from: from.to_string(),
                    to: to.to_string(),
                    dep_type: t,
                    metadata: m,
                });
            }
        };
    for s in proto.steps() {
        let id = &mapping[&s.id];
        let issue_type = IssueType::from_str(&s.kind).map_err(|_| {
            MolError::Invalid(format!(
                "step {} has type `{}`, which is not an issue type ({})",
                s.id,
                s.kind,
                IssueType::NAMES.join(", ")
            ))
        })?;
        let mut meta = match &s.metadata {
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                let mut m = Map::new();
                m.insert("value".into(), other.clone());
                m
            }
            None => Map::new(),
        };
        let mut step = Map::new();
        step.insert("path".into(), json!(s.path));
        if let Some(r) = &s.run {
            let run = vars::substitute_shell(r, &values).map_err(|e| MolError::Vars(vec![e]))?;
            step.insert("run".into(), json!(run));
        }
        if let Some(g) = &s.gate {
            let mut gm = serde_json::to_value(g).unwrap_or(Value::Null);
            if let (Some(a), Some(obj)) = (&g.await_id, gm.as_object_mut()) {
                obj.insert("await_id".into(), json!(sub(a)));
            }
            step.insert("gate".into(), gm);
        }
        if !s.runtime.is_empty() {
            step.insert("runtime".into(), json!(s.runtime));
        }
        if let Some(c) = &s.condition {
            step.insert("condition".into(), json!(c));
            warnings.push(format!(
                "step {} has an unevaluated condition `{c}`; it is poured and recorded in metadata",
                s.id
            ));
        }
        step.insert(
            "source".into(),
            json!(format!(
                "{}@{}:{}:{}",
                s.provenance.formula, s.provenance.file, s.provenance.line, s.provenance.col
            )),
        );
        meta.insert("step".into(), Value::Object(step));
        crate::store::check_priority(s.priority as i64)?;
        issues.push(PlannedIssue {
            id: id.clone(),
            title: sub(&s.title),
            issue_type,
            priority: s.priority,
            assignee: s.assignee.as_deref().map(sub).filter(|a| !a.is_empty()),
            labels: s.labels.clone(),
            description: sub(&s.description),
            notes: s.notes.as_deref().map(sub).unwrap_or_default(),
            acceptance: s.acceptance.as_deref().map(sub).unwrap_or_default(),
            metadata: Value::Object(meta),
        });
        let parent = match &s.parent {
            Some(p) => mapping.get(p).cloned().ok_or_else(|| {
                MolError::Invalid(format!("step {} has unknown parent {p}", s.id))
            })?,
            None => root.to_string(),
        };
        push_dep(&mut deps, id, &parent, DepType::ParentChild, None);
    }
    for d in proto.deps() {
        let (Some(from), Some(to)) = (mapping.get(&d.from), mapping.get(&d.to)) else {
            return Err(MolError::Invalid(format!(
                "dependency {} -> {} names a step that is not in the protomolecule",
                d.from, d.to
            )));
        };
        let t = match d.kind {
            DepKind::Blocks => DepType::Blocks,
            DepKind::ParentChild => DepType::ParentChild,
            DepKind::WaitsFor => DepType::WaitsFor,
        };
        if from == to {
            return Err(MolError::Invalid(format!(
                "step {} depends on itself",
                d.from
            )));
        }
        let m = match (t, &d.metadata) {
            (DepType::WaitsFor, None) => Some(json!({"gate": "all-children"})),
            (_, m) => m.clone(),
        };
        push_dep(&mut deps, from, to, t, m);
    }
    // One parent per issue.
    let mut parents: HashMap<&str, &str> = HashMap::new();
    for d in deps.iter().filter(|d| d.dep_type == DepType::ParentChild) {
        if let Some(p) = parents.insert(&d.from, &d.to) {
            if p != d.to {
                return Err(MolError::Invalid(format!(
                    "{} would have two parents, {p} and {}",
                    d.from, d.to
                )));
            }
        }
    }
    check_acyclic(&issues, &deps)?;
    Ok(Plan {
        root: root.to_string(),
        mapping,
        issues,
        deps,
        vars: values,
        hash,
        warnings,
    })
}

/// Refuse a cycle over blocking edges, printing it.
fn check_acyclic(issues: &[PlannedIssue], deps: &[PlannedDep]) -> Result<()> {
    let index: HashMap<&str, usize> = issues
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.as_str(), i))
        .collect();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); issues.len()];
    for d in deps.iter().filter(|d| d.dep_type.is_blocking()) {
        out[index[d.from.as_str()]].push(index[d.to.as_str()]);
    }
    // Iterative DFS with colours; on a back edge, unwind the stack.
    let mut colour = vec![0u8; issues.len()];
    for start in 0..issues.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (n, ref mut next)) = stack.last_mut() {
            if *next < out[n].len() {
                let m = out[n][*next];
                *next += 1;
                match colour[m] {
                    0 => {
                        colour[m] = 1;
                        stack.push((m, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|(x, _)| *x == m).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[pos..]
                            .iter()
                            .map(|(x, _)| issues[*x].id.clone())
                            .collect();
                        cycle.push(issues[m].id.clone());
                        return Err(crate::store::StoreError::Cycle { cycle }.into());
                    }
                    _ => {}
                }
            } else {
                colour[n] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Pour `proto` into the store: root and every step in one transaction.
pub fn pour(store: &mut Store, proto: &Proto, opts: &PourOptions) -> Result<PourResult> {
    if opts.dry_run {
        let root = opts
            .root_id
            .clone()
            .unwrap_or_else(|| format!("{}-<new>", store.prefix()));
        let plan = plan(proto, &root, opts)?;
        return Ok(result(proto, plan, opts, true));
    }
    store.write(|tx| pour_tx(tx, proto, opts))
}

fn result(proto: &Proto, plan: Plan, opts: &PourOptions, dry: bool) -> PourResult {
    PourResult {
        new_epic_id: plan.root,
        id_mapping: plan.mapping,
        created: plan.issues.len(),
        phase: if opts.ephemeral { "vapor" } else { "liquid" },
        ephemeral: opts.ephemeral,
        dry_run: dry,
        formula: proto.formula.clone(),
        proto_hash: plan.hash,
        vars: plan.vars,
        warnings: plan.warnings,
        issues: if dry { plan.issues } else { Vec::new() },
        deps: if dry { plan.deps } else { Vec::new() },
    }
}

/// Pour inside an open transaction (bond uses this).
pub fn pour_tx(tx: &Tx<'_>, proto: &Proto, opts: &PourOptions) -> Result<PourResult> {
    let root = match &opts.root_id {
        Some(r) => {
            crate::ids::validate_bead_id(r).map_err(StoreError::from)?;
            r.clone()
        }
        None => tx.new_id(&proto.formula)?,
    };
    let plan = plan(proto, &root, opts)?;
    let conn = tx.conn();
    // Ids must be free. A generated root is fresh, so only a caller-chosen
    // root needs the check; the primary key still guards every insert.
    if opts.root_id.is_some() {
        let mut st = conn.prepare_cached("SELECT 1 FROM issues WHERE id = ?1")?;
        for i in &plan.issues {
            if st.exists([&i.id])? {
                return Err(taken(&i.id));
            }
        }
    }
    // Readiness, computed in memory: every new issue is open.
    let n = plan.issues.len();
    let index: HashMap<&str, usize> = plan
        .issues
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.as_str(), i))
        .collect();
    let mut open_blockers = vec![0i64; n];
    let mut children_open = vec![0i64; n];
    let mut parent: Vec<Option<usize>> = vec![None; n];
    for d in &plan.deps {
        let (f, t) = (index[d.from.as_str()], index[d.to.as_str()]);
        match d.dep_type {
            DepType::Blocks | DepType::ConditionalBlocks => open_blockers[f] += 1,
            DepType::ParentChild => {
                children_open[t] += 1;
                parent[f] = Some(t);
            }
            _ => {}
        }
    }
    let mut waits = vec![0i64; n];
    for d in plan.deps.iter().filter(|d| d.dep_type == DepType::WaitsFor) {
        if children_open[index[d.to.as_str()]] > 0 {
            waits[index[d.from.as_str()]] += 1;
        }
    }
    let mut blocked: Vec<Option<bool>> = vec![None; n];
    let mut anc = vec![false; n];
    for i in 0..n {
        // Resolve up the parent chain (no recursion: chains can be long).
        let mut chain = vec![i];
        while let Some(p) = parent[*chain.last().unwrap_or(&i)] {
            if blocked[p].is_some() || chain.contains(&p) {
                break;
            }
            chain.push(p);
        }
        for &c in chain.iter().rev() {
            if blocked[c].is_some() {
                continue;
            }
            let a = parent[c].and_then(|p| blocked[p]).unwrap_or(false);
            anc[c] = a;
            blocked[c] = Some(open_blockers[c] > 0 || waits[c] > 0 || a);
        }
    }
    let mut ins = conn.prepare_cached(
        "INSERT INTO issues (id, title, description, acceptance_criteria, notes, status, issue_type, priority, assignee, metadata, ephemeral, created_at, updated_at, created_by,
                             open_blockers, waits_unsat, anc_blocked, blocked, children_open, children_closed)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0)",
    )?;
    let mut label =
        conn.prepare_cached("INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?1, ?2)")?;
    let mut tomb = conn.prepare_cached("DELETE FROM tombstones WHERE id = ?1")?;
    for (k, i) in plan.issues.iter().enumerate() {
        for l in &i.labels {
            crate::store::issues::check_label(l)?;
        }
        ins.execute(params![
            i.id,
            i.title,
            i.description,
            i.acceptance,
            i.notes,
            i.issue_type.as_str(),
            i.priority,
            i.assignee,
            serde_json::to_string(&i.metadata).map_err(crate::store::StoreError::from)?,
            opts.ephemeral,
            tx.now,
            tx.actor,
            open_blockers[k],
            waits[k],
            anc[k],
            blocked[k].unwrap_or(false),
            children_open[k],
        ])
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                taken(&i.id)
            }
            e => e.into(),
        })?;
        for l in &i.labels {
            label.execute(params![i.id, l])?;
        }
        if opts.root_id.is_some() {
            // Only a caller-chosen root can reuse a deleted id.
            tomb.execute([&i.id])?;
        }
        tx.event(&i.id, "created", None, None, Some(&i.title))?;
    }
    let mut dep = conn.prepare_cached(
        "INSERT INTO deps (issue_id, depends_on, type, metadata, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for d in &plan.deps {
        let m = d.metadata.as_ref().map(|m| m.to_string());
        dep.execute(params![
            d.from,
            d.to,
            d.dep_type.as_str(),
            m,
            tx.now,
            tx.actor
        ])?;
    }
    let kind = if opts.ephemeral { "wisp" } else { "poured" };
    tx.event(&root, kind, Some("formula"), None, Some(&proto.formula))?;
    Ok(result(proto, plan, opts, false))
}

fn taken(id: &str) -> MolError {
    MolError::Invalid(format!(
        "issue {id} already exists; pour under another root"
    ))
}
