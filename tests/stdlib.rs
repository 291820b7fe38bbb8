//! The embedded stdlib: every formula lints clean, says what it is for,
//! declares its vars, cooks, and is canonically formatted; the ones with
//! `run` steps run under `gt run` with the shell agent.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GT: &str = env!("CARGO_BIN_EXE_gt");

fn gt(dir: &Path, args: &[&str]) -> Output {
    Command::new(GT)
        .args(args)
        .current_dir(dir)
        .env_remove("BEADS_DIR")
        .env_remove("GT_TOWN")
        .env_remove("GT_FORMULA_PATH")
        .env_remove("GT_LEASE")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .stdin(Stdio::null())
        .output()
        .expect("run gt")
}

fn text(o: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdlib_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib-formulas");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".formula.toml"))
        .collect();
    files.sort();
    files
}

/// Values for a formula's required vars: the first enum value, else a word
/// that fits the usual patterns.
fn required_vars(proto: &serde_json::Value) -> Vec<String> {
    proto["vars"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["required"].as_bool() == Some(true))
        .map(|v| {
            let name = v["name"].as_str().unwrap();
            let value = v["enum"]
                .as_array()
                .and_then(|e| e.first())
                .and_then(|e| e.as_str())
                .unwrap_or(if v["pattern"].is_string() {
                    "1.2.3"
                } else {
                    "login"
                });
            format!("{name}={value}")
        })
        .collect()
}

#[test]
fn every_stdlib_formula_lints_cooks_and_documents_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let files = stdlib_files();
    assert!(files.len() >= 10, "the stdlib shrank: {files:?}");
    for f in &files {
        let path = f.to_str().unwrap();
        let lint = gt(tmp.path(), &["formula", "lint", path, "--format", "json"]);
        let report: serde_json::Value = serde_json::from_slice(&lint.stdout).unwrap();
        assert_eq!(report["summary"]["errors"], 0, "{path}: {}", text(&lint));
        let unexpected: Vec<_> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            // An aspect linted alone matches no step: that is expected.
            .filter(|d| d["code"] != "F0046")
            .collect();
        assert!(unexpected.is_empty(), "{path}: {unexpected:#?}");

        let cooked = gt(tmp.path(), &["cook", path]);
        assert_eq!(cooked.status.code(), Some(0), "{path}: {}", text(&cooked));
        let proto: serde_json::Value = serde_json::from_slice(&cooked.stdout).unwrap();
        let desc = proto["root"]["description"].as_str().unwrap_or_default();
        assert!(
            desc.len() > 40,
            "{path} needs a real description, has {desc:?}"
        );
        // Aspects and expansions are building blocks that take their steps from
        // the formula they are applied to; workflows declare their inputs.
        if proto["kind"] == "workflow" {
            assert!(
                !proto["vars"].as_array().unwrap().is_empty(),
                "{path} declares no vars"
            );
            let mut args = vec!["cook".to_string(), path.to_string()];
            for v in required_vars(&proto) {
                args.push("--var".into());
                args.push(v);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let bound = gt(tmp.path(), &args);
            assert_eq!(bound.status.code(), Some(0), "{path}: {}", text(&bound));
        }
    }
    let fmt = gt(
        tmp.path(),
        &[
            "formula",
            "fmt",
            "--check",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("stdlib-formulas")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(
        fmt.status.code(),
        Some(0),
        "stdlib is not canonically formatted: {}",
        text(&fmt)
    );
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// `ci-local` builds and tests a real project with the shell agent, and
/// fails when the project's tests fail.
#[test]
fn ci_local_runs_a_project_with_the_shell_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    git(d, &["init", "-q"]);
    std::fs::write(
        d.join("Makefile"),
        "all:\n\tprintf 'int main(void){return 0;}\\n' > /dev/null\n\ntest:\n\ttest \"$$(cat answer.txt)\" = 42\n",
    )
    .unwrap();
    std::fs::write(d.join("answer.txt"), "42\n").unwrap();
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "init"]);
    let o = gt(d, &["--json", "run", "ci-local", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"completed\""),
        "{}",
        text(&o)
    );

    std::fs::write(d.join("answer.txt"), "41\n").unwrap();
    git(d, &["commit", "-qam", "break the test"]);
    let o = gt(d, &["run", "ci-local", "--jobs", "2"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "a failing test must fail the run: {}",
        text(&o)
    );
}
