//! `run` commands: each `{{var}}` must land where a value can be escaped
//! (F0048), the command must lex as shell (F0049), and every var must
//! reach the step's environment under its own name (F0050).

use crate::formula::ast::{Formula, Step};
use crate::formula::codes::Code;
use crate::formula::diag::Diagnostic;
use crate::formula::shell::{self, env_name, Unsafe};

pub(super) fn check(f: &Formula, diags: &mut Vec<Diagnostic>) {
    let mut has_run = false;
    super::visit_steps(f, &mut |s: &Step| {
        if let Some(run) = &s.run {
            has_run = true;
            check_run(run, diags);
        }
    });
    if has_run {
        check_env_names(f, diags);
    }
}

fn check_run(run: &crate::formula::ast::SpStr, diags: &mut Vec<Diagnostic>) {
    let slots = match shell::analyze(&run.value) {
        Ok(slots) => slots,
        Err(e) => {
            diags.push(
                Diagnostic::new(Code::F0049, "a `run` command is not valid shell")
                    .at(run.span, e.0)
                    .help("fix the quoting: every `'`, `\"`, `$(` and heredoc must be closed, or cook cannot tell where a `{{var}}` lands"),
            );
            return;
        }
    };
    for slot in slots {
        let Err(why) = &slot.place else { continue };
        let env = env_name(&slot.name).unwrap_or_else(|| slot.name.to_ascii_uppercase());
        diags.push(
            Diagnostic::new(
                Code::F0048,
                format!("`{{{{{}}}}}` cannot be escaped where it stands", slot.name),
            )
            .at(super::inner_span(run, slot.range.clone()), why.describe())
            .help(safe_form(why, &env)),
        );
    }
}

/// The form to write instead, for each reason.
fn safe_form(why: &Unsafe, env: &str) -> String {
    match why {
        Unsafe::NestedCode { command } => format!(
            "pass the value as data, not code: read it from the environment inside the string (`{command} '... \"${env}\" ...'`) or as an argument (`sh -c '... \"$1\" ...' _ {{{{var}}}}`)"
        ),
        Unsafe::QuotedHeredoc { delimiter } => format!(
            "unquote the delimiter (`<<{delimiter}`) so that the value is escaped, or expand `${{{env}}}` in an unquoted heredoc"
        ),
        Unsafe::Backticks => format!("use `$(...)` instead of backticks, or `\"${env}\"`"),
        _ => format!("use the environment variable: `\"${env}\"`"),
    }
}

fn check_env_names(f: &Formula, diags: &mut Vec<Diagnostic>) {
    for v in &f.vars {
        let n = &v.name.value;
        if env_name(n).is_none() {
            diags.push(
                Diagnostic::new(
                    Code::F0050,
                    format!("var `{n}` does not reach `run` commands as an environment variable"),
                )
                .at(v.name.span, format!("`{}` is reserved", n.to_ascii_uppercase()))
                .help("rename the var (for example with a prefix) if a `run` command should read it as `\"$NAME\"`; `{{var}}` still works"),
            );
        }
    }
}
