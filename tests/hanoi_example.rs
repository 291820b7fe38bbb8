//! The 20-disk Towers of Hanoi example is past the default step cap (a
//! clear F0040), and a smaller copy cooks to the right number of moves.

use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::library::Env;

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
    assert_eq!(p.steps.len(), 33);
    assert_eq!(p.steps[1].path, "solve.iter1.move");
    assert_eq!(p.steps[31].title, "Move 31");
    let verify_needs: Vec<&str> = p
        .deps
        .iter()
        .filter(|d| d.from.ends_with(".verify") && d.kind.as_str() == "blocks")
        .map(|d| d.to.as_str())
        .collect();
    assert_eq!(verify_needs, ["hanoi-small.solve.iter31.move"]);
}

/// Lazy loops (streamed by cook) and eager expansion give the same IR. An
/// advice rule that matches nothing forces the eager path.
#[test]
fn lazy_and_eager_loops_cook_identically() {
    let formula = |extra: &str| {
        format!(
            r#"formula = "big"
[vars]
n = "6000"
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
title = "Move {{i}}"
needs = ["think"]
[[steps]]
id = "verify"
title = "Verify"
needs = ["solve", "setup"]
{extra}"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cook = |text: String| {
        std::fs::write(dir.path().join("big.formula.toml"), text).unwrap();
        let opts = CookOptions {
            target: "big".into(),
            search_path: Some(vec![dir.path().to_path_buf()]),
            cwd: dir.path().to_path_buf(),
            ..CookOptions::default()
        };
        compile::compile(&opts, &Env::default())
            .proto
            .expect("cooks")
    };
    let lazy = cook(formula(""));
    let eager = cook(formula(
        "[[advice]]\ntarget = \"nothing-matches\"\n[advice.before]\nid = \"x\"\n",
    ));
    assert_eq!(lazy.steps.len(), 2 + 24_000);
    assert!(lazy.steps.len() >= gastown::formula::compose::LAZY_MIN_STEPS);
    // Compare without printing megabytes on failure.
    let first_diff = |a: &str, b: &str| a.bytes().zip(b.bytes()).position(|(x, y)| x != y);
    let (ls, es) = (
        serde_json::to_string(&lazy.steps).unwrap(),
        serde_json::to_string(&eager.steps).unwrap(),
    );
    assert!(ls == es, "steps differ at byte {:?}", first_diff(&ls, &es));
    let (ld, ed) = (
        serde_json::to_string(&lazy.deps).unwrap(),
        serde_json::to_string(&eager.deps).unwrap(),
    );
    assert!(
        ld == ed,
        "deps differ at byte {:?}: {}",
        first_diff(&ld, &ed),
        &ld[first_diff(&ld, &ed).unwrap_or(0)..][..200.min(ld.len())]
    );
}
