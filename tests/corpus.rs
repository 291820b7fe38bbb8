//! Every formula in ../shared/corpus lints with no errors and cooks to a
//! byte-identical protomolecule twice in a row. The corpus is test data
//! that lives beside the checkout: without it these tests print why they
//! skipped (`.ci/run` refuses to run without it, so CI always runs them).

mod common;
use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::diag::has_errors;
use gastown::formula::library::{Env, SearchPath};
use gastown::formula::lint;
use std::path::{Path, PathBuf};

/// The corpus folders, or empty (after saying so) when `../shared` is absent.
pub fn corpus_dirs() -> Vec<PathBuf> {
    let Some(root) = common::shared_dir("corpus") else {
        eprintln!(
            "skipped: the formula corpus is not at ../shared/corpus (CI needs ../shared beside the checkout)"
        );
        return Vec::new();
    };
    vec![root.join("gastown"), root.join("beads")]
}

fn formulas(dir: &Path) -> Vec<PathBuf> {
    lint::collect_files(&[dir.to_path_buf()]).unwrap()
}

#[test]
fn corpus_lints_without_errors() {
    for dir in corpus_dirs() {
        let files = formulas(&dir);
        assert!(
            files.len() >= 5,
            "too few corpus files in {}",
            dir.display()
        );
        let report = lint::lint(&files, &SearchPath::explicit(std::slice::from_ref(&dir)));
        let errors: Vec<String> = report
            .diagnostics()
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.code.as_str(), d.message))
            .collect();
        assert!(
            errors.is_empty(),
            "corpus errors in {}: {errors:#?}",
            dir.display()
        );
        // Keys that real formulas carry must load without noise.
        let unknown: Vec<String> = report
            .diagnostics()
            .iter()
            .filter(|d| d.code.as_str() == "F0006" || d.code.as_str() == "F0007")
            .map(|d| d.message.clone())
            .collect();
        assert!(
            unknown.is_empty(),
            "unknown-key noise on the corpus: {unknown:?}"
        );
    }
}

#[test]
fn corpus_cooks_deterministically() {
    for dir in corpus_dirs() {
        for file in formulas(&dir) {
            let opts = CookOptions {
                target: file.display().to_string(),
                search_path: Some(vec![dir.clone()]),
                cwd: std::env::current_dir().unwrap(),
                ..CookOptions::default()
            };
            let first = compile::compile(&opts, &Env::default());
            assert!(
                !has_errors(first.diagnostics()),
                "{} does not cook: {:?}",
                file.display(),
                first.diagnostics()
            );
            let a = first.proto.expect("proto").to_json();
            let b = compile::compile(&opts, &Env::default())
                .proto
                .expect("proto")
                .to_json();
            assert_eq!(a, b, "{} cooks differently twice", file.display());
        }
    }
}

#[test]
fn shiny_enterprise_inherits_shiny() {
    let Some(dir) = corpus_dirs().first().cloned() else {
        return;
    };
    let opts = CookOptions {
        target: "shiny".into(),
        search_path: Some(vec![dir]),
        cwd: std::env::current_dir().unwrap(),
        ..CookOptions::default()
    };
    let proto = compile::compile(&opts, &Env::default())
        .proto
        .expect("shiny cooks");
    let ids: Vec<String> = proto.steps().map(|s| s.path.clone()).collect();
    assert_eq!(ids, ["design", "implement", "review", "test", "submit"]);
    assert_eq!(proto.sources.len(), 1);
}

/// Every formula under `$GT_REAL_FORMULAS` (a directory, walked
/// recursively; each formula's own directory is its search path, then the
/// stdlib) cooks, twice to the same bytes. Point it at the formulas that
/// Gas Town and beads ship (`internal/formula/formulas`, `.beads/formulas`,
/// `examples/formulas`) exported from their repositories; skipped when unset.
#[test]
fn every_formula_in_gt_real_formulas_cooks() {
    let Some(root) = std::env::var_os("GT_REAL_FORMULAS") else {
        eprintln!("skipped: set GT_REAL_FORMULAS to a directory of formulas to cook them all");
        return;
    };
    let files = formulas(Path::new(&root));
    assert!(!files.is_empty(), "no formulas under {root:?}");
    let mut failed = Vec::new();
    for file in &files {
        let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let opts = CookOptions {
            target: file.display().to_string(),
            search_path: Some(vec![dir.clone(), PathBuf::from("@stdlib")]),
            cwd: dir,
            ..Default::default()
        };
        let first = compile::compile(&opts, &Env::default());
        match first.proto {
            Some(p) => {
                let again = compile::compile(&opts, &Env::default()).proto;
                assert_eq!(
                    Some(p.to_json()),
                    again.map(|a| a.to_json()),
                    "{} cooks differently twice",
                    file.display()
                );
            }
            None => failed.push(format!(
                "{}:\n{}",
                file.display(),
                gastown::formula::diag::render_human_all(
                    first.diagnostics(),
                    &first.session.sources,
                    false
                )
            )),
        }
    }
    eprintln!(
        "real formulas: {}/{} cooked",
        files.len() - failed.len(),
        files.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
