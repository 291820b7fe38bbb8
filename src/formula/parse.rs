//! Decode a spanned document tree into the typed AST.
//!
//! Every table's keys are checked against the schema: a key that no formula
//! reader understands is a warning with a did-you-mean, a key that only
//! differs by case says so (keys are case-sensitive here, unlike beads), and
//! a value of the wrong type is an error pointing at the value. Keys that
//! Gas Town formulas carry but no tool reads (`[squash]`, `[presets]`) are
//! known and load without noise.

use super::ast::*;
use super::codes::Code;
use super::diag::Diagnostic;
use super::node::{self, Entry, Node, Value};
use super::source::{FileId, SourceFile, Span, MAX_SOURCE_BYTES};
use super::suggest::did_you_mean;

const TOP_KEYS: &[&str] = &[
    "formula",
    "description",
    "version",
    "type",
    "extends",
    "vars",
    "steps",
    "template",
    "compose",
    "advice",
    "pointcuts",
    "phase",
    "pour",
    "source",
    "agent",
    "review_only",
    "inputs",
    "prompts",
    "output",
    "legs",
    "synthesis",
    "aspects",
];
/// Read by no tool, but present in real Gas Town formulas.
const TOP_FOREIGN: &[&str] = &["squash", "presets"];
const VAR_KEYS: &[&str] = &[
    "description",
    "default",
    "required",
    "enum",
    "pattern",
    "type",
];
pub const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "notes",
    "type",
    "priority",
    "labels",
    "metadata",
    "depends_on",
    "needs",
    "waits_for",
    "assignee",
    "expand",
    "expand_vars",
    "condition",
    "children",
    "gate",
    "loop",
    "on_complete",
    "parallel",
    "interactive",
    "acceptance",
    "run",
    "args",
    "output",
];
const GATE_KEYS: &[&str] = &["type", "id", "await_id", "timeout", "condition"];
const LOOP_KEYS: &[&str] = &["count", "range", "until", "max", "var", "body"];
const ON_COMPLETE_KEYS: &[&str] = &["for_each", "bond", "vars", "parallel", "sequential"];
const COMPOSE_KEYS: &[&str] = &[
    "bond_points",
    "hooks",
    "expand",
    "map",
    "branch",
    "gate",
    "aspects",
];
const BOND_POINT_KEYS: &[&str] = &["id", "description", "after_step", "before_step", "parallel"];
const HOOK_KEYS: &[&str] = &["trigger", "attach", "at", "vars"];
const EXPAND_KEYS: &[&str] = &["target", "with", "vars"];
const MAP_KEYS: &[&str] = &["select", "with", "vars"];
const BRANCH_KEYS: &[&str] = &["from", "steps", "join"];
const GATE_RULE_KEYS: &[&str] = &["before", "condition"];
const ADVICE_KEYS: &[&str] = &["target", "before", "after", "around"];
const AROUND_KEYS: &[&str] = &["before", "after"];
const POINTCUT_KEYS: &[&str] = &["glob", "type", "label"];
const INPUT_KEYS: &[&str] = &[
    "description",
    "type",
    "required",
    "required_unless",
    "default",
];
const OUTPUT_KEYS: &[&str] = &["directory", "leg_pattern", "synthesis"];
const LEG_KEYS: &[&str] = &[
    "id",
    "title",
    "focus",
    "description",
    "agent",
    "review_only",
];
const SYNTHESIS_KEYS: &[&str] = &["title", "description", "depends_on"];

pub fn too_large(name: &str, len: usize) -> Diagnostic {
    Diagnostic::new(
        Code::F0004,
        format!("`{name}` is {len} bytes; formula files are limited to {MAX_SOURCE_BYTES} bytes (64 MiB)"),
    )
    .help("split the workflow into several formulas joined with `extends` or `compose`")
}

/// Read raw bytes into a source file, refusing what cannot be a formula.
pub fn check_bytes(name: &str, bytes: &[u8]) -> Result<String, Diagnostic> {
    check_text(name, bytes.to_vec())
}

/// [`check_bytes`] for bytes the caller owns (no copy of the text).
pub fn check_text(name: &str, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(too_large(name, bytes.len()));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Diagnostic::new(
            Code::F0002,
            format!(
                "`{name}` is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
        .help("formula files are TOML or JSON text; is this a binary file?")
    })?;
    if text.contains('\0') {
        return Err(Diagnostic::new(
            Code::F0002,
            format!("`{name}` contains NUL bytes; it looks like a binary file"),
        )
        .help("formula files are TOML or JSON text"));
    }
    if text.trim().is_empty() {
        return Err(Diagnostic::new(Code::F0003, format!("`{name}` is empty"))
            .help("a formula needs at least `formula = \"<name>\"` and one `[[steps]]`"));
    }
    Ok(text)
}

pub fn is_json_name(name: &str) -> bool {
    name.ends_with(".json")
}

/// Parse a source file into a formula. Problems go to `diags`; the formula
/// is returned whenever the syntax was readable, even if fields are bad.
pub fn parse_formula(
    file: FileId,
    source: &SourceFile,
    diags: &mut Vec<Diagnostic>,
) -> Option<Formula> {
    if source.text.trim().is_empty() {
        diags.push(
            Diagnostic::new(Code::F0003, format!("`{}` is empty", source.name))
                .at(Span::new(file, 0..0), "")
                .help("a formula needs at least `formula = \"<name>\"` and one `[[steps]]`"),
        );
        return None;
    }
    let json = is_json_name(&source.name);
    let mut cx = Decoder { file, diags };
    if !json {
        if let Some(f) = cx.formula_by_pieces(&source.text) {
            return f;
        }
    }
    let root = if json {
        node::parse_json(&source.text, file)
    } else {
        node::parse_toml(&source.text, file)
    };
    match root {
        Ok(root) => cx.formula(&root),
        Err(d) => {
            cx.diags.push(d);
            None
        }
    }
}

struct Decoder<'a> {
    file: FileId,
    diags: &'a mut Vec<Diagnostic>,
}

impl Decoder<'_> {
    // -- primitive readers ---------------------------------------------------

    fn wrong_type(&mut self, node: &Node, key: &str, expected: &str, help: Option<String>) {
        self.diags.push(
            Diagnostic::new(
                Code::F0008,
                format!("`{key}` must be {expected}, found {}", node.type_name()),
            )
            .at(node.span, format!("expected {expected}"))
            .maybe_help(help),
        );
    }

    fn table<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Table(entries) => Some(entries),
            _ => {
                self.wrong_type(node, key, "a table", None);
                None
            }
        }
    }

    /// Warn about keys outside `known`; `foreign` keys load silently.
    fn check_keys(&mut self, entries: &[Entry], known: &[&str], foreign: &[&str], what: &str) {
        for e in entries {
            let k = e.key.as_str();
            if known.contains(&k) || foreign.contains(&k) {
                continue;
            }
            if let Some(exact) = known.iter().find(|c| c.eq_ignore_ascii_case(k)) {
                self.diags.push(
                    Diagnostic::new(
                        Code::F0007,
                        format!("unknown key `{k}` in {what}; keys are case-sensitive"),
                    )
                    .at(e.key_span, format!("did you mean `{exact}`?"))
                    .help(format!(
                        "rename it to `{exact}`; this value is ignored until then"
                    )),
                );
                continue;
            }
            let suggestion = did_you_mean(k, known.iter().copied());
            let label = match &suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "not a known key".to_string(),
            };
            let help = match &suggestion {
                Some(s) => format!("rename it to `{s}`; this value is ignored until then"),
                None => format!("known keys here are: {}", known.join(", ")),
            };
            self.diags.push(
                Diagnostic::new(Code::F0006, format!("unknown key `{k}` in {what}"))
                    .at(e.key_span, label)
                    .help(help),
            );
        }
    }

    fn string(&mut self, node: &Node, key: &str) -> Option<SpStr> {
        match &node.value {
            Value::Str(s) => Some(Sp::new(s.clone(), node.span)),
            Value::Null => None,
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let raw = node.to_json().to_string();
                self.wrong_type(
                    node,
                    key,
                    "a string",
                    Some(format!("quote the value: `{key} = \"{raw}\"`")),
                );
                None
            }
            _ => {
                self.wrong_type(node, key, "a string", None);
                None
            }
        }
    }

    fn int(&mut self, node: &Node, key: &str) -> Option<Sp<i64>> {
        match &node.value {
            Value::Int(i) => Some(Sp::new(*i, node.span)),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Some(Sp::new(*f as i64, node.span))
            }
            Value::Null => None,
            Value::Str(s) if s.trim().parse::<i64>().is_ok() => {
                self.wrong_type(
                    node,
                    key,
                    "an integer",
                    Some(format!("drop the quotes: `{key} = {}`", s.trim())),
                );
                None
            }
            _ => {
                self.wrong_type(node, key, "an integer", None);
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, key: &str) -> Option<Sp<bool>> {
        match &node.value {
            Value::Bool(b) => Some(Sp::new(*b, node.span)),
            Value::Null => None,
            Value::Str(s) if matches!(s.as_str(), "true" | "false" | "yes" | "no") => {
                let fixed = if matches!(s.as_str(), "true" | "yes") {
                    "true"
                } else {
                    "false"
                };
                self.wrong_type(
                    node,
                    key,
                    "a boolean",
                    Some(format!("write `{key} = {fixed}` without quotes")),
                );
                None
            }
            _ => {
                self.wrong_type(node, key, "a boolean", Some("use `true` or `false`".into()));
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, key: &str) -> Vec<SpStr> {
        match &node.value {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                out.extend(items.iter().filter_map(|i| self.string(i, key)));
                out
            }
            Value::Null => Vec::new(),
            Value::Str(s) => {
                self.wrong_type(
                    node,
                    key,
                    "an array of strings",
                    Some(format!("write `{key} = [\"{s}\"]`")),
                );
                Vec::new()
            }
            _ => {
                self.wrong_type(node, key, "an array of strings", None);
                Vec::new()
            }
        }
    }

    fn string_map(&mut self, node: &Node, key: &str) -> Vec<(SpStr, SpStr)> {
        let Some(entries) = self.table(node, key) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let v = self.string(&e.node, &format!("{key}.{}", e.key))?;
                Some((Sp::new(e.key.clone(), e.key_span), v))
            })
            .collect()
    }

    /// An array of tables (also accepts a single table for one element).
    fn table_list<'n>(&mut self, node: &'n Node, key: &str) -> Vec<&'n Node> {
        match &node.value {
            Value::Array(items) => items.iter().collect(),
            Value::Table(_) => vec![node],
            Value::Null => Vec::new(),
            _ => {
                self.wrong_type(node, key, "an array of tables", None);
                Vec::new()
            }
        }
    }

    // -- schema ----------------------------------------------------------------

    fn formula(&mut self, root: &Node) -> Option<Formula> {
        let entries = match &root.value {
            Value::Table(entries) => entries,
            _ => {
                self.diags.push(
                    Diagnostic::new(
                        Code::F0008,
                        format!(
                            "a formula must be a table (object), found {}",
                            root.type_name()
                        ),
                    )
                    .at(root.span, "expected a table"),
                );
                return None;
            }
        };
        self.check_keys(entries, TOP_KEYS, TOP_FOREIGN, "the formula");
        let mut f = Formula {
            file: root.span.file(),
            doc_span: Some(Span::new(root.span.file(), 0..0)),
            ..Formula::default()
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "formula" => f.name = self.string(n, "formula"),
                "description" => f.description = self.string(n, "description"),
                "version" => f.version = self.int(n, "version"),
                "type" => f.kind = self.string(n, "type"),
                "extends" => f.extends = self.string_list(n, "extends"),
                "vars" => f.vars = self.vars(n),
                "steps" => f.steps = self.steps(n, "steps"),
                "template" => f.template = self.steps(n, "template"),
                "compose" => f.compose = self.compose(n),
                "advice" => {
                    f.advice = self
                        .table_list(n, "advice")
                        .into_iter()
                        .filter_map(|a| self.advice(a))
                        .collect()
                }
                "pointcuts" => {
                    f.pointcuts = self
                        .table_list(n, "pointcuts")
                        .into_iter()
                        .filter_map(|p| self.pointcut(p))
                        .collect()
                }
                "phase" => f.phase = self.string(n, "phase"),
                "pour" => f.pour = self.bool(n, "pour"),
                "agent" => f.agent = self.string(n, "agent"),
                "review_only" => f.review_only = self.bool(n, "review_only"),
                "inputs" => f.inputs = self.inputs(n),
                "prompts" => f.prompts = self.string_map(n, "prompts"),
                "output" => f.output = self.output(n),
                "legs" => f.legs = self.legs(n, "legs"),
                "synthesis" => f.synthesis = self.synthesis(n),
                "aspects" => f.aspects = self.legs(n, "aspects"),
                _ => {}
            }
        }
        Some(f)
    }

    /// Decode a TOML formula reading its `[[steps]]` one table at a time
    /// ([`node::Pieces`]): each step is decoded and its tree dropped before
    /// the next is read. `None` when the file must be read whole.
    fn formula_by_pieces(&mut self, text: &str) -> Option<Option<Formula>> {
        let pieces = node::Pieces::scan(text, "steps")?;
        let mut steps = Vec::with_capacity(pieces.len());
        let mut step_diags = Vec::new();
        let mut each = Decoder {
            file: self.file,
            diags: &mut step_diags,
        };
        let root = pieces.parse(self.file, &mut |table| {
            steps.extend(each.step(&table, "steps"))
        })?;
        self.diags.append(&mut step_diags);
        let mut f = self.formula(&root);
        if let Some(f) = &mut f {
            f.steps = steps;
        }
        Some(f)
    }

    fn vars(&mut self, node: &Node) -> Vec<VarDef> {
        let Some(entries) = self.table(node, "vars") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries {
            let name = Sp::new(e.key.clone(), e.key_span);
            match &e.node.value {
                // Short form: `name = "default"`.
                Value::Str(s) => out.push(VarDef {
                    name,
                    span: e.node.span,
                    description: None,
                    default: Some(Sp::new(s.clone(), e.node.span)),
                    required: None,
                    enum_values: None,
                    pattern: None,
                    value_type: None,
                }),
                Value::Table(fields) => {
                    self.check_keys(fields, VAR_KEYS, &[], &format!("var `{}`", e.key));
                    let mut v = VarDef {
                        name,
                        span: e.node.span,
                        description: None,
                        default: None,
                        required: None,
                        enum_values: None,
                        pattern: None,
                        value_type: None,
                    };
                    for fe in fields {
                        let n = &fe.node;
                        match fe.key.as_str() {
                            "description" => v.description = self.string(n, "description"),
                            "default" => v.default = self.string(n, "default"),
                            "required" => v.required = self.bool(n, "required"),
                            "enum" => {
                                if let Value::Array(_) = n.value {
                                    v.enum_values =
                                        Some(Sp::new(self.string_list(n, "enum"), n.span));
                                } else {
                                    self.string_list(n, "enum");
                                }
                            }
                            "pattern" => v.pattern = self.string(n, "pattern"),
                            "type" => v.value_type = self.string(n, "type"),
                            _ => {}
                        }
                    }
                    out.push(v);
                }
                _ => self.wrong_type(
                    &e.node,
                    &format!("vars.{}", e.key),
                    "a string (the default) or a table",
                    Some(format!(
                        "write `{k} = \"<default>\"` or a `[vars.{k}]` table",
                        k = e.key
                    )),
                ),
            }
        }
        out
    }

    fn steps(&mut self, node: &Node, key: &str) -> Vec<Step> {
        let tables = self.table_list(node, key);
        // Sized up front: a `Step` is large and there may be 100,000.
        let mut out = Vec::with_capacity(tables.len());
        out.extend(tables.into_iter().filter_map(|n| self.step(n, key)));
        out
    }

    fn step(&mut self, node: &Node, key: &str) -> Option<Step> {
        let entries = self.table(node, key)?;
        self.check_keys(entries, STEP_KEYS, &[], "a step");
        let mut s = Step {
            span: Some(node.span),
            ..Step::default()
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "id" => s.id = self.string(n, "id"),
                "title" => s.title = self.string(n, "title"),
                "description" => s.description = self.string(n, "description"),
                "notes" => s.notes = self.string(n, "notes"),
                "type" => s.kind = self.string(n, "type"),
                "priority" => s.priority = self.int(n, "priority"),
                "labels" => s.labels = self.string_list(n, "labels"),
                "metadata" if self.table(n, "metadata").is_some() => {
                    s.metadata = Some(Box::new(Sp::new(n.to_json(), n.span)));
                }
                "depends_on" => s.depends_on = self.string_list(n, "depends_on"),
                "needs" => s.needs = self.string_list(n, "needs"),
                "waits_for" => s.waits_for = self.string(n, "waits_for"),
                "assignee" => s.assignee = self.string(n, "assignee"),
                "expand" => s.expand = self.string(n, "expand"),
                "expand_vars" => s.expand_vars = self.string_map(n, "expand_vars"),
                "condition" => s.condition = self.string(n, "condition"),
                "children" => s.children = self.steps(n, "children"),
                "gate" => s.gate = self.gate(n).map(Box::new),
                "loop" => s.loop_ = self.loop_(n).map(Box::new),
                "on_complete" => s.on_complete = self.on_complete(n).map(Box::new),
                "parallel" => s.parallel = self.bool(n, "parallel"),
                "interactive" => s.interactive = self.bool(n, "interactive"),
                "acceptance" => s.acceptance = self.string(n, "acceptance"),
                "run" => s.run = self.string(n, "run"),
                "args" => s.args = Some(Box::new(Sp::new(n.to_json(), n.span))),
                "output" => s.output = Some(Box::new(Sp::new(n.to_json(), n.span))),
                _ => {}
            }
        }
        Some(s)
    }

    fn gate(&mut self, node: &Node) -> Option<Gate> {
        let entries = self.table(node, "gate")?;
        self.check_keys(entries, GATE_KEYS, &[], "a gate");
        let mut g = Gate {
            span: node.span,
            kind: None,
            id: None,
            await_id: None,
            timeout: None,
            condition: None,
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "type" => g.kind = self.string(n, "gate.type"),
                "id" => g.id = self.string(n, "gate.id"),
                "await_id" => g.await_id = self.string(n, "gate.await_id"),
                "timeout" => g.timeout = self.string(n, "gate.timeout"),
                "condition" => g.condition = self.string(n, "gate.condition"),
                _ => {}
            }
        }
        Some(g)
    }

    fn loop_(&mut self, node: &Node) -> Option<Loop> {
        let entries = self.table(node, "loop")?;
        self.check_keys(entries, LOOP_KEYS, &[], "a loop");
        let mut l = Loop {
            span: node.span,
            count: None,
            range: None,
            until: None,
            max: None,
            var: None,
            body: Vec::new(),
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "count" => l.count = self.int(n, "loop.count"),
                "range" => l.range = self.string(n, "loop.range"),
                "until" => l.until = self.string(n, "loop.until"),
                "max" => l.max = self.int(n, "loop.max"),
                "var" => l.var = self.string(n, "loop.var"),
                "body" => l.body = self.steps(n, "loop.body"),
                _ => {}
            }
        }
        Some(l)
    }

    fn on_complete(&mut self, node: &Node) -> Option<OnComplete> {
        let entries = self.table(node, "on_complete")?;
        self.check_keys(entries, ON_COMPLETE_KEYS, &[], "on_complete");
        let mut o = OnComplete {
            span: node.span,
            for_each: None,
            bond: None,
            vars: Vec::new(),
            parallel: None,
            sequential: None,
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "for_each" => o.for_each = self.string(n, "on_complete.for_each"),
                "bond" => o.bond = self.string(n, "on_complete.bond"),
                "vars" => o.vars = self.string_map(n, "on_complete.vars"),
                "parallel" => o.parallel = self.bool(n, "on_complete.parallel"),
                "sequential" => o.sequential = self.bool(n, "on_complete.sequential"),
                _ => {}
            }
        }
        Some(o)
    }

    fn compose(&mut self, node: &Node) -> Option<Compose> {
        let entries = self.table(node, "compose")?;
        self.check_keys(entries, COMPOSE_KEYS, &[], "compose");
        let mut c = Compose {
            span: Some(node.span),
            ..Compose::default()
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "aspects" => c.aspects = self.string_list(n, "compose.aspects"),
                "bond_points" => {
                    for t in self.table_list(n, "compose.bond_points") {
                        let Some(fields) = self.table(t, "compose.bond_points") else {
                            continue;
                        };
                        self.check_keys(fields, BOND_POINT_KEYS, &[], "a bond point");
                        let mut b = BondPoint {
                            span: t.span,
                            id: None,
                            description: None,
                            after_step: None,
                            before_step: None,
                            parallel: None,
                        };
                        for fe in fields {
                            let v = &fe.node;
                            match fe.key.as_str() {
                                "id" => b.id = self.string(v, "id"),
                                "description" => b.description = self.string(v, "description"),
                                "after_step" => b.after_step = self.string(v, "after_step"),
                                "before_step" => b.before_step = self.string(v, "before_step"),
                                "parallel" => b.parallel = self.bool(v, "parallel"),
                                _ => {}
                            }
                        }
                        c.bond_points.push(b);
                    }
                }
                "hooks" => {
                    for t in self.table_list(n, "compose.hooks") {
                        let Some(fields) = self.table(t, "compose.hooks") else {
                            continue;
                        };
                        self.check_keys(fields, HOOK_KEYS, &[], "a hook");
                        let mut h = Hook {
                            span: t.span,
                            trigger: None,
                            attach: None,
                            at: None,
                            vars: Vec::new(),
                        };
                        for fe in fields {
                            let v = &fe.node;
                            match fe.key.as_str() {
                                "trigger" => h.trigger = self.string(v, "trigger"),
                                "attach" => h.attach = self.string(v, "attach"),
                                "at" => h.at = self.string(v, "at"),
                                "vars" => h.vars = self.string_map(v, "vars"),
                                _ => {}
                            }
                        }
                        c.hooks.push(h);
                    }
                }
                "expand" => {
                    for t in self.table_list(n, "compose.expand") {
                        let Some(fields) = self.table(t, "compose.expand") else {
                            continue;
                        };
                        self.check_keys(fields, EXPAND_KEYS, &[], "an expand rule");
                        let mut r = ExpandRule {
                            span: t.span,
                            target: None,
                            with: None,
                            vars: Vec::new(),
                        };
                        for fe in fields {
                            let v = &fe.node;
                            match fe.key.as_str() {
                                "target" => r.target = self.string(v, "target"),
                                "with" => r.with = self.string(v, "with"),
                                "vars" => r.vars = self.string_map(v, "vars"),
                                _ => {}
                            }
                        }
                        c.expand.push(r);
                    }
                }
                "map" => {
                    for t in self.table_list(n, "compose.map") {
                        let Some(fields) = self.table(t, "compose.map") else {
                            continue;
                        };
                        self.check_keys(fields, MAP_KEYS, &[], "a map rule");
                        let mut r = MapRule {
                            span: t.span,
                            select: None,
                            with: None,
                            vars: Vec::new(),
                        };
                        for fe in fields {
                            let v = &fe.node;
                            match fe.key.as_str() {
                                "select" => r.select = self.string(v, "select"),
                                "with" => r.with = self.string(v, "with"),
                                "vars" => r.vars = self.string_map(v, "vars"),
                                _ => {}
                            }
                        }
                        c.map.push(r);
                    }
                }
                "branch" => {
                    for t in self.table_list(n, "compose.branch") {
                        let Some(fields) = self.table(t, "compose.branch") else {
                            continue;
                        };
                        self.check_keys(fields, BRANCH_KEYS, &[], "a branch rule");
                        let mut r = BranchRule {
                            span: t.span,
                            from: None,
                            steps: Vec::new(),
                            join: None,
                        };
                        for fe in fields {
                            let v = &fe.node;
                            match fe.key.as_str() {
                                "from" => r.from = self.string(v, "from"),
                                "steps" => r.steps = self.string_list(v, "steps"),
                                "join" => r.join = self.string(v, "join"),
                                _ => {}
                            }
                        }
                        c.branch.push(r);
                    }
                }
                "gate" => {
                    for t in self.table_list(n, "compose.gate") {
                        let Some(fields) = self.table(t, "compose.gate") else {
                            continue;
                        };
                        self.check_keys(fields, GATE_RULE_KEYS, &[], "a gate rule");
                        let mut r = GateRule {
                            span: t.span,
                            before: None,
                            condition: None,
                        };
                        for fe in fields {
                            let v = &fe.node;
                            match fe.key.as_str() {
                                "before" => r.before = self.string(v, "before"),
                                "condition" => r.condition = self.string(v, "condition"),
                                _ => {}
                            }
                        }
                        c.gate.push(r);
                    }
                }
                _ => {}
            }
        }
        Some(c)
    }

    fn advice(&mut self, node: &Node) -> Option<Advice> {
        let entries = self.table(node, "advice")?;
        self.check_keys(entries, ADVICE_KEYS, &[], "an advice rule");
        let mut a = Advice {
            span: node.span,
            target: None,
            before: None,
            after: None,
            around_before: Vec::new(),
            around_after: Vec::new(),
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "target" => a.target = self.string(n, "advice.target"),
                "before" => a.before = self.step(n, "advice.before"),
                "after" => a.after = self.step(n, "advice.after"),
                "around" => {
                    let Some(fields) = self.table(n, "advice.around") else {
                        continue;
                    };
                    self.check_keys(fields, AROUND_KEYS, &[], "advice.around");
                    for fe in fields {
                        match fe.key.as_str() {
                            "before" => {
                                a.around_before = self.steps(&fe.node, "advice.around.before")
                            }
                            "after" => a.around_after = self.steps(&fe.node, "advice.around.after"),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(a)
    }

    fn pointcut(&mut self, node: &Node) -> Option<Pointcut> {
        let entries = self.table(node, "pointcuts")?;
        self.check_keys(entries, POINTCUT_KEYS, &[], "a pointcut");
        let mut p = Pointcut {
            span: node.span,
            glob: None,
            kind: None,
            label: None,
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "glob" => p.glob = self.string(n, "glob"),
                "type" => p.kind = self.string(n, "type"),
                "label" => p.label = self.string(n, "label"),
                _ => {}
            }
        }
        Some(p)
    }

    fn inputs(&mut self, node: &Node) -> Vec<Input> {
        let Some(entries) = self.table(node, "inputs") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries {
            let Some(fields) = self.table(&e.node, &format!("inputs.{}", e.key)) else {
                continue;
            };
            self.check_keys(fields, INPUT_KEYS, &[], &format!("input `{}`", e.key));
            let mut i = Input {
                name: Sp::new(e.key.clone(), e.key_span),
                span: e.node.span,
                description: None,
                kind: None,
                required: None,
                required_unless: Vec::new(),
                default: None,
            };
            for fe in fields {
                let n = &fe.node;
                match fe.key.as_str() {
                    "description" => i.description = self.string(n, "description"),
                    "type" => i.kind = self.string(n, "type"),
                    "required" => i.required = self.bool(n, "required"),
                    "required_unless" => i.required_unless = self.string_list(n, "required_unless"),
                    "default" => i.default = self.string(n, "default"),
                    _ => {}
                }
            }
            out.push(i);
        }
        out
    }

    fn output(&mut self, node: &Node) -> Option<Output> {
        let entries = self.table(node, "output")?;
        self.check_keys(entries, OUTPUT_KEYS, &[], "output");
        let mut o = Output {
            span: node.span,
            directory: None,
            leg_pattern: None,
            synthesis: None,
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "directory" => o.directory = self.string(n, "output.directory"),
                "leg_pattern" => o.leg_pattern = self.string(n, "output.leg_pattern"),
                "synthesis" => o.synthesis = self.string(n, "output.synthesis"),
                _ => {}
            }
        }
        Some(o)
    }

    fn legs(&mut self, node: &Node, key: &str) -> Vec<Leg> {
        let mut out = Vec::new();
        for t in self.table_list(node, key) {
            let Some(fields) = self.table(t, key) else {
                continue;
            };
            self.check_keys(fields, LEG_KEYS, &[], &format!("an entry of `{key}`"));
            let mut l = Leg {
                span: t.span,
                id: None,
                title: None,
                focus: None,
                description: None,
                agent: None,
                review_only: None,
            };
            for fe in fields {
                let n = &fe.node;
                match fe.key.as_str() {
                    "id" => l.id = self.string(n, "id"),
                    "title" => l.title = self.string(n, "title"),
                    "focus" => l.focus = self.string(n, "focus"),
                    "description" => l.description = self.string(n, "description"),
                    "agent" => l.agent = self.string(n, "agent"),
                    "review_only" => l.review_only = self.bool(n, "review_only"),
                    _ => {}
                }
            }
            out.push(l);
        }
        out
    }

    fn synthesis(&mut self, node: &Node) -> Option<Synthesis> {
        let entries = self.table(node, "synthesis")?;
        self.check_keys(entries, SYNTHESIS_KEYS, &[], "synthesis");
        let mut s = Synthesis {
            span: node.span,
            title: None,
            description: None,
            depends_on: Vec::new(),
        };
        for e in entries {
            let n = &e.node;
            match e.key.as_str() {
                "title" => s.title = self.string(n, "synthesis.title"),
                "description" => s.description = self.string(n, "synthesis.description"),
                "depends_on" => s.depends_on = self.string_list(n, "synthesis.depends_on"),
                _ => {}
            }
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formula::source::Origin;

    fn parse(text: &str) -> (Option<Formula>, Vec<Diagnostic>) {
        let src = SourceFile::new("t.formula.toml", Origin::Memory, text);
        let mut diags = Vec::new();
        let f = parse_formula(0, &src, &mut diags);
        (f, diags)
    }

    #[test]
    fn parses_steps_vars_and_foreign_keys_quietly() {
        let (f, diags) = parse(
            r#"
formula = "x"
version = 2
[vars]
short = "v"
[vars.long]
description = "d"
required = true
[[steps]]
id = "a"
title = "A {{short}}"
acceptance = "done"
[[steps]]
id = "b"
title = "B"
needs = ["a"]
[squash]
trigger = "on_complete"
"#,
        );
        assert!(diags.is_empty(), "{diags:?}");
        let f = f.unwrap();
        assert_eq!(f.name_str(), "x");
        assert_eq!(f.vars.len(), 2);
        assert_eq!(f.vars[0].default.as_ref().unwrap().value, "v");
        assert!(f.vars[1].is_required());
        assert_eq!(f.steps[1].needs[0].value, "a");
    }

    #[test]
    fn unknown_and_case_keys_warn_with_suggestions() {
        let (_, diags) = parse(
            "formula = \"x\"\n[[steps]]\nid = \"a\"\nTitle = \"A\"\ndependsOn = [\"b\"]\nneed = [\"c\"]\n",
        );
        let codes: Vec<_> = diags
            .iter()
            .map(|d| (d.code, d.primary.as_ref().unwrap().message.clone()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (Code::F0007, "did you mean `title`?".to_string()),
                (Code::F0006, "did you mean `depends_on`?".to_string()),
                (Code::F0006, "did you mean `needs`?".to_string()),
            ]
        );
    }

    #[test]
    fn wrong_type_points_at_value() {
        let text = "formula = \"x\"\n[[steps]]\nid = \"a\"\nneeds = \"b\"\n";
        let (_, diags) = parse(text);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::F0008);
        let span = diags[0].primary.as_ref().unwrap().span;
        assert_eq!(&text[span.range()], "\"b\"");
    }

    /// The whole document decoded as one tree, diagnostics sorted.
    fn whole(text: &str) -> (Option<Formula>, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut cx = Decoder {
            file: 0,
            diags: &mut diags,
        };
        let f = match node::parse_toml(text, 0) {
            Ok(root) => cx.formula(&root),
            Err(d) => {
                diags.push(d);
                None
            }
        };
        crate::formula::diag::sort_and_dedup(&mut diags);
        (f, diags)
    }

    /// The same through `formula_by_pieces`, or `None` if it read whole.
    fn by_pieces(text: &str) -> Option<(Option<Formula>, Vec<Diagnostic>)> {
        let mut diags = Vec::new();
        let mut cx = Decoder {
            file: 0,
            diags: &mut diags,
        };
        let f = cx.formula_by_pieces(text)?;
        crate::formula::diag::sort_and_dedup(&mut diags);
        Some((f, diags))
    }

    fn assert_same(text: &str) -> bool {
        let pieces = by_pieces(text);
        if let Some(p) = &pieces {
            assert_eq!(p, &whole(text), "pieces differ from the whole for:\n{text}");
        }
        pieces.is_some()
    }

    #[test]
    fn pieces_read_steps_exactly_as_the_whole_document() {
        let head = "formula = \"x\"\n[vars.who]\ndefault = \"me\"\n";
        let split = [
            "[[steps]]\nid = \"a\"\n[[steps]]\nid = \"b\"\nneeds = [\"a\"]\n",
            // Sub-tables of a step, nested arrays of tables, comments, CRLF.
            "[[steps]] # first\r\nid = \"a\"\r\n[steps.gate]\r\ntype = \"timer\"\r\n[[steps.children]]\r\nid = \"c\"\r\n[[steps]]\r\nid = \"b\"\r\n",
            // Lines opening with `[` inside a value or a string are no headers.
            "[[steps]]\nid = \"a\"\nlabels = [\n[\"x\"],\n]\ndescription = \"\"\"\n[[steps]]\n[compose]\n\"\"\"\n",
            // Tables after the steps stay in the rest, in document order.
            "[[steps]]\nid = \"a\"\n[compose]\n[[compose.expand]]\ntarget = \"a\"\nwith = \"e\"\n[[steps]]\nid = \"b\"\n",
            // Problems inside a step: unknown keys, wrong types, big numbers.
            "[[steps]]\nid = \"a\"\nTitle = \"A\"\nneeds = \"b\"\npriority = \"2\"\n[[ steps ]]\nid = \"b\"\nlabels = [1, \"x\"]\n",
            "\n  [[steps]]\n  id = \"é\"\n  title = \"ü\"\n",
        ];
        for body in split {
            assert!(assert_same(&format!("{head}{body}")), "not split:\n{body}");
        }
        let whole_only = [
            // `steps` written another way too: the document's own errors.
            "steps = []\n[[steps]]\nid = \"a\"\n",
            "[steps]\nx = 1\n[[steps]]\nid = \"a\"\n",
            "[[steps]]\nid = \"a\"\n[steps]\nx = 1\n",
            "[[steps]]\nid = \"a\"\n[vars]\n[steps.gate]\ntype = \"x\"\n",
            // Syntax errors, duplicate keys, numbers out of range.
            "[[steps]]\nid = \"a\"\nid = \"b\"\n",
            "[[steps]]\nid = \"a\n[[steps]]\nid = \"b\"\n",
            "[[steps]]\nid = \"a\"\npriority = 99999999999999999999\n",
            "[[steps]]\nid = [1,\n[[steps]]\nid = \"b\"\n",
            "x = 1]\n[[steps]]\nid = \"a\"\n",
            "[[steps]\nid = \"a\"\n",
        ];
        for body in whole_only {
            assert!(
                !assert_same(&format!("formula = \"x\"\n{body}")),
                "split:\n{body}"
            );
            assert_same(&format!("{head}{body}"));
        }
        // A byte-order mark before the first table.
        assert!(assert_same(
            "\u{feff}[[steps]]\nid = \"a\"\n[[steps]]\nid = \"b\"\n"
        ));
        // No `[[steps]]` at all: read whole.
        assert!(by_pieces(head).is_none());
    }

    #[test]
    fn pieces_read_every_known_formula_as_the_whole_document() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![
            root.join("stdlib-formulas"),
            root.join("examples"),
            root.join("tests"),
        ];
        dirs.extend(
            ["../shared/corpus", "../../shared/corpus"]
                .iter()
                .map(|d| root.join(d))
                .filter(|d| d.is_dir())
                .take(1),
        );
        let (mut files, mut split) = (0, 0);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "toml") {
                    let Ok(text) = std::fs::read_to_string(&path) else {
                        continue;
                    };
                    if text.len() > 1 << 20 {
                        continue;
                    }
                    files += 1;
                    split += usize::from(assert_same(&text));
                }
            }
        }
        assert!(files > 50 && split > 20, "{files} files, {split} split");
    }

    #[test]
    fn pieces_read_mutated_formulas_as_the_whole_document() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let snippets: &[&str] = &[
            "[",
            "]",
            "[[steps]]\n",
            "\n[steps]\n",
            "\n[steps.gate]\n",
            "\"",
            "\"\"\"",
            "{",
            "}",
            "\n",
            "\r\n",
            "=",
            ".",
            "#",
            "steps = 1\n",
            "id = \"x\"\n",
            "\n[[ steps ]]\n",
        ];
        let (mut cases, mut split) = (0, 0);
        for name in [
            "shiny.formula.toml",
            "release.formula.toml",
            "bugfix.formula.toml",
        ] {
            let Some(original) = crate::formula::library::stdlib_text(name) else {
                continue;
            };
            for _ in 0..150 {
                let mut text = original.to_string();
                for _ in 0..rng.gen_range(1..4) {
                    let mut at = rng.gen_range(0..=text.len());
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    text.insert_str(at, snippets[rng.gen_range(0..snippets.len())]);
                }
                cases += 1;
                split += usize::from(assert_same(&text));
            }
        }
        assert!(cases >= 300 && split >= 30, "{cases} cases, {split} split");
    }

    #[test]
    fn bytes_checks() {
        assert_eq!(check_bytes("x", b"").unwrap_err().code, Code::F0003);
        assert_eq!(
            check_bytes("x", &[0xff, 0xfe]).unwrap_err().code,
            Code::F0002
        );
        assert_eq!(check_bytes("x", b"a\0b").unwrap_err().code, Code::F0002);
    }
}
