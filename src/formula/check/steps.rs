//! Step-level checks: ids, titles, priorities, types, duplicates.

use crate::formula::ast::{Formula, Step, STEP_TYPES};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::suggest::did_you_mean;
use rustc_hash::FxHashMap;

pub(super) fn check(f: &Formula, diags: &mut Vec<Diagnostic>) {
    check_unique_ids(f, diags);
    check_id_grammar(f, diags);
    let mut all: Vec<&Step> = f.walk_steps();
    all.extend(f.template.iter());
    for s in all {
        check_step(s, diags);
    }
}

fn check_step(s: &Step, diags: &mut Vec<Diagnostic>) {
    let Some(span) = s.span else { return };
    let Some(id) = &s.id else {
        diags.push(
            Diagnostic::new(Code::F0009, "a step has no `id`")
                .at(span, "this step needs an `id`")
                .help(
                    "give every step a unique `id = \"...\"`; other steps refer to it in `needs`",
                ),
        );
        return;
    };
    if s.title.is_none() && s.expand.is_none() && s.loop_.is_none() {
        diags.push(
            Diagnostic::new(Code::F0052, format!("step `{}` has no `title`", id.value))
                .at(id.span, "its id is used as the title")
                .help("add `title = \"...\"`: it becomes the bead's title that agents see"),
        );
    }
    if let Some(p) = &s.priority {
        if !(0..=4).contains(&p.value) {
            diags.push(
                Diagnostic::new(
                    Code::F0010,
                    format!("step `{}` has priority {}", id.value, p.value),
                )
                .at(p.span, "must be 0 to 4")
                .help("priorities run from 0 (critical) to 4 (backlog); the default is 2"),
            );
        }
    }
    if let Some(k) = &s.kind {
        if !STEP_TYPES.contains(&k.value.as_str()) {
            let suggestion = did_you_mean(&k.value, STEP_TYPES.iter().copied());
            diags.push(
                Diagnostic::new(
                    Code::F0029,
                    format!(
                        "step `{}` has type `{}`, which is not an issue type",
                        id.value, k.value
                    ),
                )
                .at(
                    k.span,
                    match &suggestion {
                        Some(sg) => format!("did you mean `{sg}`? treated as `task`"),
                        None => "treated as `task`".to_string(),
                    },
                )
                .help(format!(
                    "step types are: {}; for a gate, use a `[steps.gate]` table",
                    STEP_TYPES.join(", ")
                )),
            );
        }
    }
}

/// Step ids become bead ids, file names and git ref components: they
/// follow the crate's one name grammar (`crate::ids`). Ids with
/// `{placeholders}` are templates, checked once expanded.
pub(super) fn check_id_grammar(f: &Formula, diags: &mut Vec<Diagnostic>) {
    for s in f.walk_steps() {
        let Some(id) = &s.id else { continue };
        if id.value.contains('{') {
            continue;
        }
        if let Err(e) = crate::ids::validate_name("step id", &id.value) {
            diags.push(
                Diagnostic::new(Code::F0051, e.to_string())
                    .at(id.span, "the runtime cannot use this id")
                    .help(format!(
                        "step ids name beads, files and git branches: ASCII letters, digits, `-`, `_` and `.`, at most {} bytes, no `..`, no leading `.` or `-`, no `.lock` ending",
                        crate::ids::MAX_NAME
                    )),
            );
        }
    }
}

/// Step ids are unique across the whole tree (steps and their children).
pub(super) fn check_unique_ids(f: &Formula, diags: &mut Vec<Diagnostic>) {
    let mut seen: FxHashMap<&str, &Step> = FxHashMap::default();
    for s in f.walk_steps() {
        let Some(id) = &s.id else { continue };
        if let Some(first) = seen.get(id.value.as_str()) {
            let mut d = Diagnostic::new(Code::F0015, format!("duplicate step id `{}`", id.value))
                .at(id.span, "defined again here");
            if let Some(fid) = &first.id {
                d = d.label(fid.span, "first defined here");
            }
            let help = if id.span.file()
                != first.anchor().map(|a| a.file()).unwrap_or(id.span.file())
            {
                "two formulas on the extends chain define this id; rename one, or override it from the child only"
            } else {
                "step ids must be unique in the whole formula, children included; rename one of them"
            };
            diags.push(d.help(help));
        } else {
            seen.insert(&id.value, s);
        }
    }
}
