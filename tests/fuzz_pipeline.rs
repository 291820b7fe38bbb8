//! Randomized formula sets through the whole compiler: parse, `extends`
//! resolution (chains, diamonds, cycles), checks, the transforms (compose,
//! aspects and advice, expansions, loops, conditions) and cook with hostile
//! `--var` values; plus structural mutations of every stdlib formula.
//!
//! Asserted for every case: no panic; every diagnostic has a code, spans
//! that lie inside a loaded source on character boundaries, and help that
//! names no other code's docs anchor; both renderings work; a successful
//! cook is deterministic (a second compile gives identical IR bytes and
//! identical diagnostics). Seeded, fixed case counts: failures reproduce,
//! and the failing formula set is printed.

use gastown::formula::api::CookOptions;
use gastown::formula::codes::Code;
use gastown::formula::compile::{self, Compiled};
use gastown::formula::diag::{render_human_all, to_json, Diagnostic};
use gastown::formula::library::{Env, SearchPath};
use gastown::formula::lint;
use gastown::formula::source::{Sources, Span};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const GENERATED_CASES: usize = 300;
const MUTANTS_PER_STDLIB_FORMULA: usize = 12;
/// Keeps every case fast; loops past it are F0040, which is itself covered.
const MAX_STEPS: usize = 3000;

/// Codes that may have no span: whole-file problems, and `--var` arguments
/// (they come from the command line, not from a source).
const SPANLESS: &[Code] = &[
    Code::F0002,
    Code::F0003,
    Code::F0004,
    Code::F0005,
    Code::F0011,
    Code::F0032,
];

/// Values a user (or an attacker) may pass with `--var`.
const HOSTILE: &[&str] = &[
    "$(touch PWNED)",
    "`id`",
    "'; rm -rf / #",
    "\"",
    "a\nEOF\nb",
    "EOF",
    "{{x}}",
    "{x}",
    "{step.id}",
    "-1",
    "0",
    "3",
    "99999999999999999999",
    "1e9",
    "true",
    "prod",
    "",
    "é 字 \u{202e}",
    "\t\r\n",
    "../../etc/passwd",
];

const STEP_IDS: &[&str] = &[
    "design",
    "implement",
    "review",
    "submit",
    "test",
    "ship",
    "api.implement",
    "ui.implement",
    "s1",
    "s2",
    "s3",
];
const HOSTILE_IDS: &[&str] = &["", "../x", "x.lock", "a b", "é", "-", "{target}", "x/y"];
const VAR_NAMES: &[&str] = &["x", "env", "count", "deploy", "first", "home", "feature"];

/// A small TOML writer: every value through toml_edit, so strings with
/// quotes, newlines and control characters stay valid TOML.
#[derive(Default)]
struct Toml(String);

impl Toml {
    fn raw(&mut self, line: &str) {
        self.0.push_str(line);
        self.0.push('\n');
    }
    fn str(&mut self, key: &str, v: &str) {
        let v = toml_edit::Value::from(v).to_string();
        self.raw(&format!("{key} = {}", v.trim()));
    }
    fn strs(&mut self, key: &str, vs: &[String]) {
        let arr: toml_edit::Array = vs.iter().map(String::as_str).collect();
        self.raw(&format!("{key} = {}", arr.to_string().trim()));
    }
    fn int(&mut self, key: &str, v: i64) {
        self.raw(&format!("{key} = {v}"));
    }
}

/// The generator. `hostility` is the chance of each "bad" choice: a world
/// is drawn clean (it should cook), a little hostile, or very hostile, so
/// that both the cook and the error paths are reached.
struct Gen {
    rng: StdRng,
    hostility: f64,
    /// Step ids declared so far in the formula being written.
    ids: Vec<String>,
    /// Those of them that spawn children at run time.
    spawners: Vec<String>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            hostility: 0.0,
            ids: Vec::new(),
            spawners: Vec::new(),
        }
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }
    fn bad(&mut self) -> bool {
        let h = self.hostility;
        self.chance(h)
    }
    /// How many of something: at least one unless hostile, below `max`.
    fn some(&mut self, max: usize) -> usize {
        let min = usize::from(!self.bad());
        self.rng.gen_range(min..max)
    }
    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs.choose(&mut self.rng).copied().unwrap_or_default()
    }
    /// A fresh id (clean), or any id from the pool or a hostile one.
    fn new_step_id(&mut self) -> String {
        let id = if self.bad() {
            if self.chance(0.2) {
                "x".repeat(self.rng.gen_range(100..400))
            } else if self.chance(0.5) {
                self.pick(HOSTILE_IDS).to_string()
            } else {
                self.pick(STEP_IDS).to_string()
            }
        } else {
            let fresh: Vec<&str> = STEP_IDS
                .iter()
                .copied()
                .filter(|s| !self.ids.iter().any(|i| i == s))
                .collect();
            match fresh.choose(&mut self.rng) {
                Some(s) => s.to_string(),
                None => format!("s{}", self.ids.len()),
            }
        };
        self.ids.push(id.clone());
        id
    }
    /// An id that names a declared step (clean) or anything.
    fn ref_id(&mut self) -> String {
        if self.bad() || self.ids.is_empty() {
            self.pick(STEP_IDS).to_string()
        } else {
            self.ids.choose(&mut self.rng).cloned().unwrap_or_default()
        }
    }
    fn var_ref(&mut self) -> String {
        format!("{{{{{}}}}}", self.pick(VAR_NAMES))
    }
    fn value(&mut self) -> String {
        if self.bad() {
            self.pick(HOSTILE).to_string()
        } else {
            self.pick(&["dev", "prod", "3", "true", "feature-x"])
                .to_string()
        }
    }

    /// Text that mentions vars in the ways formulas do.
    fn text(&mut self) -> String {
        let v = self.var_ref();
        if self.bad() {
            return match self.rng.gen_range(0..3) {
                0 => format!("{v}{v} {{{{unclosed"),
                1 => self.pick(HOSTILE).to_string(),
                _ => "{step.title}} {{{{".to_string(),
            };
        }
        match self.rng.gen_range(0..3) {
            0 => format!("Work on {v}"),
            1 => format!("{{step.title}} for {{target}} with {v}"),
            _ => "Plain words".to_string(),
        }
    }

    /// A `run` command with a placeholder in one of the shell contexts.
    fn run(&mut self) -> String {
        let v = self.var_ref();
        let safe = vec![
            format!("echo {v}"),
            format!("echo \"{v}\""),
            format!("echo '{v}'"),
            format!("cat <<EOF\n{v}\nEOF\n"),
            format!("for f in {v}; do echo \"$f\"; done"),
            format!("printf '%s' \"$(printf '%s' {v})\""),
            // Safe for integers only: other values are refused at bind.
            format!("echo $(( {v} + 1 ))"),
        ];
        let unsafe_ = vec![
            format!("cat <<'EOF'\n{v}\nEOF\n"),
            format!("sh -c 'echo {v}'"),
            format!("echo `{v}`"),
            "echo 'unterminated".to_string(),
            format!("cat <<{v}\nx\n{v}\n"),
        ];
        let forms = if self.bad() { &unsafe_ } else { &safe };
        forms.choose(&mut self.rng).cloned().unwrap_or_default()
    }

    fn condition(&mut self) -> String {
        let bad = self.bad();
        let v = format!("{{{{{}}}}}", self.pick(&["deploy", "env"]));
        let forms = if bad {
            vec![
                "((".to_string(),
                format!("{v} ==="),
                "ready-to-ship".to_string(),
                format!("{{{{nope}}}} && {v}"),
            ]
        } else {
            vec![
                v.clone(),
                format!("!{v}"),
                format!("{v} == 'prod'"),
                format!("{v} != \"dev\""),
            ]
        };
        forms.choose(&mut self.rng).cloned().unwrap_or_default()
    }

    fn runtime_condition(&mut self) -> String {
        let target = self.ref_id();
        let good = [
            "step.status == 'closed'".to_string(),
            format!("children({target}).count(status == 'closed') >= 2"),
            "output.ok == true".to_string(),
            "tests-pass".to_string(),
        ];
        let bad = [
            "step.status ==".to_string(),
            String::new(),
            "))".to_string(),
        ];
        let forms = if self.bad() { &bad[..] } else { &good[..] };
        forms.choose(&mut self.rng).cloned().unwrap_or_default()
    }

    fn range(&mut self) -> String {
        let good = ["1..3", "{first}..{first}+{count}-1", "1..2^{count}", "0..4"];
        let bad = [
            "0..-1",
            "1..10000000",
            "{nope}..3",
            "1..",
            "3..1",
            "2^64..1",
        ];
        let forms: &[&str] = if self.bad() { &bad } else { &good };
        self.pick(forms).to_string()
    }

    fn step(&mut self, t: &mut Toml, table: &str, depth: usize, expansions: &[String]) {
        t.raw(&format!("\n[[{table}]]"));
        let id = self.new_step_id();
        if !self.bad() || self.chance(0.8) {
            t.str("id", &id);
        }
        if self.chance(0.9) {
            let title = self.text();
            t.str("title", &title);
        }
        if self.chance(0.3) {
            let d = self.text();
            t.str("description", &d);
        }
        if self.chance(0.4) && self.ids.len() > 1 {
            let needs: Vec<String> = (0..self.rng.gen_range(1..3))
                .map(|_| self.ref_id())
                .filter(|n| *n != id)
                .collect();
            let key = self.pick(&["needs", "depends_on"]);
            t.strs(key, &needs);
        }
        if self.chance(0.25) {
            let run = self.run();
            t.str("run", &run);
        }
        if self.chance(0.2) {
            let c = self.condition();
            t.str("condition", &c);
        }
        // A spawner of children (`on_complete`) and steps that wait for them.
        if self.chance(0.08) {
            t.raw(&format!("[{table}.on_complete]"));
            t.str("for_each", "output.items");
            t.str("bond", "f0");
            self.spawners.push(id.clone());
        } else if self.chance(0.08) && (self.bad() || !self.spawners.is_empty()) {
            let w = if self.bad() {
                self.pick(&["bogus(", "all-children", "children-of(nothing)"])
                    .to_string()
            } else {
                let s = self
                    .spawners
                    .choose(&mut self.rng)
                    .cloned()
                    .unwrap_or_default();
                format!("children-of({s})")
            };
            t.str("waits_for", &w);
        }
        if self.chance(0.12) && !expansions.is_empty() {
            let with = expansions
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default();
            t.str("expand", &with);
            if self.chance(0.5) {
                t.raw(&format!("[{table}.expand_vars]"));
                let v = self.value();
                t.str("reviewer", &v);
            }
            return;
        }
        if self.chance(0.12) {
            t.raw(&format!("[{table}.gate]"));
            let ty = if self.bad() {
                "bogus-gate"
            } else {
                self.pick(&["gh:run", "timer", "human", "bead"])
            };
            t.str("type", ty);
            let timeout = if self.bad() {
                self.pick(&["forever", "-5m", "99999999999h", "0s"])
            } else {
                self.pick(&["30m", "1h30m", "10s"])
            };
            t.str("timeout", timeout);
            if self.chance(0.5) {
                let c = self.runtime_condition();
                t.str("condition", &c);
            }
            return;
        }
        if depth < 2 && self.chance(0.15) {
            let lp = format!("{table}.loop");
            t.raw(&format!("[{lp}]"));
            let kind = if self.bad() {
                3
            } else {
                self.rng.gen_range(0..3)
            };
            match kind {
                0 => {
                    let n = self.rng.gen_range(0..40);
                    t.int("count", n)
                }
                1 => {
                    let r = self.range();
                    t.str("range", &r);
                    t.str("var", "i");
                }
                2 => {
                    let u = self.runtime_condition();
                    t.str("until", &u);
                    let max = self.rng.gen_range(1..6);
                    t.int("max", max);
                }
                _ => match self.rng.gen_range(0..3) {
                    0 => t.int("count", -2),
                    1 => {
                        t.int("count", 2);
                        t.str("range", "1..2");
                    }
                    _ => {}
                },
            }
            // Body ids are their own namespace (they get the loop's prefix).
            let outer = std::mem::take(&mut self.ids);
            for _ in 0..self.some(3) {
                self.step(t, &format!("{lp}.body"), depth + 1, expansions);
            }
            self.ids = outer;
            return;
        }
        if depth < 2 && self.chance(0.08) {
            for _ in 0..self.rng.gen_range(1..3) {
                self.step(t, &format!("{table}.children"), depth + 1, expansions);
            }
        }
    }

    fn vars(&mut self, t: &mut Toml) {
        let mut simple = Vec::new();
        let mut tables = Vec::new();
        for name in VAR_NAMES {
            match self.rng.gen_range(0..4) {
                0 => {}
                1 => simple.push(*name),
                _ => tables.push(*name),
            }
        }
        if !simple.is_empty() {
            t.raw("[vars]");
            for name in simple {
                let v = self.value();
                t.str(name, &v);
            }
        }
        for name in tables {
            t.raw(&format!("[vars.{name}]"));
            t.str("description", "a var");
            let value = self.value();
            // A var with no default is missing when a step refers to it.
            if self.chance(0.6) || !self.bad() {
                t.str("default", &value);
            }
            if self.chance(0.1) {
                t.raw("required = true");
            }
            if self.chance(0.2) {
                let mut allowed = vec!["dev".to_string(), "prod".to_string()];
                if !self.bad() {
                    allowed.push(value.clone());
                }
                t.strs("enum", &allowed);
            }
            if self.chance(0.15) {
                let p = if self.bad() {
                    self.pick(&["(", "^\\d+$"])
                } else {
                    ".*"
                };
                t.str("pattern", p);
            }
            if self.bad() {
                let ty = self.pick(&["int", "bool", "string", "float"]);
                t.str("type", ty);
            }
        }
    }

    /// One formula file of a world of `n` formulas named f0..f{n-1}.
    fn formula(&mut self, i: usize, n: usize, kinds: &[&str]) -> String {
        self.ids.clear();
        self.spawners.clear();
        let mut t = Toml::default();
        let name = if self.bad() && self.chance(0.2) {
            self.pick(&["../evil", "F0", "wrong-name"]).to_string()
        } else {
            format!("f{i}")
        };
        t.str("formula", &name);
        let kind = kinds[i];
        if kind != "workflow" || self.chance(0.5) {
            t.str("type", kind);
        }
        if self.chance(0.7) {
            let v = if self.bad() {
                0
            } else {
                self.rng.gen_range(1..3)
            };
            t.int("version", v);
        }
        let of = |want: &str| -> Vec<String> {
            (0..kinds.len())
                .filter(|&j| kinds[j] == want && j != i)
                .map(|j| format!("f{j}"))
                .collect()
        };
        let expansions = of("expansion");
        let aspects = of("aspect");
        let workflows: Vec<String> = (i + 1..n)
            .filter(|&j| kinds[j] == "workflow")
            .map(|j| format!("f{j}"))
            .collect();
        // Later workflows (chains and diamonds); when hostile, earlier ones
        // or itself (cycles), other types and missing names.
        if kind == "workflow" && (!workflows.is_empty() && self.chance(0.6) || self.bad()) {
            let parents: Vec<String> = (0..self.rng.gen_range(1..3))
                .map(|_| {
                    if self.bad() || workflows.is_empty() {
                        let any = format!("f{}", self.rng.gen_range(0..n));
                        let forms = [any, "missing".into(), "../up".into(), format!("f{i}")];
                        forms.choose(&mut self.rng).cloned().unwrap_or_default()
                    } else {
                        workflows.choose(&mut self.rng).cloned().unwrap_or_default()
                    }
                })
                .collect();
            t.strs("extends", &parents);
        }
        self.vars(&mut t);
        match kind {
            "expansion" => {
                for k in 0..self.some(4) {
                    t.raw("\n[[template]]");
                    let id = if self.bad() {
                        self.new_step_id()
                    } else {
                        format!("{{target}}.pass{k}")
                    };
                    t.str("id", &id);
                    t.str("title", "Pass on {target.title} by {reviewer}");
                    if k > 0 && self.chance(0.6) {
                        t.strs("needs", &[format!("{{target}}.pass{}", k - 1)]);
                    }
                }
            }
            "aspect" => {
                for _ in 0..self.rng.gen_range(0..3) {
                    t.raw("\n[[pointcuts]]");
                    let g = self.pick(&["implement", "*.implement", "*", "sub*"]);
                    t.str("glob", g);
                }
                self.advice(&mut t);
            }
            "convoy" => {
                let mut legs = Vec::new();
                for _ in 0..self.some(3) {
                    t.raw("\n[[legs]]");
                    let id = self.new_step_id();
                    legs.push(id.clone());
                    t.str("id", &id);
                    t.str("title", "Leg");
                    t.str("focus", "correctness");
                }
                if self.chance(0.7) {
                    t.raw("\n[synthesis]");
                    t.str("title", "Synthesis");
                    let deps: Vec<String> = (0..2).map(|_| self.ref_id()).collect();
                    t.strs("depends_on", &deps);
                }
            }
            _ => {
                for _ in 0..self.some(7) {
                    self.step(&mut t, "steps", 0, &expansions);
                }
                if self.chance(0.3) {
                    self.advice(&mut t);
                }
                if self.chance(0.4) {
                    self.compose(&mut t, &expansions, &aspects);
                }
            }
        }
        t.0
    }

    fn advice(&mut self, t: &mut Toml) {
        for _ in 0..self.rng.gen_range(1..3) {
            t.raw("\n[[advice]]");
            let target = if self.bad() {
                self.pick(&["[", "nothing"])
            } else {
                self.pick(&["implement", "*.implement", "*", "review"])
            };
            t.str("target", target);
            if self.chance(0.6) {
                t.raw("[advice.before]");
                t.str("id", "{step.id}-before");
                t.str("title", "Before {step.title}");
            }
            if self.chance(0.5) {
                t.raw("[advice.after]");
                let id = if self.bad() {
                    "fixed-id"
                } else {
                    "{step.id}-after"
                };
                t.str("id", id);
            }
            if self.chance(0.3) {
                t.raw("[[advice.around.before]]");
                t.str("id", "{step.id}-around");
            }
        }
    }

    fn compose(&mut self, t: &mut Toml, expansions: &[String], aspects: &[String]) {
        t.raw("\n[compose]");
        if !aspects.is_empty() && self.chance(0.6) {
            let mut a = vec![aspects.choose(&mut self.rng).cloned().unwrap_or_default()];
            if self.bad() {
                a.push("f0".into());
            }
            t.strs("aspects", &a);
        }
        if !expansions.is_empty() && self.chance(0.5) {
            t.raw("[[compose.expand]]");
            let target = self.ref_id();
            t.str("target", &target);
            let with = expansions
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default();
            t.str("with", &with);
        }
        if !expansions.is_empty() && self.chance(0.4) {
            t.raw("[[compose.map]]");
            let sel = if self.bad() {
                "[x"
            } else {
                self.pick(&["*.implement", "*", "s*"])
            };
            t.str("select", sel);
            let with = expansions
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default();
            t.str("with", &with);
        }
        if self.chance(0.3) {
            t.raw("[[compose.branch]]");
            let from = self.ref_id();
            t.str("from", &from);
            let steps: Vec<String> = (0..2).map(|_| self.ref_id()).collect();
            t.strs("steps", &steps);
            let join = self.ref_id();
            t.str("join", &join);
        }
        if self.chance(0.3) {
            t.raw("[[compose.gate]]");
            let before = self.ref_id();
            t.str("before", &before);
            let c = self.runtime_condition();
            t.str("condition", &c);
        }
    }

    fn world(&mut self) -> BTreeMap<String, String> {
        self.hostility = *[0.0, 0.0, 0.0, 0.03, 0.1, 0.3]
            .choose(&mut self.rng)
            .unwrap_or(&0.0);
        let n = self.rng.gen_range(1..7);
        let kinds: Vec<&str> = (0..n)
            .map(|i| {
                if i == 0 {
                    return "workflow";
                }
                let mut k = vec!["workflow", "workflow", "expansion", "aspect", "convoy"];
                if self.bad() {
                    k.push("bogus");
                }
                k.choose(&mut self.rng).copied().unwrap_or("workflow")
            })
            .collect();
        (0..n)
            .map(|i| (format!("f{i}.formula.toml"), self.formula(i, n, &kinds)))
            .collect()
    }

    fn supplied_vars(&mut self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for _ in 0..self.rng.gen_range(0..4) {
            let name = self.pick(VAR_NAMES).to_string();
            let v = if self.chance(0.05) {
                "x".repeat(10_000)
            } else {
                self.pick(HOSTILE).to_string()
            };
            out.insert(name, v);
        }
        if self.chance(0.1) {
            out.insert("undeclared_one".into(), "1".into());
        }
        out
    }
}

fn check_span(span: Span, sources: &Sources, d: &Diagnostic) -> Result<(), String> {
    if span.file() >= sources.len() {
        return Err(format!("span in file {} of {}", span.file(), sources.len()));
    }
    let text = &sources.get(span.file()).text;
    let ok = span.start() <= span.end()
        && span.end() <= text.len()
        && text.is_char_boundary(span.start())
        && text.is_char_boundary(span.end());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "[{}] span {:?} outside or inside a character of a {}-byte source: {}",
            d.code.as_str(),
            span.range(),
            text.len(),
            d.message
        ))
    }
}

/// The per-diagnostic invariants.
fn check_diagnostics(diags: &[Diagnostic], sources: &Sources) -> Result<(), String> {
    for d in diags {
        match &d.primary {
            Some(l) => check_span(l.span, sources, d)?,
            None if SPANLESS.contains(&d.code) => {}
            None => return Err(format!("[{}] has no span: {}", d.code.as_str(), d.message)),
        }
        for l in &d.secondary {
            check_span(l.span, sources, d)?;
        }
        if let Some(help) = &d.help {
            let own = d.code.docs_anchor();
            for other in Code::ALL.iter().filter(|c| **c != d.code) {
                let theirs = other.docs_anchor();
                if help.to_lowercase().contains(&theirs) && !help.contains(&own) {
                    return Err(format!(
                        "[{}] help points at {theirs}: {help}",
                        d.code.as_str()
                    ));
                }
            }
        }
    }
    let _ = render_human_all(diags, sources, false);
    let _ = render_human_all(diags, sources, true);
    for d in diags {
        let _ = serde_json::to_string(&to_json(d, sources)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn compile_once(dir: &Path, target: &str, vars: &BTreeMap<String, String>, bind: bool) -> Compiled {
    let opts = CookOptions {
        target: dir.join(target).display().to_string(),
        search_path: Some(vec![dir.to_path_buf()]),
        cwd: dir.to_path_buf(),
        vars: vars.clone(),
        bind_vars: bind,
        max_steps: Some(MAX_STEPS),
    };
    compile::compile(&opts, &Env::default())
}

#[derive(Default)]
struct Tally {
    cases: usize,
    cooked: usize,
    refused: usize,
    diagnostics: usize,
}

/// Compile `target` in `dir` twice and lint the directory; check every
/// invariant. Returns whether the cook succeeded.
fn exercise(
    dir: &Path,
    target: &str,
    vars: &BTreeMap<String, String>,
    bind: bool,
    tally: &mut Tally,
) -> Result<(), String> {
    let first = compile_once(dir, target, vars, bind);
    check_diagnostics(first.diagnostics(), &first.session.sources)?;
    let second = compile_once(dir, target, vars, bind);
    if first.diagnostics() != second.diagnostics() {
        return Err("two compiles gave different diagnostics".into());
    }
    match (&first.proto, &second.proto) {
        (Some(a), Some(b)) => {
            if a.to_json() != b.to_json() {
                return Err("two cooks gave different IR".into());
            }
            tally.cooked += 1;
        }
        (None, None) => {
            if !first.diagnostics().iter().any(Diagnostic::is_error) {
                return Err("no IR and no error diagnostic".into());
            }
            tally.refused += 1;
        }
        _ => return Err("one cook succeeded and the other did not".into()),
    }
    tally.diagnostics += first.diagnostics().len();
    // Small worlds lint whole (expansions and aspects on their own too);
    // the stdlib mutants lint the mutated file.
    let many = std::fs::read_dir(dir).map_or(0, |d| d.count()) > 8;
    let lint_root = if many {
        dir.join(target)
    } else {
        dir.to_path_buf()
    };
    let walk = lint::walk_args(&[lint_root]).map_err(|e| e.to_string())?;
    let report = lint::lint_walk(
        &walk,
        &SearchPath::explicit(&[dir.to_path_buf()]),
        MAX_STEPS,
    );
    check_diagnostics(report.diagnostics(), &report.session.sources)?;
    for format in [
        lint::Format::Json,
        lint::Format::Sarif,
        lint::Format::Github,
    ] {
        let _ = lint::render(&report, format, false);
    }
    tally.cases += 1;
    Ok(())
}

/// Run one case, turning a panic or a broken invariant into a failure
/// that shows the formula set.
fn run_case(
    label: &str,
    files: &BTreeMap<String, String>,
    target: &str,
    vars: &BTreeMap<String, String>,
    bind: bool,
    tally: &mut Tally,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write formula");
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        exercise(dir.path(), target, vars, bind, tally)
    }));
    let problem = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(p) => format!(
            "panic: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        ),
    };
    let mut shown = String::new();
    for (name, text) in files {
        shown.push_str(&format!("--- {name}\n{text}\n"));
    }
    panic!("{label}: {problem}\ntarget {target}, vars {vars:?}, bind {bind}\n{shown}");
}

#[test]
fn generated_formula_sets_compile_without_panics_and_deterministically() {
    let mut g = Gen::new(0x00c0_0c0f);
    let mut tally = Tally::default();
    for case in 0..GENERATED_CASES {
        let files = g.world();
        let vars = g.supplied_vars();
        let bind = g.chance(0.5);
        run_case(
            &format!("generated case {case}"),
            &files,
            "f0.formula.toml",
            &vars,
            bind,
            &mut tally,
        );
    }
    eprintln!(
        "fuzz_pipeline: {} generated cases ({} cooked, {} refused with errors, {} diagnostics checked)",
        tally.cases, tally.cooked, tally.refused, tally.diagnostics
    );
    assert_eq!(tally.cases, GENERATED_CASES);
    // The generator must reach the cook, not only the error paths.
    assert!(
        tally.cooked * 10 >= GENERATED_CASES,
        "only {} cooked",
        tally.cooked
    );
    assert!(
        tally.refused * 10 >= GENERATED_CASES,
        "only {} refused",
        tally.refused
    );
}

fn stdlib() -> BTreeMap<String, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stdlib-formulas");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&dir)
        .expect("stdlib-formulas exists")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".formula.toml") {
            out.insert(name, std::fs::read_to_string(e.path()).expect("read"));
        }
    }
    out
}

/// A structural mutation of one formula's text, line by line, so that the
/// result mostly still parses and reaches the later stages.
fn mutate(g: &mut Gen, text: &str, names: &[String]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..g.rng.gen_range(1..4) {
        if lines.is_empty() {
            break;
        }
        let at = g.rng.gen_range(0..lines.len());
        match g.rng.gen_range(0..9) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let l = lines[at].clone();
                lines.insert(at, l);
            }
            2 => {
                let other = g.rng.gen_range(0..lines.len());
                lines.swap(at, other);
            }
            3 => {
                // Replace a string value with a hostile one.
                if let Some((k, _)) = lines[at].split_once(" = \"") {
                    let v = toml_edit::Value::from(g.pick(HOSTILE)).to_string();
                    lines[at] = format!("{k} = {}", v.trim());
                }
            }
            4 => {
                let parent = names.choose(&mut g.rng).cloned().unwrap_or_default();
                lines.insert(1, format!("extends = [\"{parent}\"]"));
            }
            5 => {
                let run = g.run();
                let v = toml_edit::Value::from(run.as_str()).to_string();
                lines.push(format!("[[steps]]\nid = \"fuzz\"\nrun = {}", v.trim()));
            }
            6 => {
                let c = g.condition();
                let v = toml_edit::Value::from(c.as_str()).to_string();
                lines.push(format!(
                    "[[steps]]\nid = \"cond\"\ncondition = {}",
                    v.trim()
                ));
            }
            7 => {
                let n = g.rng.gen_range(0..50);
                lines.push(format!(
                    "[[steps]]\nid = \"many\"\n[steps.loop]\ncount = {n}\n[[steps.loop.body]]\nid = \"it\"\ntitle = \"It {{{{x}}}}\""
                ));
            }
            _ => {
                if let Some(pos) = lines[at].find("id = \"") {
                    let id = g.new_step_id();
                    let v = toml_edit::Value::from(id.as_str()).to_string();
                    lines[at] = format!("{}id = {}", &lines[at][..pos], v.trim());
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[test]
fn mutated_stdlib_formulas_compile_without_panics_and_deterministically() {
    let originals = stdlib();
    let names: Vec<String> = originals
        .keys()
        .map(|k| k.trim_end_matches(".formula.toml").to_string())
        .collect();
    let mut g = Gen::new(0x5_7d11b);
    g.hostility = 0.1;
    let mut tally = Tally::default();
    for (file, text) in &originals {
        for m in 0..MUTANTS_PER_STDLIB_FORMULA {
            let mut files = originals.clone();
            files.insert(file.clone(), mutate(&mut g, text, &names));
            let vars = g.supplied_vars();
            let bind = g.chance(0.5);
            run_case(
                &format!("{file} mutant {m}"),
                &files,
                file,
                &vars,
                bind,
                &mut tally,
            );
        }
    }
    eprintln!(
        "fuzz_pipeline: {} stdlib mutants of {} formulas ({} cooked, {} refused with errors, {} diagnostics checked)",
        tally.cases,
        originals.len(),
        tally.cooked,
        tally.refused,
        tally.diagnostics
    );
    assert_eq!(tally.cases, originals.len() * MUTANTS_PER_STDLIB_FORMULA);
}
