//! Every corpus formula cooks; its protomolecule is snapshotted as a tree
//! so that compiler changes show up in review.

mod common;
use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::library::Env;
use gastown::formula::lint;
use gastown::formula::render;

#[test]
fn corpus_tree_snapshots() {
    let Some(root) = common::shared_dir("corpus") else {
        eprintln!("skipped: the formula corpus is not at ../shared/corpus");
        return;
    };
    for repo in ["gastown", "beads"] {
        let dir = root.join(repo);
        for file in lint::collect_files(std::slice::from_ref(&dir)).unwrap() {
            let opts = CookOptions {
                target: file.display().to_string(),
                search_path: Some(vec![dir.clone()]),
                cwd: std::env::current_dir().unwrap(),
                ..CookOptions::default()
            };
            let c = compile::compile(&opts, &Env::default());
            let proto = c
                .proto
                .unwrap_or_else(|| panic!("{} does not cook", file.display()));
            let stem = file
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".formula.toml", "");
            insta::assert_snapshot!(format!("{repo}__{stem}"), render::tree(&proto));
        }
    }
}

#[test]
fn shiny_enterprise_expands_rule_of_five_in_place() {
    let Some(dir) = common::shared_dir("corpus").map(|c| c.join("gastown")) else {
        eprintln!("skipped: the formula corpus is not at ../shared/corpus");
        return;
    };
    let opts = CookOptions {
        target: "shiny-enterprise".into(),
        search_path: Some(vec![dir]),
        cwd: std::env::current_dir().unwrap(),
        ..CookOptions::default()
    };
    let p = compile::compile(&opts, &Env::default())
        .proto
        .expect("cooks");
    let steps: Vec<_> = p.steps().collect();
    let paths: Vec<&str> = steps.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "design",
            "implement.draft",
            "implement.refine-1",
            "implement.refine-2",
            "implement.refine-3",
            "implement.refine-4",
            "review",
            "test",
            "submit"
        ]
    );
    let deps: Vec<_> = p.deps().collect();
    let review_needs: Vec<&str> = deps
        .iter()
        .filter(|d| d.from == "shiny-enterprise.review" && d.kind.as_str() == "blocks")
        .map(|d| d.to.as_str())
        .collect();
    assert_eq!(review_needs, ["shiny-enterprise.implement.refine-4"]);
    assert!(steps[1].provenance.chain[0].contains("compose.expand rule 1 of `shiny-enterprise`"));
}
