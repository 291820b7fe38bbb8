//! The 20-disk Towers of Hanoi example is past the default step cap (a
//! clear F0040), and a smaller copy cooks to the right number of moves.

mod common;

use common::Bd;
use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::library::Env;
use gastown::formula::proto::Proto;

#[test]
fn hanoi_20_needs_a_raised_cap_and_small_versions_cook() {
    let example = std::path::Path::new("examples/towers-of-hanoi-20.formula.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let opts = CookOptions {
        target: example.display().to_string(),
        search_path: Some(vec![]),
        cwd: std::env::current_dir().unwrap(),
        ..CookOptions::default()
    };
    let c = compile::compile(&opts, &Env::default());
    assert_eq!(c.diagnostics()[0].code.as_str(), "F0040");

    let dir = tempfile::tempdir().unwrap();
    let small = text
        .replace("towers-of-hanoi-20", "hanoi-small")
        .replace("disks = \"20\"", "disks = \"5\"");
    std::fs::write(dir.path().join("hanoi-small.formula.toml"), small).unwrap();
    let opts = CookOptions {
        target: "hanoi-small".into(),
        search_path: Some(vec![dir.path().to_path_buf()]),
        cwd: dir.path().to_path_buf(),
        ..CookOptions::default()
    };
    let p = compile::compile(&opts, &Env::default())
        .proto
        .expect("cooks");
    // setup + 31 moves + verify, chained.
    let steps: Vec<_> = p.steps().collect();
    assert_eq!(steps.len(), 33);
    assert_eq!(steps[1].path, "solve.iter1.move");
    assert_eq!(steps[31].title, "Move 31");
    let verify_needs: Vec<String> = p
        .deps()
        .filter(|d| d.from.ends_with(".verify") && d.kind.as_str() == "blocks")
        .map(|d| d.to.to_string())
        .collect();
    assert_eq!(verify_needs, ["hanoi-small.solve.iter31.move"]);
}

/// With the cap raised, the 20-disk example cooks to one generated family:
/// a few kilobytes of IR version 2 instead of a million written-out steps.
#[test]
fn hanoi_20_cooks_to_one_family() {
    let example = std::path::Path::new("examples/towers-of-hanoi-20.formula.toml");
    let opts = CookOptions {
        target: example.display().to_string(),
        search_path: Some(vec![]),
        cwd: std::env::current_dir().unwrap(),
        max_steps: Some(2_000_000),
        ..CookOptions::default()
    };
    let p = compile::compile(&opts, &Env::default())
        .proto
        .expect("cooks");
    assert_eq!(p.ir_version, 2);
    assert_eq!(p.step_count(), 1_048_577);
    assert_eq!(p.families().count(), 1);
    let json = p.to_json();
    assert!(json.len() < 8_000, "{} bytes", json.len());
    let last = p.step("solve.iter1048575.move").expect("the last move");
    assert_eq!(last.title, "Move 1048575");
    assert_eq!(
        last.provenance.chain,
        ["iteration 1048575 of loop `solve` (examples/towers-of-hanoi-20.formula.toml:20:1)"]
    );
    let verify_needs: Vec<String> = p
        .deps()
        .skip(2_097_000)
        .filter(|d| d.from.ends_with(".verify") && d.kind.as_str() == "blocks")
        .map(|d| d.to.to_string())
        .collect();
    assert_eq!(verify_needs, ["towers-of-hanoi-20.solve.iter1048575.move"]);
    // What a user keeps with `--out` reads back to the same proto.
    assert_eq!(Proto::from_json(&json).unwrap(), p);
}

/// A large loop is kept as one family (templates plus its range); eager
/// expansion writes every step. An advice rule that matches nothing forces
/// the eager path. Expanded, the family gives the very bytes eager
/// expansion gives: steps, edges, provenance, bound vars.
#[test]
fn lazy_and_eager_loops_cook_identically() {
    let formula = |extra: &str| {
        format!(
            r#"formula = "big"
[vars]
n = "1700"
who = "me"
[[steps]]
id = "setup"
title = "Setup"
[[steps]]
id = "solve"
title = "Solve"
needs = ["setup"]
[steps.loop]
range = "1..{{n}}*2"
var = "i"
[[steps.loop.body]]
id = "think"
title = "Think {{i}}"
description = "Move {{i}} keeps {{{{pour_time}}}} for pour"
[[steps.loop.body]]
id = "move"
title = "Move {{i}} for {{{{who}}}}"
needs = ["think"]
labels = ["hanoi"]
priority = 1
[[steps.loop.body]]
id = "note"
notes = "about {{i}}"
depends_on = ["think", "think"]
[[steps]]
id = "group"
title = "Group"
[[steps.children]]
id = "tick"
needs = ["solve"]
[steps.children.loop]
count = 10000
[[steps.children.loop.body]]
id = "t"
run = "echo {{{{who}}}}"
[[steps]]
id = "verify"
title = "Verify"
needs = ["solve", "setup", "group"]
{extra}"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cook = |text: String, vars: &[(&str, &str)]| {
        std::fs::write(dir.path().join("big.formula.toml"), text).unwrap();
        let opts = CookOptions {
            target: "big".into(),
            search_path: Some(vec![dir.path().to_path_buf()]),
            cwd: dir.path().to_path_buf(),
            bind_vars: !vars.is_empty(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..CookOptions::default()
        };
        compile::compile(&opts, &Env::default())
            .proto
            .expect("cooks")
    };
    let eager_only = "[[advice]]\ntarget = \"nothing-matches\"\n[advice.before]\nid = \"x\"\n";
    // A bound value that looks like the loop var's hole stays as it is.
    for vars in [&[][..], &[("who", "{i} and {{n}}")][..]] {
        let lazy = cook(formula(""), vars);
        let mut eager = cook(formula(eager_only), vars);
        // The sources differ by the advice rule only.
        eager.sources.clone_from(&lazy.sources);
        assert_eq!((lazy.ir_version, eager.ir_version), (2, 1));
        assert_eq!(lazy.families().count(), 2);
        assert_eq!(eager.families().count(), 0);
        assert_eq!(lazy.step_count(), 3 + 3 * 3_400 + 10_000);
        assert!(lazy.to_json().len() < 10_000);
        let mut expanded = Vec::new();
        lazy.write_json_expanded(&mut expanded).unwrap();
        let expanded = String::from_utf8(expanded).unwrap();
        let want = eager.to_json();
        // Compare without printing megabytes on failure.
        if let Some(at) = expanded.bytes().zip(want.bytes()).position(|(x, y)| x != y) {
            let around = |t: &str| t[at.saturating_sub(300)..(at + 100).min(t.len())].to_string();
            panic!(
                "differ at byte {at}: {:?} vs {:?}",
                around(&expanded),
                around(&want)
            );
        }
        assert_eq!(expanded.len(), want.len());
        // A kept file reads back and expands the same.
        let back = Proto::from_json(&lazy.to_json()).unwrap();
        assert_eq!(back, lazy);
        // Single steps are found by id or path without expanding the rest.
        let want_step = eager.step("group.tick.iter10000.t").unwrap().into_owned();
        assert_eq!(
            lazy.step("big.group.tick.iter10000.t")
                .unwrap()
                .into_owned(),
            want_step
        );
    }
}

/// `bd mol pour` of a cooked family (kept in a file, as a user would)
/// creates the beads and dependencies of the same loop expanded eagerly.
#[test]
fn pouring_a_family_makes_the_beads_of_its_expansion() {
    let d = tempfile::tempdir().unwrap();
    let bd = Bd::new(d.path());
    bd.ok(&["init", "--prefix", "hx"]);
    let formula = |name: &str, extra: &str| {
        format!(
            r#"formula = "{name}"
[[steps]]
id = "setup"
title = "Setup"
[[steps]]
id = "solve"
needs = ["setup"]
[steps.loop]
range = "1..5000"
var = "m"
[[steps.loop.body]]
id = "think"
title = "Think {{m}}"
[[steps.loop.body]]
id = "move"
title = "Move {{m}}"
needs = ["think"]
[[steps]]
id = "verify"
title = "Verify"
needs = ["solve"]
{extra}"#
        )
    };
    let eager_only = "[[advice]]\ntarget = \"nothing-matches\"\n[advice.before]\nid = \"x\"\n";
    for (name, extra) in [("lazy", ""), ("eager", eager_only)] {
        std::fs::write(
            d.path().join(format!("{name}.formula.toml")),
            formula(name, extra),
        )
        .unwrap();
        bd.ok(&[
            "cook",
            &format!("{name}.formula.toml"),
            "--out",
            &format!("{name}.json"),
        ]);
    }
    let kept = std::fs::read_to_string(d.path().join("lazy.json")).unwrap();
    assert!(
        kept.contains("\"ir_version\": 2") && kept.len() < 5_000,
        "{kept}"
    );
    // The plans agree issue for issue and edge for edge, ids aside.
    let plan = |file: &str, name: &str| {
        let v = bd.ok(&["mol", "pour", file, "--dry-run", "--json"]).json();
        let root = v["new_epic_id"].as_str().unwrap().to_string();
        let text = serde_json::to_string(&[&v["issues"], &v["deps"]]).unwrap();
        text.replace(&root, "ROOT")
            .replace(&format!("\"{name}\""), "\"FORMULA\"")
            .replace(&format!("{name}.formula.toml"), "FILE")
    };
    let (lazy, eager) = (plan("lazy.json", "lazy"), plan("eager.json", "eager"));
    assert!(lazy.contains("Think 5000"));
    assert!(lazy == eager, "the plans differ");
    // `--expand` writes every step out, as version 1.
    bd.ok(&[
        "cook",
        "lazy.formula.toml",
        "--expand",
        "--out",
        "expanded.json",
    ]);
    let expanded = std::fs::read_to_string(d.path().join("expanded.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&expanded).unwrap();
    assert_eq!(v["ir_version"], 1);
    assert_eq!(v["steps"].as_array().unwrap().len(), 10_002);
    assert!(
        plan("expanded.json", "lazy") == lazy,
        "the expanded plan differs"
    );
    // Poured for real: the chain runs through the iterations.
    let root = bd.ok(&["mol", "pour", "lazy.json", "--json"]).json()["new_epic_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deps_of = |step: &str| -> Vec<String> {
        let v = bd.ok(&["show", &format!("{root}.{step}"), "--json"]).json();
        v[0]["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dependency_type"] == "blocks")
            .map(|d| {
                d["id"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(&root)
                    .to_string()
            })
            .collect()
    };
    assert_eq!(deps_of("solve.iter1.think"), [".setup"]);
    assert_eq!(deps_of("solve.iter2.think"), [".solve.iter1.move"]);
    assert_eq!(deps_of("solve.iter5000.move"), [".solve.iter5000.think"]);
    assert_eq!(deps_of("verify"), [".solve.iter5000.move"]);
    let ready = bd.ok(&["ready", "--json"]).json();
    let ready: Vec<&str> = ready
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(
        ready.contains(&"Setup") && !ready.contains(&"Think 1"),
        "{ready:?}"
    );
}
