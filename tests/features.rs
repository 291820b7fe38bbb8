//! Hand-written formulas for every feature the corpus never uses, cooked
//! and snapshotted as trees (and, where wiring matters, as JSON deps).

use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::diag::render_human_all;
use gastown::formula::library::Env;
use gastown::formula::render;
use std::collections::BTreeMap;
use std::path::Path;

/// Relative, so that snapshots do not depend on where the checkout lives
/// (cargo runs tests from the package root).
fn fixtures() -> std::path::PathBuf {
    Path::new("tests/fixtures").to_path_buf()
}

fn cook(name: &str, vars: &[(&str, &str)]) -> (String, gastown::formula::proto::Proto) {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let opts = CookOptions {
        target: name.into(),
        search_path: Some(vec![fixtures()]),
        cwd: std::env::current_dir().unwrap(),
        bind_vars: !vars.is_empty(),
        vars,
        max_steps: None,
    };
    let c = compile::compile(&opts, &Env::default());
    let diags = render_human_all(c.diagnostics(), &c.session.sources, false);
    let proto = c
        .proto
        .unwrap_or_else(|| panic!("{name} does not cook:\n{diags}"));
    (diags, proto)
}

fn blocks(p: &gastown::formula::proto::Proto) -> Vec<String> {
    let short = |s: &str| {
        s.strip_prefix(&format!("{}.", p.formula))
            .unwrap_or(s)
            .to_string()
    };
    p.deps()
        .filter(|d| d.kind.as_str() != "parent-child")
        .map(|d| {
            format!(
                "{} -> {} ({})",
                short(&d.from),
                short(&d.to),
                d.kind.as_str()
            )
        })
        .collect()
}

macro_rules! feature {
    ($test:ident, $name:literal $(, $k:literal = $v:literal)*) => {
        #[test]
        fn $test() {
            let (diags, p) = cook($name, &[$(($k, $v)),*]);
            let mut out = render::tree(&p);
            out.push_str("\n-- edges --\n");
            out.push_str(&blocks(&p).join("\n"));
            if !diags.is_empty() {
                out.push_str("\n-- diagnostics --\n");
                out.push_str(&diags);
            }
            insta::assert_snapshot!(stringify!($test), out);
        }
    };
}

feature!(count_loop_carries_container_deps, "loop-count");
feature!(range_loop_uses_formula_vars, "loop-range");
feature!(nested_loops, "loop-nested");
feature!(until_loop, "loop-until");
feature!(conditions_filter_and_splice, "conditions", "env" = "dev");
feature!(
    conditions_with_deploy,
    "conditions",
    "deploy" = "yes",
    "env" = "prod"
);
feature!(inline_expand_rewires_dependents, "inline-expand");
feature!(compose_map_in_document_order, "compose-map");
feature!(compose_branch_and_gate, "compose-branch-gate");
feature!(waits_for_on_complete_and_gates, "waits-for");
feature!(advice_ordering, "advice");
feature!(children_make_an_epic, "children");
