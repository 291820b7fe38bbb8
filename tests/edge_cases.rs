//! The conformance edge cases of the reference (§7), each asserting our
//! documented behaviour. Where beads is wrong we do the fixed thing, and
//! the comment says which. (Cases 1, 4, 7, 8 and 15 also have fixtures in
//! tests/fixtures and tests/extends.rs; 13 in tests/diagnostics.)

use gastown::formula::api::CookOptions;
use gastown::formula::compile::{self, Compiled};
use gastown::formula::library::Env;
use gastown::formula::proto::Proto;

fn cook(files: &[(&str, &str)], target: &str, vars: &[(&str, &str)]) -> Compiled {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let ext = if text.trim_start().starts_with('{') {
            "json"
        } else {
            "toml"
        };
        std::fs::write(dir.path().join(format!("{name}.formula.{ext}")), text).unwrap();
    }
    let opts = CookOptions {
        target: target.into(),
        search_path: Some(vec![dir.path().to_path_buf()]),
        cwd: dir.path().to_path_buf(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        bind_vars: !vars.is_empty(),
        max_steps: None,
    };
    compile::compile(&opts, &Env::default())
}

fn codes(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics().iter().map(|d| d.code.as_str()).collect()
}

fn errors(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect()
}

fn proto(c: Compiled) -> Proto {
    let codes: Vec<String> = c
        .diagnostics()
        .iter()
        .map(|d| format!("{}: {}", d.code.as_str(), d.message))
        .collect();
    c.proto.unwrap_or_else(|| panic!("did not cook: {codes:?}"))
}

fn titles(p: &Proto) -> Vec<(String, String)> {
    p.steps()
        .map(|s| (s.path.clone(), s.title.clone()))
        .collect()
}

fn edges(p: &Proto, kind: &str) -> Vec<(String, String)> {
    let short = |s: &str| {
        s.strip_prefix(&format!("{}.", p.formula))
            .unwrap_or(s)
            .to_string()
    };
    p.deps()
        .filter(|d| d.kind.as_str() == kind)
        .map(|d| (short(&d.from), short(&d.to)))
        .collect()
}

// 2. Vars forms and conflicts.
#[test]
fn case_2_var_forms() {
    let f = r#"
formula = "f"
[vars]
x = "v"
[vars.y]
default = ""
[vars.z]
required = true
default = "d"
[[steps]]
id = "s"
title = "{{x}}|{{y}}|{{z}}"
"#;
    let c = cook(&[("f", f)], "f", &[("x", "v")]);
    // required + default: a warning (beads: an error that rejects 3 real formulas).
    assert_eq!(codes(&c), ["F0021"]);
    assert_eq!(proto(c).steps().next().unwrap().title, "v||d");
    // `default = 5`: beads drops it silently; we report the wrong type.
    let c = cook(
        &[(
            "g",
            "formula = \"g\"\n[vars.w]\ndefault = 5\n[[steps]]\nid = \"s\"\ntitle = \"{{w}}\"\n",
        )],
        "g",
        &[],
    );
    assert!(codes(&c).contains(&"F0008"));
    // JSON short-form var: beads fails to decode; we accept it as a default.
    let json = r#"{"formula": "j", "vars": {"x": "v"}, "steps": [{"id": "s", "title": "{{x}}"}]}"#;
    let p = proto(cook(&[("j", json)], "j", &[("x", "w")]));
    assert_eq!(p.steps().next().unwrap().title, "w");
}

// 3. One required-variable rule for cook, pour, wisp and bond.
#[test]
fn case_3_required_rule() {
    let f = r#"
formula = "f"
[vars.a]
description = "in a title"
[vars.b]
description = "only in the assignee"
[[steps]]
id = "s"
title = "{{a}}"
assignee = "{{b}}"
description = "{{c}} is undeclared"
"#;
    let c = cook(&[("f", f)], "f", &[("a", "1")]);
    // b is referenced (assignee counts: one rule everywhere), so it is missing.
    let missing: Vec<String> = c
        .diagnostics()
        .iter()
        .filter(|d| d.code.as_str() == "F0030")
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(missing, ["missing required variable `b`"]);
    // The undeclared {{c}} is a warning and stays literal.
    assert!(codes(&c).contains(&"F0019"));
    let p = proto(cook(&[("f", f)], "f", &[("a", "1"), ("b", "bob")]));
    assert_eq!(p.steps().next().unwrap().assignee.as_deref(), Some("bob"));
    assert_eq!(p.steps().next().unwrap().description, "{{c}} is undeclared");
}

// 5. Range loops.
#[test]
fn case_5_range_loops() {
    let f = |range: &str, title: &str| {
        format!(
            "formula = \"f\"\n[vars]\nn = \"3\"\n[[steps]]\nid = \"l\"\ntitle = \"L\"\n[steps.loop]\nrange = \"{range}\"\nvar = \"i\"\n[[steps.loop.body]]\nid = \"m\"\ntitle = \"{title}\"\n"
        )
    };
    let p = proto(cook(&[("f", &f("5..7", "Move {i}"))], "f", &[]));
    assert_eq!(
        titles(&p),
        [
            ("l.iter1.m", "Move 5"),
            ("l.iter2.m", "Move 6"),
            ("l.iter3.m", "Move 7")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(
        proto(cook(&[("f", &f("1...3", "M"))], "f", &[]))
            .steps()
            .len(),
        3
    );
    // Fixed: formula vars (and defaults) feed ranges; beads fails on `{`.
    assert_eq!(
        proto(cook(&[("f", &f("1..2^{n}", "M"))], "f", &[]))
            .steps()
            .len(),
        8
    );
    assert_eq!(
        proto(cook(&[("f", &f("1..2^{n}", "M"))], "f", &[("n", "2")]))
            .steps()
            .len(),
        4
    );
    assert_eq!(
        errors(&cook(&[("f", &f("7..5", "M"))], "f", &[])),
        ["F0033"]
    );
    // Fixed: `{{i}}` stays a pour-time var; beads produced `{5}`.
    let p = proto(cook(&[("f", &f("5..5", "Move {{i}}"))], "f", &[]));
    assert_eq!(p.steps().next().unwrap().title, "Move {{i}}");
}

// 6. Until loops.
#[test]
fn case_6_until_loops() {
    let f = |until: &str, max: &str| {
        format!("formula = \"f\"\n[[steps]]\nid = \"l\"\ntitle = \"L\"\n[steps.loop]\nuntil = \"{until}\"\n{max}\n[[steps.loop.body]]\nid = \"b\"\ntitle = \"B\"\n")
    };
    let p = proto(cook(&[("f", &f("steps.closed >= 3", "max = 3"))], "f", &[]));
    assert_eq!(p.steps().len(), 1);
    // Stored as an expression tree for the runtime, not an opaque label.
    let first = p.steps().next().unwrap();
    let l = &first.runtime["loop"];
    assert_eq!(l["max"], 3);
    assert_eq!(l["until"], "steps.closed >= 3");
    assert!(l["condition"].is_object());
    assert_eq!(
        codes(&cook(&[("f", &f("steps.closed >= 3", ""))], "f", &[])),
        ["F0039"]
    );
    // Fixed: an unknown operator is an error; beads accepted it as never-true.
    assert_eq!(
        codes(&cook(&[("f", &f("status = 'x'", "max = 1"))], "f", &[])),
        ["F0035"]
    );
}

// 9. Step conditions.
#[test]
fn case_9_step_conditions() {
    let f = |cond: &str| {
        format!(
            "formula = \"f\"\n[vars.flag]\ndefault = \"false\"\n[vars.env]\ndefault = \"dev\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\ncondition = \"{cond}\"\n[[steps.children]]\nid = \"c\"\ntitle = \"C\"\n"
        )
    };
    let kept = |cond: &str, vars: &[(&str, &str)]| {
        proto(cook(&[("f", &f(cond))], "f", vars)).steps().len()
    };
    assert_eq!(
        kept("{{flag}}", &[("env", "dev")]),
        1,
        "false excludes the step and its children"
    );
    assert_eq!(kept("{{flag}}", &[("flag", "No")]), 1);
    assert_eq!(kept("{{flag}}", &[("flag", "yes")]), 3);
    assert_eq!(kept("!{{flag}}", &[("flag", "yes")]), 1);
    assert_eq!(kept("{{env}} == 'prod'", &[("env", "prod")]), 3);
    assert_eq!(kept("{{env}} == prod", &[("env", "prod")]), 3);
    assert_eq!(kept("{{env}}==prod", &[("env", "prod")]), 3);
    // Fixed: `{{ env }}` is an error at cook, not only at pour.
    assert_eq!(
        errors(&cook(&[("f", &f("{{ env }} == prod"))], "f", &[])),
        ["F0034"]
    );
    // Without vars, nothing is filtered: the condition is kept for pour.
    let p = proto(cook(&[("f", &f("{{flag}}"))], "f", &[]));
    assert_eq!(
        p.steps().nth(1).unwrap().condition.as_deref(),
        Some("{{flag}}")
    );
}

// 10. waits_for wiring.
#[test]
fn case_10_waits_for() {
    let f = |w: &str, needs: &str| {
        format!("formula = \"f\"\n[[steps]]\nid = \"survey\"\ntitle = \"S\"\n[[steps]]\nid = \"agg\"\ntitle = \"A\"\n{needs}\nwaits_for = \"{w}\"\n")
    };
    // Fixed: `needs` and `waits_for` on the same spawner are not a conflict.
    let p = proto(cook(
        &[("f", &f("all-children", "needs = [\"survey\"]"))],
        "f",
        &[],
    ));
    assert_eq!(
        edges(&p, "blocks"),
        [("agg".to_string(), "survey".to_string())]
    );
    assert_eq!(
        edges(&p, "waits-for"),
        [("agg".to_string(), "survey".to_string())]
    );
    let p = proto(cook(&[("f", &f("children-of(survey)", ""))], "f", &[]));
    let w = p.deps().find(|d| d.kind.as_str() == "waits-for").unwrap();
    assert_eq!(w.metadata.as_ref().unwrap()["gate"], "all-children");
    // Fixed: no spawner at all is an error, not a silent label.
    assert_eq!(
        codes(&cook(&[("f", &f("any-children", ""))], "f", &[])),
        ["F0037"]
    );
    assert_eq!(
        codes(&cook(&[("f", &f("children-of(nope)", ""))], "f", &[])),
        ["F0037"]
    );
}

// 11. Epic/task mixing cooks (and, unlike beads, pours: the store has no
// epic-only blocking rule).
#[test]
fn case_11_epics_and_tasks_mix() {
    let f = "formula = \"f\"\n[[steps]]\nid = \"leaf\"\ntitle = \"L\"\n[[steps]]\nid = \"parent\"\ntitle = \"P\"\nneeds = [\"leaf\"]\ntype = \"task\"\n[[steps.children]]\nid = \"kid\"\ntitle = \"K\"\n";
    let p = proto(cook(&[("f", f)], "f", &[]));
    assert_eq!(p.steps().nth(1).unwrap().kind, "epic");
    assert_eq!(p.steps().nth(2).unwrap().id, "f.parent.kid");
    assert_eq!(
        edges(&p, "parent-child")[2],
        ("parent.kid".to_string(), "parent".to_string())
    );
}

// 12. Gates.
#[test]
fn case_12_gates() {
    let f = |gate: &str| {
        format!("formula = \"f\"\n[[steps]]\nid = \"await-ci\"\ntitle = \"W\"\n{gate}\n")
    };
    let p = proto(cook(
        &[(
            "f",
            &f("[steps.gate]\ntype = \"gh:run\"\nid = \"release.yml\"\ntimeout = \"30m\""),
        )],
        "f",
        &[],
    ));
    let gate = p.steps().nth(1).unwrap();
    assert_eq!(gate.path, "gate-await-ci");
    assert_eq!(gate.title, "Gate: gh:run release.yml");
    assert_eq!(gate.gate.as_ref().unwrap().timeout_secs, Some(1800));
    assert_eq!(
        edges(&p, "blocks"),
        [("await-ci".to_string(), "gate-await-ci".to_string())]
    );
    let p = proto(cook(
        &[(
            "f",
            &f("[steps.gate]\ntype = \"gh:run\"\nid = \"a\"\nawait_id = \"b\""),
        )],
        "f",
        &[],
    ));
    assert_eq!(
        p.steps()
            .nth(1)
            .unwrap()
            .gate
            .as_ref()
            .unwrap()
            .await_id
            .as_deref(),
        Some("b")
    );
    // Fixed: a bad timeout is an error, not a silent zero.
    assert_eq!(
        codes(&cook(
            &[(
                "f",
                &f("[steps.gate]\ntype = \"timer\"\ntimeout = \"soon\"")
            )],
            "f",
            &[]
        )),
        ["F0038"]
    );
    let p = proto(cook(
        &[(
            "f",
            &f("gate = { type = \"conditional\", condition = \"await-ci.status == 'closed'\" }"),
        )],
        "f",
        &[],
    ));
    assert_eq!(
        p.steps()
            .nth(1)
            .unwrap()
            .gate
            .as_ref()
            .unwrap()
            .condition
            .as_deref(),
        Some("await-ci.status == 'closed'")
    );
}

// 14. Runtime-condition quirks are fixed.
#[test]
fn case_14_runtime_conditions() {
    let f = |cond: &str| {
        format!("formula = \"f\"\n[[steps]]\nid = \"x\"\ntitle = \"X\"\n[[steps]]\nid = \"y\"\ntitle = \"Y\"\n[compose]\n[[compose.gate]]\nbefore = \"y\"\ncondition = \"{cond}\"\n")
    };
    let p = proto(cook(
        &[("f", &f("children(x).count(status == 'closed') >= 2"))],
        "f",
        &[],
    ));
    let expr = &p.steps().nth(1).unwrap().runtime["gate"]["expr"];
    // The predicate survives next to the threshold (beads lost it).
    let text = expr.to_string();
    assert!(text.contains("closed") && text.contains('2'), "{text}");
    for bad in [
        "children(x).all(status == 'closed') junk",
        "x.status ==",
        "x.status === 'closed'",
        "file.exists('a\\\")",
    ] {
        assert_eq!(
            codes(&cook(&[("f", &f(bad))], "f", &[])),
            ["F0035"],
            "{bad}"
        );
    }
    // A condition naming a step that does not exist.
    assert_eq!(
        codes(&cook(&[("f", &f("nope.status == 'closed'"))], "f", &[])),
        ["F0042"]
    );
}

// 16. References across levels, and cycles found at compile time.
#[test]
fn case_16_cross_level_refs_and_cycles() {
    let f = "formula = \"f\"\n[[steps]]\nid = \"top\"\ntitle = \"T\"\nneeds = [\"kid\"]\n[[steps]]\nid = \"p\"\ntitle = \"P\"\n[[steps.children]]\nid = \"kid\"\ntitle = \"K\"\n";
    let p = proto(cook(&[("f", f)], "f", &[]));
    assert_eq!(
        edges(&p, "blocks"),
        [("top".to_string(), "p.kid".to_string())]
    );
    let cyc = "formula = \"f\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"b\"]\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\n";
    let c = cook(&[("f", cyc)], "f", &[]);
    assert_eq!(codes(&c), ["F0018"]);
    assert_eq!(c.diagnostics()[0].message, "dependency cycle: a -> b -> a");
}

// Transforms re-validate: advice producing duplicate ids is caught.
#[test]
fn duplicate_ids_from_advice_are_caught() {
    let f = "formula = \"f\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[advice]]\ntarget = \"a\"\n[advice.before]\nid = \"same\"\n[[advice]]\ntarget = \"a\"\n[advice.after]\nid = \"same\"\n";
    let c = cook(&[("f", f)], "f", &[]);
    assert_eq!(codes(&c), ["F0015"]);
    assert!(c.diagnostics()[0].notes[0].contains("after the `advice` transform"));
}

#[test]
fn max_steps_caps_generation() {
    let f = "formula = \"f\"\n[[steps]]\nid = \"l\"\ntitle = \"L\"\n[steps.loop]\ncount = 50\n[[steps.loop.body]]\nid = \"b\"\ntitle = \"B\"\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.formula.toml"), f).unwrap();
    let opts = |max| CookOptions {
        target: "f".into(),
        search_path: Some(vec![dir.path().to_path_buf()]),
        cwd: dir.path().to_path_buf(),
        max_steps: Some(max),
        ..CookOptions::default()
    };
    assert!(compile::compile(&opts(50), &Env::default()).proto.is_some());
    let c = compile::compile(&opts(49), &Env::default());
    assert_eq!(codes(&c), ["F0040"]);
}

// Re-validation covers waits_for wiring: expanding the spawner away is caught.
#[test]
fn waits_for_spawner_removed_by_expansion_is_caught() {
    let f = "formula = \"f\"\n[[steps]]\nid = \"survey\"\ntitle = \"S\"\nexpand = \"x\"\n[[steps]]\nid = \"agg\"\ntitle = \"A\"\nwaits_for = \"children-of(survey)\"\n";
    let x =
        "formula = \"x\"\ntype = \"expansion\"\n[[template]]\nid = \"{target}.a\"\ntitle = \"A\"\n";
    let c = cook(&[("f", f), ("x", x)], "f", &[]);
    assert_eq!(errors(&c), ["F0037"]);
    assert!(c.diagnostics()[0].notes[0].contains("inline expand"));
}
