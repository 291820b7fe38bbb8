//! `extends` semantics (reference §3.2 and edge case 7.1).

use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::library::Env;

fn cook_in(files: &[(&str, &str)], target: &str) -> compile::Compiled {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(format!("{name}.formula.toml")), text).unwrap();
    }
    let opts = CookOptions {
        target: target.into(),
        search_path: Some(vec![dir.path().to_path_buf()]),
        cwd: dir.path().to_path_buf(),
        ..CookOptions::default()
    };
    let c = compile::compile(&opts, &Env::default());
    drop(dir);
    c
}

const PARENT: &str = r#"
formula = "parent"
description = "parent text"
[[steps]]
id = "a"
title = "A"
[[steps]]
id = "b"
title = "B"
needs = ["a"]
[[steps]]
id = "c"
title = "C"
needs = ["b"]
"#;

#[test]
fn child_step_overrides_parent_step_in_place() {
    let child = r#"
formula = "child"
extends = ["parent"]
phase = "vapor"
[[steps]]
id = "b"
title = "B prime"
[[steps]]
id = "d"
title = "D"
needs = ["c"]
"#;
    let c = cook_in(&[("parent", PARENT), ("child", child)], "child");
    let p = c.proto.expect("cooks");
    let steps: Vec<_> = p.steps().collect();
    let paths: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s.path.as_str(), s.title.as_str()))
        .collect();
    assert_eq!(
        paths,
        [("a", "A"), ("b", "B prime"), ("c", "C"), ("d", "D")]
    );
    // b' replaced b whole: its dependency on a is gone; c still needs b.
    let deps: Vec<_> = p.deps().collect();
    let blocks: Vec<(&str, &str)> = deps
        .iter()
        .filter(|d| d.kind.as_str() == "blocks")
        .map(|d| (d.from.as_str(), d.to.as_str()))
        .collect();
    assert_eq!(blocks, [("child.c", "child.b"), ("child.d", "child.c")]);
    // Unlike beads, the child keeps its own phase.
    assert_eq!(p.phase.as_deref(), Some("vapor"));
    // As in beads, the parent's description is not inherited.
    assert_eq!(p.root.description, "");
    // Provenance names the formula that contributed each step.
    assert_eq!(p.steps().next().unwrap().provenance.formula, "parent");
    assert_eq!(p.steps().nth(1).unwrap().provenance.formula, "child");
}

#[test]
fn two_parents_defining_one_id_is_a_duplicate() {
    let other = "formula = \"other\"\n[[steps]]\nid = \"a\"\ntitle = \"Other A\"\n";
    let child = "formula = \"child\"\nextends = [\"parent\", \"other\"]\n";
    let c = cook_in(
        &[("parent", PARENT), ("other", other), ("child", child)],
        "child",
    );
    assert!(c.proto.is_none());
    let d = c
        .diagnostics()
        .iter()
        .find(|d| d.code.as_str() == "F0015")
        .expect("duplicate id");
    // Both definitions are labelled, in their own files.
    assert_ne!(
        d.primary.as_ref().unwrap().span.file(),
        d.secondary[0].span.file()
    );
}

#[test]
fn first_parent_wins_vars_and_child_overrides() {
    let p1 = "formula = \"p1\"\n[vars]\nx = \"one\"\ny = \"p1y\"\n[[steps]]\nid = \"s1\"\ntitle = \"{{x}} {{y}}\"\n";
    let p2 = "formula = \"p2\"\n[vars]\nx = \"two\"\n[[steps]]\nid = \"s2\"\ntitle = \"{{x}}\"\n";
    let child = "formula = \"child\"\nextends = [\"p1\", \"p2\"]\n[vars]\ny = \"mine\"\n";
    let c = cook_in(&[("p1", p1), ("p2", p2), ("child", child)], "child");
    let p = c.proto.expect("cooks");
    let vars: Vec<(&str, Option<&str>)> = p
        .vars
        .iter()
        .map(|v| (v.name.as_str(), v.default.as_deref()))
        .collect();
    assert_eq!(vars, [("x", Some("one")), ("y", Some("mine"))]);
}

#[test]
fn missing_parent_suggests_across_search_path() {
    let child = "formula = \"child\"\nextends = [\"parnet\"]\n";
    let c = cook_in(&[("parent", PARENT), ("child", child)], "child");
    let d = c
        .diagnostics()
        .iter()
        .find(|d| d.code.as_str() == "F0011")
        .expect("not found");
    assert_eq!(d.help.as_deref(), Some("did you mean `parent`?"));
}

#[test]
fn cook_with_vars_substitutes_and_quotes_run() {
    let f = r#"
formula = "f"
[vars.msg]
description = "m"
[[steps]]
id = "say"
title = "Say {{msg}}"
run = "echo {{msg}}"
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.formula.toml"), f).unwrap();
    let opts = CookOptions {
        target: "f".into(),
        search_path: Some(vec![dir.path().to_path_buf()]),
        cwd: dir.path().to_path_buf(),
        vars: [("msg".to_string(), "hi; rm -rf /".to_string())]
            .into_iter()
            .collect(),
        bind_vars: true,
        max_steps: None,
    };
    let p = compile::compile(&opts, &Env::default())
        .proto
        .expect("cooks");
    assert_eq!(p.steps().next().unwrap().title, "Say hi; rm -rf /");
    assert_eq!(
        p.steps().next().unwrap().run.as_deref(),
        Some("echo 'hi; rm -rf /'")
    );
    assert_eq!(p.bound_vars.unwrap()["msg"], "hi; rm -rf /");
}
