//! One fixture per diagnostic code, each snapshotted in both the human and
//! the JSON rendering. Also checks that every code has a fixture and an
//! entry in docs/diagnostics.md.
//!
//! A case is a directory `tests/diagnostics/<CODE>-<name>/` holding
//! `case.formula.toml` (linted with the case directory as the search
//! path). With a `vars` file (one `key=value` a line) the case is cooked
//! with those vars instead. `GENERATE_*` markers build inputs that are too
//! big to commit.

use gastown::formula::api::CookOptions;
use gastown::formula::codes::Code;
use gastown::formula::compile;
use gastown::formula::diag::{render_human_all, to_json, Diagnostic};
use gastown::formula::library::{Env, SearchPath};
use gastown::formula::lint;
use gastown::formula::source::Sources;
use std::path::{Path, PathBuf};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics")
}

fn rel(p: &Path) -> PathBuf {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(p)
        .to_path_buf()
}

/// Run one case; returns the diagnostics and the sources they point into.
fn run_case(dir: &Path, scratch: &Path) -> (Vec<Diagnostic>, Sources) {
    let mut dir = rel(dir);
    if dir.join("GENERATE_LARGE").exists() {
        let f = std::fs::File::create(scratch.join("case.formula.toml")).unwrap();
        f.set_len(65 * 1024 * 1024).unwrap();
        dir = scratch.to_path_buf();
    }
    if dir.join("GENERATE_DEEP").exists() {
        for i in 0..40 {
            let text = format!(
                "formula = \"level{i}\"\nextends = [\"level{}\"]\n[[steps]]\nid = \"s{i}\"\ntitle = \"S{i}\"\n",
                i + 1
            );
            std::fs::write(scratch.join(format!("level{i}.formula.toml")), text).unwrap();
        }
        std::fs::write(
            scratch.join("case.formula.toml"),
            "formula = \"case\"\nextends = [\"level0\"]\n",
        )
        .unwrap();
        dir = scratch.to_path_buf();
    }
    if dir.join("GENERATE_SYMLINK_LOOP").exists() {
        // A directory that links back to itself, directly and from below.
        std::fs::copy(
            dir.join("case.formula.toml"),
            scratch.join("case.formula.toml"),
        )
        .unwrap();
        std::os::unix::fs::symlink(".", scratch.join("again")).unwrap();
        std::fs::create_dir(scratch.join("sub")).unwrap();
        std::os::unix::fs::symlink("..", scratch.join("sub/up")).unwrap();
        let walk = lint::walk_args(&[scratch.to_path_buf()]).unwrap();
        assert_eq!(walk.files, vec![scratch.join("case.formula.toml")]);
        let search = SearchPath::explicit(&[scratch.to_path_buf()]);
        let report = lint::lint_walk(&walk, &search, 1000);
        return (report.session.diags.clone(), report.session.sources.clone());
    }
    let search = SearchPath::explicit(&[dir.clone()]);
    let target = dir.join("case.formula.toml");
    if let Ok(vars) = std::fs::read_to_string(dir.join("vars")) {
        let vars = vars
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let opts = CookOptions {
            target: target.display().to_string(),
            search_path: Some(vec![dir.clone()]),
            cwd: std::env::current_dir().unwrap(),
            vars,
            bind_vars: true,
            max_steps: None,
        };
        let c = compile::compile(&opts, &Env::default());
        let diags = c.session.diags.clone();
        return (diags, c.session.sources.clone());
    }
    let report = lint::lint(&[target], &search);
    (report.session.diags.clone(), report.session.sources.clone())
}

fn redact(text: &str, scratch: &Path) -> String {
    text.replace(&scratch.display().to_string(), "<tmp>")
}

#[test]
fn every_code_has_a_fixture_snapshots_and_docs() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/diagnostics.md"))
            .expect("docs/diagnostics.md exists");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for code in Code::ALL {
        let c = code.as_str();
        assert!(
            docs.contains(&format!("## {c}")),
            "docs/diagnostics.md has no `## {c}` entry"
        );
        let dir = dirs
            .iter()
            .find(|d| d.file_name().unwrap().to_string_lossy().starts_with(c))
            .unwrap_or_else(|| panic!("no fixture directory for {c} under tests/diagnostics/"));
        let tmp = tempfile::tempdir().unwrap();
        let scratch = std::fs::canonicalize(tmp.path()).unwrap();
        let (diags, sources) = run_case(dir, &scratch);
        assert!(
            diags.iter().any(|d| d.code == *code),
            "fixture {} does not produce {c}; got {:?}",
            dir.display(),
            diags.iter().map(|d| d.code.as_str()).collect::<Vec<_>>()
        );
        let human = redact(&render_human_all(&diags, &sources, false), &scratch);
        let json: Vec<_> = diags.iter().map(|d| to_json(d, &sources)).collect();
        let json = redact(&serde_json::to_string_pretty(&json).unwrap(), &scratch);
        insta::assert_snapshot!(format!("{c}-human"), human);
        insta::assert_snapshot!(format!("{c}-json"), json);
    }
}
