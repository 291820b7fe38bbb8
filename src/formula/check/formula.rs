//! Formula-level checks: name, version, type, and that there is work.

use crate::formula::ast::{Formula, FORMULA_TYPES};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::source::Span;
use crate::formula::suggest::did_you_mean;

pub(super) fn check(f: &Formula, stem: Option<&str>, diags: &mut Vec<Diagnostic>) {
    let top = Span::new(f.file, 0..0);
    match &f.name {
        None => diags.push(
            Diagnostic::new(Code::F0009, "the formula has no `formula` name")
                .at(top, "add `formula = \"...\"` here")
                .help(match stem {
                    Some(s) => format!("add `formula = \"{s}\"` at the top of the file"),
                    None => "add `formula = \"<name>\"` at the top of the file".to_string(),
                }),
        ),
        Some(name) => {
            if let Some(stem) = stem {
                if name.value != stem {
                    diags.push(
                        Diagnostic::new(
                            Code::F0026,
                            format!("formula `{}` is in a file named `{stem}`", name.value),
                        )
                        .at(name.span, format!("differs from the file stem `{stem}`"))
                        .help(format!(
                            "formulas are looked up by file stem, so this one is found as `{stem}`; rename the file or set `formula = \"{stem}\"`"
                        )),
                    );
                }
            }
        }
    }
    if let Some(v) = &f.version {
        if v.value < 1 {
            diags.push(
                Diagnostic::new(Code::F0025, format!("version {} is below 1", v.value))
                    .at(v.span, "must be 1 or more")
                    .help(
                        "`version` is the formula's revision; start at `version = 1` and count up",
                    ),
            );
        }
    }
    if let Some(k) = &f.kind {
        if !FORMULA_TYPES.contains(&k.value.as_str()) {
            let suggestion = did_you_mean(&k.value, FORMULA_TYPES.iter().copied());
            diags.push(
                Diagnostic::new(Code::F0028, format!("unknown formula type `{}`", k.value))
                    .at(
                        k.span,
                        match &suggestion {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "not a formula type".to_string(),
                        },
                    )
                    .help(format!(
                        "the formula types are: {}",
                        FORMULA_TYPES.join(", ")
                    )),
            );
            return;
        }
    }
    let (empty, what) = match f.effective_kind() {
        "expansion" => (
            f.template.is_empty(),
            "an expansion needs `[[template]]` steps",
        ),
        "aspect" => (
            f.advice.is_empty() && f.aspects.is_empty(),
            "an aspect needs `[[advice]]` rules",
        ),
        "convoy" => (f.legs.is_empty(), "a convoy needs `[[legs]]`"),
        _ => (
            f.steps.is_empty() && f.extends.is_empty(),
            "a workflow needs `[[steps]]` (or `extends` to inherit them)",
        ),
    };
    if empty {
        let at = f
            .kind
            .as_ref()
            .map(|k| k.span)
            .or(f.name.as_ref().map(|n| n.span))
            .unwrap_or(top);
        diags.push(
            Diagnostic::new(
                Code::F0027,
                format!("formula `{}` has nothing to run", f.name_str()),
            )
            .at(at, "no steps")
            .help(what),
        );
    }
}
