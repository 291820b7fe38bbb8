//! Placeholder scanning and compile-time substitution (reference §6.6).
//!
//! Families:
//! * `{{name}}` — formula variable, substituted at pour time;
//! * `{name}` — compile-time variable (loop var, expansion var);
//! * `{target}`, `{target.id}`, `{target.title}`, `{target.description}`,
//!   `{step.id}`, `{step.title}` — target / advised-step data;
//! * `{item}`, `{item.field}`, `{index}` — `on_complete.vars`;
//! * foreign template syntax that is **not** a variable: Handlebars
//!   `{{#if x}}`, `{{/if}}`, `{{else}}`, `{{{x}}}`, Go templates `{{.x}}`,
//!   `{{- .x -}}`, `{{if .x}}`, `{{range .x}}`, `{{end}}`;
//! * any other `{{…}}` (`{{ name }}`, `{{a-b}}`, `{{1x}}`) is reported as
//!   [`PlaceholderKind::MalformedVar`] so the compiler can warn; it is never
//!   substituted.
//!
//! Deliberate divergences from beads (see `docs/mini-languages.md`):
//! * `{name}` never matches inside `{{name}}` (beads bug 16: substituting
//!   `{var}` inside `{{var}}` produced `{value}`).
//! * Substitution is one left-to-right pass: a substituted value is never
//!   rescanned (beads replaced `{target…}` first, so a target title
//!   containing `{x}` was then substituted as a variable).
//! * `{{else}}` and `{{end}}` are foreign syntax, not variables.

use pest::Parser;
use std::ops::Range;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/placeholder.pest"]
struct PlaceholderParser;

/// What a placeholder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderKind {
    /// `{{name}}`
    Var,
    /// `{name}`
    CompileTime,
    /// `{target}`
    Target,
    /// `{target.id}`, `{target.title}`, `{target.description}`
    TargetField,
    /// `{step.id}`, `{step.title}`
    StepField,
    /// `{item}`
    Item,
    /// `{item.field}`
    ItemField,
    /// `{index}`
    Index,
    /// `{a.b}` that is none of the above (left alone; worth a warning)
    UnknownDotted,
    /// Handlebars / Go-template syntax (not a variable)
    Foreign,
    /// `{{…}}` that is neither a variable nor foreign syntax
    MalformedVar,
}

impl PlaceholderKind {
    /// Single-brace kinds, replaced by [`substitute_compile_time`].
    pub fn is_compile_time(self) -> bool {
        !matches!(
            self,
            PlaceholderKind::Var | PlaceholderKind::Foreign | PlaceholderKind::MalformedVar
        )
    }
}

/// One placeholder found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub kind: PlaceholderKind,
    /// The text between the braces: `name` for `{{name}}` / `{name}`,
    /// `target.id` for `{target.id}`, `field` for `{item.field}`, the whole
    /// inner text for foreign and malformed forms.
    pub name: String,
    /// Byte range of the placeholder, braces included.
    pub span: Range<usize>,
}

/// Find every placeholder in `text`, in order.
pub fn scan(text: &str) -> Vec<Placeholder> {
    let Ok(mut pairs) = PlaceholderParser::parse(Rule::text, text) else {
        // `text` accepts any input; this is only a safety net.
        return Vec::new();
    };
    let Some(root) = pairs.next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pair in root.into_inner() {
        let span = pair.as_span().start()..pair.as_span().end();
        let rule = pair.as_rule();
        let inner = pair
            .into_inner()
            .next()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let (kind, name) = match rule {
            Rule::var => match inner.as_str() {
                "else" | "end" => (PlaceholderKind::Foreign, inner),
                _ => (PlaceholderKind::Var, inner),
            },
            Rule::foreign => (PlaceholderKind::Foreign, inner),
            Rule::bad_double => (PlaceholderKind::MalformedVar, inner),
            Rule::single => classify_single(inner),
            _ => continue,
        };
        out.push(Placeholder { kind, name, span });
    }
    out
}

fn classify_single(name: String) -> (PlaceholderKind, String) {
    let kind = match name.split_once('.') {
        None => match name.as_str() {
            "target" => PlaceholderKind::Target,
            "item" => PlaceholderKind::Item,
            "index" => PlaceholderKind::Index,
            _ => PlaceholderKind::CompileTime,
        },
        Some(("target", "id" | "title" | "description")) => PlaceholderKind::TargetField,
        Some(("step", "id" | "title")) => PlaceholderKind::StepField,
        Some(("item", field)) => return (PlaceholderKind::ItemField, field.to_string()),
        Some(_) => PlaceholderKind::UnknownDotted,
    };
    (kind, name)
}

/// Replace compile-time placeholders (`{name}`, `{target…}`, `{step…}`,
/// `{item…}`, `{index}`) with `lookup(full name)` — e.g. `lookup("x")`,
/// `lookup("target.title")`, `lookup("item.name")`. `None` leaves the
/// placeholder verbatim. `{{name}}` and foreign forms are never touched, and
/// substituted values are not rescanned.
pub fn substitute_compile_time(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    substitute(text, |p| {
        if !p.kind.is_compile_time() {
            return None;
        }
        let full = match p.kind {
            PlaceholderKind::ItemField => format!("item.{}", p.name),
            _ => p.name.clone(),
        };
        lookup(&full)
    })
}

/// Replace `{{name}}` formula variables with `lookup(name)`; `None` leaves
/// the placeholder verbatim. Foreign and malformed forms are never touched.
pub fn substitute_vars(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    substitute(text, |p| match p.kind {
        PlaceholderKind::Var => lookup(&p.name),
        _ => None,
    })
}

fn substitute(text: &str, mut replace: impl FnMut(&Placeholder) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for p in scan(text) {
        if let Some(value) = replace(&p) {
            out.push_str(&text[last..p.span.start]);
            out.push_str(&value);
            last = p.span.end;
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlaceholderKind::*;

    fn kinds(text: &str) -> Vec<(PlaceholderKind, String, Range<usize>)> {
        scan(text)
            .into_iter()
            .map(|p| (p.kind, p.name, p.span))
            .collect()
    }

    fn k(
        kind: PlaceholderKind,
        name: &str,
        span: Range<usize>,
    ) -> (PlaceholderKind, String, Range<usize>) {
        (kind, name.to_string(), span)
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn formula_and_compile_time_variables_are_distinguished() {
        assert_eq!(
            kinds("Move {{disk}} to {peg}"),
            vec![k(Var, "disk", 5..13), k(CompileTime, "peg", 17..22)]
        );
    }

    #[test]
    fn single_brace_never_matches_inside_double_braces() {
        // beads' `\{(\w+)\}` matched `{name}` inside `{{name}}` (bug 16)
        assert_eq!(kinds("{{name}}"), vec![k(Var, "name", 0..8)]);
    }

    #[test]
    fn target_step_item_and_index_placeholders_are_classified() {
        assert_eq!(
            kinds(
                "{target} {target.id} {target.title} {target.description} {step.id} {step.title}"
            ),
            vec![
                k(Target, "target", 0..8),
                k(TargetField, "target.id", 9..20),
                k(TargetField, "target.title", 21..35),
                k(TargetField, "target.description", 36..56),
                k(StepField, "step.id", 57..66),
                k(StepField, "step.title", 67..79),
            ]
        );
        assert_eq!(
            kinds("{item} {item.name} {index} {target.foo}"),
            vec![
                k(Item, "item", 0..6),
                k(ItemField, "name", 7..18),
                k(Index, "index", 19..26),
                k(UnknownDotted, "target.foo", 27..39),
            ]
        );
    }

    #[test]
    fn handlebars_and_go_templates_are_foreign() {
        let found =
            kinds("{{#if x}}a{{else}}b{{/if}} {{.name}} {{- .x -}} {{if .y}}{{end}} {{{raw}}}");
        let foreign: Vec<_> = found.iter().filter(|f| f.0 == Foreign).collect();
        assert_eq!(found.len(), foreign.len(), "{found:?}");
        assert_eq!(
            foreign.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
            vec!["#if x", "else", "/if", ".name", "- .x -", "if .y", "end", "{raw"]
        );
        assert_eq!(found[0].2, 0..9);
    }

    #[test]
    fn malformed_double_braces_are_reported_not_substituted() {
        assert_eq!(
            kinds("{{ name }} {{a-b}} {{1x}} {{}}"),
            vec![
                k(MalformedVar, " name ", 0..10),
                k(MalformedVar, "a-b", 11..18),
                k(MalformedVar, "1x", 19..25),
                k(MalformedVar, "", 26..30),
            ]
        );
        assert_eq!(
            substitute_compile_time("{{1x}}", &|_| Some("!".into())),
            "{{1x}}"
        );
    }

    #[test]
    fn compile_time_substitution_never_touches_formula_vars() {
        // beads bug 16: `Move {{i}}` with loop var i=5 became `Move {5}`
        let lookup = vars(&[("i", "5"), ("target.title", "Build"), ("step.id", "impl")]);
        assert_eq!(
            substitute_compile_time("Move {{i}} and {i}", &lookup),
            "Move {{i}} and 5"
        );
        assert_eq!(
            substitute_compile_time("{target.title} after {step.id}: {unknown}", &lookup),
            "Build after impl: {unknown}"
        );
    }

    #[test]
    fn substituted_values_are_not_rescanned() {
        // beads replaced `{target…}` first, then `{var}` in the result
        let lookup = vars(&[("target.title", "uses {x}"), ("x", "X")]);
        assert_eq!(
            substitute_compile_time("{target.title} {x}", &lookup),
            "uses {x} X"
        );
    }

    #[test]
    fn item_fields_are_looked_up_by_full_name() {
        let lookup = vars(&[("item.name", "w1"), ("index", "0")]);
        assert_eq!(
            substitute_compile_time("{item.name}#{index}", &lookup),
            "w1#0"
        );
    }

    #[test]
    fn formula_var_substitution_skips_foreign_forms() {
        let lookup = vars(&[("x", "1"), ("else", "E")]);
        assert_eq!(
            substitute_vars("{{x}} {x} {{#if x}}{{else}}{{/if}}", &lookup),
            "1 {x} {{#if x}}{{else}}{{/if}}"
        );
    }

    #[test]
    fn braces_that_are_not_placeholders_are_ignored() {
        assert!(scan(r#"{"a": {"b": 1}} { x } {} {{ {a.b.c}"#).is_empty());
        assert_eq!(kinds("{{{x}}").len(), 1);
        assert_eq!(kinds("${HOME}"), vec![k(CompileTime, "HOME", 1..7)]);
    }

    #[test]
    fn spans_are_byte_ranges_with_unicode() {
        let text = "é {{v}} 🦀{w}";
        let found = scan(text);
        assert_eq!(&text[found[0].span.clone()], "{{v}}");
        assert_eq!(&text[found[1].span.clone()], "{w}");
    }

    #[test]
    fn fuzzed_inputs_never_panic() {
        let seeds = [
            "Move {{disk}} to {peg}",
            "{target.title} {{#if x}}{{else}}{{/if}}",
            "{{.x}} {item.name}",
            "{{ name }} {index}",
        ];
        for input in super::super::fuzz::inputs(&seeds, 3000, 0x5eed_0007) {
            for p in scan(&input) {
                assert!(p.span.end <= input.len() && input.is_char_boundary(p.span.start));
                assert!(input.is_char_boundary(p.span.end));
            }
            let _ = substitute_compile_time(&input, &|n| Some(format!("<{n}>")));
            let _ = substitute_vars(&input, &|n| Some(format!("<{n}>")));
        }
    }
}
