//! Convoy formulas (Gas Town `legs` + `synthesis` + `prompts`): one step
//! per leg, and a synthesis step that needs every leg (or the legs its
//! `depends_on` names). Each leg's prompt is rendered from `prompts.base`
//! with the leg's fields. Standalone expansions are materialised here too,
//! since both turn a non-step formula into steps before the pipeline runs.

use super::Cx;
use crate::formula::ast::{Formula, Leg, Sp, Step};

pub(super) fn apply(f: &mut Formula, cx: &mut Cx<'_>) {
    if !f.steps.is_empty() {
        return;
    }
    match f.effective_kind() {
        "convoy" => {
            cx.touched();
            legs_to_steps(f, cx)
        }
        "expansion" if !f.template.is_empty() => super::expand::standalone(f, cx),
        _ => {}
    }
}

/// Render the Go-template placeholders convoys use for one leg. Anything
/// else (`{{if}}`, unknown fields) is left as written for the agent.
fn render(template: &str, leg: &Leg, formula: &str) -> String {
    let field = |v: &Option<crate::formula::ast::SpStr>| {
        v.as_ref().map(|x| x.value.clone()).unwrap_or_default()
    };
    let mut out = template.to_string();
    for (key, value) in [
        ("leg.id", field(&leg.id)),
        ("leg.title", field(&leg.title)),
        ("leg.focus", field(&leg.focus)),
        ("leg.description", field(&leg.description)),
        ("formula_name", formula.to_string()),
    ] {
        for pattern in [format!("{{{{.{key}}}}}"), format!("{{{{ .{key} }}}}")] {
            out = out.replace(&pattern, &value);
        }
    }
    out
}

fn legs_to_steps(f: &mut Formula, cx: &mut Cx<'_>) {
    let base = f
        .prompts
        .iter()
        .find(|(k, _)| k.value == "base")
        .map(|(_, v)| v.value.clone());
    let mut steps = Vec::new();
    for leg in &f.legs {
        let Some(id) = &leg.id else { continue };
        let mut description = leg
            .description
            .as_ref()
            .map(|d| d.value.clone())
            .unwrap_or_default();
        if let Some(b) = &base {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&render(b, leg, &cx.formula));
        }
        let mut labels = Vec::new();
        if let Some(a) = leg.agent.as_ref().or(f.agent.as_ref()) {
            labels.push(Sp::new(format!("agent:{}", a.value), a.span));
        }
        if leg
            .review_only
            .as_ref()
            .or(f.review_only.as_ref())
            .is_some_and(|r| r.value)
        {
            labels.push(Sp::new("review-only".to_string(), leg.span));
        }
        steps.push(Step {
            id: Some(id.clone()),
            span: Some(leg.span),
            title: leg.title.clone().or_else(|| Some(id.clone())),
            description: Some(Sp::new(
                description,
                leg.description.as_ref().map(|d| d.span).unwrap_or(leg.span),
            )),
            labels,
            provenance: vec![("convoy leg".to_string(), Some(leg.span))],
            ..Step::default()
        });
    }
    if let Some(syn) = &f.synthesis {
        let needs = if syn.depends_on.is_empty() {
            steps.iter().filter_map(|s| s.id.clone()).collect()
        } else {
            syn.depends_on.clone()
        };
        steps.push(Step {
            id: Some(Sp::new("synthesis".to_string(), syn.span)),
            span: Some(syn.span),
            title: syn
                .title
                .clone()
                .or_else(|| Some(Sp::new("Synthesis".to_string(), syn.span))),
            description: syn.description.clone(),
            needs,
            provenance: vec![("convoy synthesis".to_string(), Some(syn.span))],
            ..Step::default()
        });
    }
    f.steps = steps;
}
