//! `gt completion` completes from the town: the script `gt completion bash`
//! prints is sourced in a real bash and its completion function called the
//! way bash calls it on TAB, in a town built with `gt install`, `gt rig add`
//! and `bd create`; every shell's script calls back into `gt`.

use std::path::Path;
use std::process::Command;

mod common;
use common::town::*;

/// The words bash offers for the command line `line` (the cursor at its
/// end; a trailing space starts a new word), run in `dir`.
fn bash_complete(dir: &Path, line: &str) -> Vec<String> {
    let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if line.ends_with(' ') {
        words.push(String::new());
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cur = words.last().cloned().unwrap_or_default();
    let prev = words
        .len()
        .checked_sub(2)
        .map(|i| words[i].clone())
        .unwrap_or_default();
    let script = format!(
        "source <('{gt}' completion bash) || exit 9\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_TYPE=9; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _clap_complete_gt gt '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        gt = GT,
        words = quoted.join(" "),
        cword = words.len() - 1,
    );
    let o = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .current_dir(dir)
        .env_remove("GT_TOWN")
        .env_remove("BEADS_DIR")
        .env_remove("BEADS_DB")
        .env_remove("COMPLETE")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bash completion of `{line}` failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn has(words: &[String], w: &str) -> bool {
    words.iter().any(|x| x == w)
}

#[test]
fn bash_completes_rigs_beads_agents_and_formulas_from_the_town() {
    let tt = setup();
    let town = &tt.town;
    let t = tempfile::tempdir().unwrap();
    let second = origin_repo(t.path(), "web", "main");
    ok(run(
        GT,
        town,
        town,
        &["--json", "rig", "add", "web", second.to_str().unwrap()],
    ));
    let bead = create(town, "Fix the login page");
    let closed = create(town, "Already done");
    ok(run(BD, town, town, &["--json", "close", &closed]));
    std::fs::create_dir_all(town.join(".beads/formulas")).unwrap();
    std::fs::write(
        town.join(".beads/formulas/ship-it.formula.toml"),
        "formula = \"ship-it\"\ntype = \"workflow\"\nversion = 1\n\n[[steps]]\nid = \"go\"\ntitle = \"Go\"\n",
    )
    .unwrap();

    // Subcommands still complete (the static words).
    assert!(has(&bash_complete(town, "gt sl"), "sling"));

    // Rig names (and addresses) for `gt sling BEAD <where>`; rig names for
    // `gt rig remove <name>`.
    let rigs = bash_complete(town, &format!("gt sling {bead} "));
    assert!(has(&rigs, "app") && has(&rigs, "web"), "{rigs:?}");
    assert!(has(&rigs, "mayor"), "{rigs:?}");
    assert!(has(
        &bash_complete(town, "gt sling --formula ship"),
        "ship-it"
    ));
    assert_eq!(bash_complete(town, "gt rig remove w"), ["web"]);

    // Bead ids (open ones) and formula names for a sling target.
    let targets = bash_complete(town, "gt sling ");
    assert!(has(&targets, &bead), "{targets:?}");
    assert!(
        !has(&targets, &closed),
        "closed beads are not offered: {targets:?}"
    );
    assert!(
        has(&targets, "ship-it"),
        "formulas on the search path: {targets:?}"
    );
    let prefix = &bead[..bead.len() - 1];
    assert!(has(
        &bash_complete(town, &format!("gt convoy status {prefix}")),
        &bead
    ));

    // Formula names for cook and formula show.
    assert!(has(&bash_complete(town, "gt cook ship"), "ship-it"));
    assert!(has(&bash_complete(town, "gt formula show "), "ship-it"));

    // Agent addresses (mail, nudge) and agent configs (--agent).
    let to = bash_complete(town, "gt mail send ");
    for a in ["mayor", "overseer", "app/witness", "web/refinery"] {
        assert!(has(&to, a), "{a} in {to:?}");
    }
    assert_eq!(bash_complete(town, "gt nudge web/w"), ["web/witness"]);
    let agents = bash_complete(town, &format!("gt sling {bead} app --agent "));
    assert!(has(&agents, "claude"), "{agents:?}");

    // Outside a town: no town words, no error.
    let nowhere = tempfile::tempdir().unwrap();
    assert!(bash_complete(nowhere.path(), "gt rig remove a").is_empty());
}

#[test]
fn every_shell_gets_a_script_that_calls_back_into_gt() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = Command::new(GT)
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(o.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(
            script.contains("COMPLETE") && script.contains(GT),
            "{shell} script calls `COMPLETE={shell} gt`: {script}"
        );
    }
    // The entry point the scripts call, asked directly as fish asks it.
    let tt = setup();
    let o = Command::new(GT)
        .args(["--", "gt", "rig", "status", ""])
        .current_dir(&tt.town)
        .env("COMPLETE", "fish")
        .env_remove("GT_TOWN")
        .output()
        .unwrap();
    assert!(o.status.success());
    let words: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect();
    assert!(has(&words, "app"), "{words:?}");
    assert!(
        words.iter().all(|w| w == "app" || w.starts_with("--")),
        "{words:?}"
    );
}
