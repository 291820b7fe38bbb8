//! Var values are data in every shell context: injection payloads go
//! through `gt run FORMULA --var` and through `bd mol pour` + `gt run ID`,
//! for every quoting style, and must arrive byte-identical without running
//! anything (no `PWNED` file anywhere).

use std::path::Path;
use std::process::{Command, Output, Stdio};

const GT: &str = env!("CARGO_BIN_EXE_gt");
const BD: &str = env!("CARGO_BIN_EXE_bd");

const PAYLOADS: &[&str] = &[
    "$(touch PWNED)",
    "`touch PWNED`",
    "; touch PWNED",
    "a\ntouch PWNED\nb",
    "x'; touch PWNED; echo '",
    "x\"; touch PWNED; echo \"",
    "it's \"both\" 'kinds'",
    "EOF\ntouch PWNED\nEOF",
    "\\$(touch PWNED)\\",
    "$((1+1)) ${HOME} * ~ !x",
    "\n\tindented\n",
    "-n",
    "",
    "é ü 字",
];

/// A quoting style: its name, a `run` template writing to `OUT/<style>`,
/// and the content expected there for payload P.
type Style = (&'static str, &'static str, fn(&str) -> String);

fn styles() -> Vec<Style> {
    vec![
        ("unquoted", "printf '%s' {{x}} > OUT/unquoted", |p| p.into()),
        ("double", "printf '%s' \"{{x}}\" > OUT/double", |p| p.into()),
        ("single", "printf '%s' '{{x}}' > OUT/single", |p| p.into()),
        (
            "mixed",
            "printf '%s' pre{{x}}\"mid{{x}}\"'q{{x}}' > OUT/mixed",
            |p| format!("pre{p}mid{p}q{p}"),
        ),
        ("heredoc", "cat > OUT/heredoc <<EOF\n{{x}}\nEOF\n", |p| {
            format!("{p}\n")
        }),
        (
            "heredoc_tabs",
            "cat > OUT/heredoc_tabs <<-EOF\n\t{{x}} end\n\tEOF\n",
            |p| format!("{p} end\n"),
        ),
        ("env", "printf '%s' \"$X\" > OUT/env", |p| p.into()),
        (
            "subst",
            "printf '%s' \"$(printf '%s' {{x}})\" > OUT/subst",
            |p| p.trim_end_matches('\n').into(),
        ),
        ("comment", "touch OUT/comment # {{x}}", |_| String::new()),
    ]
}

fn formula(dir: &Path, out: &Path) -> std::path::PathBuf {
    let mut s = String::from(
        "formula = \"payload\"\ntype = \"workflow\"\nversion = 1\n\n[vars.x]\ndescription = \"the payload\"\n",
    );
    for (style, run, _) in styles() {
        let run = run.replace("OUT", &out.display().to_string());
        s += &format!(
            "\n[[steps]]\nid = \"{style}\"\ntitle = \"Write {style}\"\nrun = '''{run}'''\n"
        );
    }
    let p = dir.join("payload.formula.toml");
    std::fs::write(&p, s).unwrap();
    p
}

fn cmd(bin: &str, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .env_remove("GT_LEASE")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .stdin(Stdio::null())
        .output()
        .expect("run binary")
}

fn text(o: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn pwned(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "PWNED") {
                found.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    found
}

fn check_outputs(payload: &str, out: &Path, how: &str) {
    for (style, _, expect) in styles() {
        let got = std::fs::read(out.join(style))
            .unwrap_or_else(|e| panic!("{how}: {style} wrote nothing for {payload:?}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            expect(payload),
            "{how}: style {style}, payload {payload:?}"
        );
    }
}

#[test]
fn payloads_arrive_verbatim_through_gt_run_and_bd_mol_pour() {
    let mut tried = 0;
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let out = d.join("out");
        std::fs::create_dir(&out).unwrap();
        let f = formula(d, &out);
        let var = format!("x={payload}");

        let o = cmd(
            GT,
            d,
            &["--json", "run", "-q", f.to_str().unwrap(), "--var", &var],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "payload {i} {payload:?}: {}",
            text(&o)
        );
        check_outputs(payload, &out, "gt run");
        assert_eq!(
            pwned(d),
            Vec::<std::path::PathBuf>::new(),
            "gt run {payload:?}"
        );

        std::fs::remove_dir_all(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
        let o = cmd(
            BD,
            d,
            &["mol", "pour", f.to_str().unwrap(), "--var", &var, "--json"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let poured: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let root = poured["new_epic_id"].as_str().unwrap();
        let o = cmd(GT, d, &["--json", "run", "-q", root]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        check_outputs(payload, &out, "bd mol pour");
        assert_eq!(
            pwned(d),
            Vec::<std::path::PathBuf>::new(),
            "pour {payload:?}"
        );
        tried += 1;
    }
    eprintln!(
        "{tried} payloads x {} quoting styles x 2 paths, no PWNED",
        styles().len()
    );
}

#[test]
fn unsafe_placements_are_refused_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for run in [
        "sh -c 'echo {{x}}'",
        "bash -c \"echo {{x}}\"",
        "eval echo {{x}}",
        "echo `echo {{x}}`",
        "cat <<'EOF'\n{{x}}\nEOF\n",
        "python3 -c 'print({{x}})'",
    ] {
        let f = d.join("bad.formula.toml");
        std::fs::write(
            &f,
            format!("formula = \"bad\"\n[vars.x]\ndescription = \"x\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\nrun = '''{run}'''\n"),
        )
        .unwrap();
        let o = cmd(
            GT,
            d,
            &["run", f.to_str().unwrap(), "--var", "x=$(touch PWNED)"],
        );
        assert_ne!(o.status.code(), Some(0), "{run}: {}", text(&o));
        assert!(text(&o).contains("F0048"), "{run}: {}", text(&o));
        let o = cmd(GT, d, &["formula", "lint", f.to_str().unwrap()]);
        assert!(text(&o).contains("F0048"), "{run}: {}", text(&o));
        assert!(pwned(d).is_empty());
    }
}

#[test]
fn values_refused_at_bind_time_point_at_their_own_code() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for (run, value) in [
        ("echo $(( {{x}} + 1 ))", "x=abc"),
        // `home` has no environment variable to carry the value.
        ("cat <<EOF\n{{home}}\nEOF\n", "home=a\nEOF\nb"),
    ] {
        let f = d.join("bind.formula.toml");
        std::fs::write(
            &f,
            format!("formula = \"bind\"\n[vars.x]\ndescription = \"x\"\n[vars.home]\ndescription = \"h\"\n[[steps]]\nid = \"s\"\ntitle = \"S\"\nrun = '''{run}'''\n"),
        )
        .unwrap();
        let o = cmd(GT, d, &["cook", f.to_str().unwrap(), "--var", value]);
        let out = text(&o);
        assert_ne!(o.status.code(), Some(0), "{run}: {out}");
        assert!(out.contains("[F0031]"), "{run}: {out}");
        assert!(out.contains("diagnostics.md#f0031"), "{run}: {out}");
        assert!(!out.contains("F0048"), "{run}: {out}");
    }
}
