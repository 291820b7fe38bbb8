//! The formula commands as a user runs them: exit codes and formats.

use std::process::Command;

fn gt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gt"));
    c.env("NO_COLOR", "1")
        .env_remove("GT_FORMULA_PATH")
        .env_remove("GT_TOWN");
    c
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "formula = \"good\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\n";

#[test]
fn lint_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.formula.toml", GOOD);
    let out = gt().arg("formula").arg("lint").arg(&good).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let warn = write(
        dir.path(),
        "warn.formula.toml",
        "formula = \"warn\"\n[[steps]]\nid = \"a\"\ntitle = \"{{x}}\"\n",
    );
    let out = gt().args(["formula", "lint"]).arg(&warn).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = gt()
        .args(["formula", "lint", "--deny", "warnings"])
        .arg(&warn)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let bad = write(
        dir.path(),
        "bad.formula.toml",
        "formula = \"bad\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"zz\"]\n",
    );
    let out = gt().args(["formula", "lint"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[F0016]"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "NO_COLOR must disable colour");

    let out = gt()
        .args(["formula", "lint", "--format", "bogus"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = gt()
        .args(["formula", "lint", "/no/such/path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lint_machine_formats() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.formula.toml",
        "formula = \"bad\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"a\"]\n",
    );
    let out = gt()
        .args(["formula", "lint", "--format", "json"])
        .arg(&bad)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["diagnostics"][0]["code"], "F0017");
    assert_eq!(v["diagnostics"][0]["location"]["line"], 5);

    let out = gt()
        .args(["formula", "lint", "--format", "sarif"])
        .arg(&bad)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let result = &v["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "F0017");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        5
    );
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "F0017"
    );

    let out = gt()
        .args(["formula", "lint", "--format", "github"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("::error file="), "{text}");
    assert!(text.contains(",line=5,"), "{text}");
}

#[test]
fn cook_formats_and_out_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.formula.toml", GOOD);
    let out_file = dir.path().join("proto.json");
    let out = gt()
        .arg("cook")
        .arg(&good)
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(v["ir_version"], 1);
    for (fmt, needle) in [
        ("tree", "└── b"),
        ("dot", "\"a\" -> \"b\""),
        ("mermaid", "s0 --> s1"),
    ] {
        let out = gt()
            .arg("cook")
            .arg(&good)
            .args(["--format", fmt])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(needle), "{fmt}: {text}");
    }
    let out = gt()
        .arg("cook")
        .arg(&good)
        .args(["--var", "novalue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn list_shows_shadowing_and_show_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    write(&a, "good.formula.toml", GOOD);
    write(&b, "good.formula.toml", GOOD);
    let out = gt()
        .args(["--json", "formula", "list", "--formula-path"])
        .arg(&a)
        .arg("--formula-path")
        .arg(&b)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["name"], "good");
    assert_eq!(v[0]["shadows"].as_array().unwrap().len(), 1);
    let out = gt()
        .args(["formula", "show", "good", "--formula-path"])
        .arg(&a)
        .arg("--formula-path")
        .arg(&b)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("shadows:"), "{text}");
}

#[test]
fn bd_exposes_the_same_compiler() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.formula.toml", GOOD);
    let out = Command::new(env!("CARGO_BIN_EXE_bd"))
        .arg("cook")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn lint_honours_max_steps() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let out = gt()
        .args(["formula", "lint"])
        .arg(&examples)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the 20-disk Hanoi is past the default cap"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("[F0040]"));
    let out = gt()
        .args(["formula", "lint", "--max-steps", "2000000"])
        .arg(&examples)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn diagnostics_on_very_long_lines_render_clipped() {
    let d = tempfile::tempdir().unwrap();
    // A title of 70,000 characters, then a problem after it on the same line.
    let long = "x".repeat(70_000);
    let f = write(
        d.path(),
        "long.formula.toml",
        &format!("formula = \"long\"\n[[steps]]\nid = \"a\"\ntitle = \"{long}\"; priority = 9\n"),
    );
    let o = gt().args(["formula", "lint"]).arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("long lines are clipped"), "{err}");
    assert!(
        err.len() < 5_000,
        "the snippet is clipped: {} bytes",
        err.len()
    );
    let o = gt()
        .args(["formula", "lint", "--format", "json"])
        .arg(&f)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\"line\": 4"), "{out}");
}

#[test]
fn sarif_gives_whole_file_problems_a_region() {
    let d = tempfile::tempdir().unwrap();
    let empty = write(d.path(), "empty.formula.toml", "");
    let binary = d.path().join("bin.formula.toml");
    std::fs::write(&binary, b"\xff\xfe\x00\x01").unwrap();
    let o = gt()
        .args(["formula", "lint", "--format", "sarif"])
        .arg(&empty)
        .arg(&binary)
        .output()
        .unwrap();
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"F0002") && codes.contains(&"F0003"),
        "{codes:?}"
    );
    for r in results {
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().is_some_and(|l| l >= 1), "{r}");
    }
}

#[test]
fn an_extends_diamond_resolves_each_formula_once() {
    // Two formulas per level, each extending both of the next level: 2^32
    // paths, 65 distinct steps. Memoized resolution makes this instant.
    let d = tempfile::tempdir().unwrap();
    let depth = 32;
    for i in 0..depth {
        for side in ["a", "b"] {
            let ext = if i + 1 < depth {
                format!("extends = [\"a{}\", \"b{}\"]\n", i + 1, i + 1)
            } else {
                String::new()
            };
            let text = format!(
                "formula = \"{side}{i}\"\n{ext}[[steps]]\nid = \"{side}{i}\"\ntitle = \"S\"\n"
            );
            write(d.path(), &format!("{side}{i}.formula.toml"), &text);
        }
    }
    let top = write(
        d.path(),
        "top.formula.toml",
        "formula = \"top\"\nextends = [\"a0\", \"b0\"]\n[[steps]]\nid = \"top\"\ntitle = \"T\"\n",
    );
    let o = gt().arg("cook").arg(&top).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let proto: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(proto["steps"].as_array().unwrap().len(), 2 * depth + 1);
}

#[test]
fn lint_dir_reports_symlink_loops_and_lints_each_real_directory_once() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("formulas");
    std::fs::create_dir_all(root.join("nested")).unwrap();
    write(
        &root,
        "a.formula.toml",
        "formula = \"a\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\n",
    );
    write(
        &root.join("nested"),
        "b.formula.toml",
        "formula = \"b\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\n",
    );
    // Two self-links hung the walk; a link to a sibling is an alias, not a loop.
    std::os::unix::fs::symlink(".", root.join("self1")).unwrap();
    std::os::unix::fs::symlink(".", root.join("self2")).unwrap();
    std::os::unix::fs::symlink("..", root.join("nested/up")).unwrap();
    std::os::unix::fs::symlink("nested", root.join("alias")).unwrap();
    let o = gt()
        .args(["formula", "lint", "--format", "json"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["files"], 2, "{v}");
    let loops: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "F0053")
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(loops.len(), 3, "{v}");
    for link in ["self1", "self2", "up"] {
        assert!(loops.iter().any(|f| f.ends_with(link)), "{link}: {v}");
    }
}

#[test]
fn conditions_the_runtime_cannot_evaluate_are_judged_and_explained() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "judged.formula.toml",
        r#"formula = "judged"

[[steps]]
id = "ask"
title = "Ask the session"

[[steps]]
id = "second"
title = "Ask again"
needs = ["ask"]
gate = { type = "conditional", condition = "no_response_1" }

[[steps]]
id = "sign"
title = "Sign off"
needs = ["second"]
gate = { type = "human", condition = "the notes read well" }

[[steps]]
id = "check"
title = "Check"
needs = ["sign"]
gate = { type = "conditional", condition = "sign.status == 'closed'" }

[[steps]]
id = "poll"
title = "Poll"
needs = ["check"]
[steps.loop]
until = "green"
max = 3
[[steps.loop.body]]
id = "look"
title = "Look"

[[steps]]
id = "ship"
title = "Ship"
needs = ["poll"]

[[compose.gate]]
before = "ship"
condition = "ready_to_ship"
"#,
    );
    let o = gt().arg("cook").arg(&f).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let proto: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let step = |path: &str| {
        proto["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"] == path)
            .unwrap_or_else(|| panic!("no step {path}: {proto}"))
            .clone()
    };
    assert_eq!(step("gate-second")["gate"]["judged_by"], "agent");
    assert_eq!(step("gate-sign")["gate"]["judged_by"], "human");
    assert!(step("gate-check")["gate"].get("judged_by").is_none());
    assert_eq!(step("ship")["runtime"]["gate"]["judged_by"], "agent");
    assert_eq!(step("ship")["runtime"]["gate"]["expr"]["kind"], "judged");
    let looped = proto["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["runtime"].get("loop").is_some())
        .unwrap_or_else(|| panic!("no loop step: {proto}"));
    assert_eq!(looped["runtime"]["loop"]["judged_by"], "agent");

    let explain = |step: &str| {
        let o = gt()
            .arg("cook")
            .arg(&f)
            .args(["--explain", step])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let second = explain("second");
    assert!(
        second.contains("condition `no_response_1` is judged by the agent working the molecule"),
        "{second}"
    );
    let sign = explain("sign");
    assert!(
        sign.contains("`the notes read well` is judged by a person"),
        "{sign}"
    );
    assert!(
        explain("check").contains("is evaluated by the runtime"),
        "check"
    );
    let ship = explain("ship");
    assert!(
        ship.contains("compose.gate condition `ready_to_ship` is judged by the agent"),
        "{ship}"
    );
}
