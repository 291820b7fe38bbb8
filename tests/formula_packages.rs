//! Formula packages end to end: a package repository with tags served over
//! git's file:// transport, installed by URL and tag into a `bd init`
//! project, locked, verified, tampered with, updated, reproduced from the
//! lock elsewhere, and every bad input refused with nothing half-installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GT: &str = env!("CARGO_BIN_EXE_gt");
const BD: &str = env!("CARGO_BIN_EXE_bd");

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        World { _tmp: tmp, root }
    }

    fn cmd(&self, bin: &str, dir: &Path, args: &[&str]) -> Output {
        Command::new(bin)
            .args(args)
            .current_dir(dir)
            .env("HOME", self.root.join("home"))
            .env("GT_PACKAGE_CACHE", self.root.join("cache"))
            .env("BD_ACTOR", "tester")
            .env_remove("GT_TOWN")
            .env_remove("BEADS_DIR")
            .env_remove("GT_FORMULA_PATH")
            .env_remove("GT_ALLOW_MODIFIED")
            .stdin(Stdio::null())
            .output()
            .expect("run")
    }

    fn gt(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(GT, dir, args)
    }

    /// A project with a store, made the way a user makes one.
    fn project(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
        ok(self.cmd(BD, &dir, &["init", "--prefix", "pj"]));
        dir
    }
}

fn text(o: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: Output) -> String {
    assert_ne!(
        o.status.code(),
        Some(0),
        "expected a failure:\n{}",
        text(&o)
    );
    assert_ne!(o.status.code(), Some(3), "internal error:\n{}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"test package\"\nlicense = \"MIT\"\n{extra}")
}

fn formula(name: &str, step_title: &str) -> String {
    format!(
        "formula = \"{name}\"\ndescription = \"A test workflow\"\nversion = 1\n\n[vars.target]\ndescription = \"what to work on\"\ndefault = \"everything\"\n\n[[steps]]\nid = \"look\"\ntitle = \"{step_title} {{{{target}}}}\"\n\n[[steps]]\nid = \"fix\"\ntitle = \"Fix {{{{target}}}}\"\nneeds = [\"look\"]\n"
    )
}

/// A package repository with one commit tagged `tag`.
fn package_repo(w: &World, name: &str) -> PathBuf {
    let dir = w.root.join(format!("{name}-repo"));
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q"]);
    std::fs::write(
        dir.join("formula-package.toml"),
        manifest(name, "1.0.0", "formulas = [\"review\"]\n"),
    )
    .unwrap();
    std::fs::write(dir.join("review.formula.toml"), formula("review", "Read")).unwrap();
    std::fs::write(dir.join("README.md"), "not installed\n").unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "v1"]);
    git(&dir, &["tag", "v1.0.0"]);
    dir
}

fn url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

fn lock(project: &Path) -> toml::Value {
    let text = std::fs::read_to_string(project.join(".beads/formulas.lock")).expect("lock written");
    toml::from_str(&text).unwrap()
}

#[test]
fn install_lock_verify_tamper_update_and_reproduce() {
    let w = World::new();
    let repo = package_repo(&w, "review-kit");
    let proj = w.project("app");
    let src = format!("{}@v1.0.0", url(&repo));

    let out = ok(w.gt(&proj, &["formula", "install", &src]));
    assert!(out.contains("installed review-kit 1.0.0"), "{out}");
    let l = lock(&proj);
    let pkg = &l["package"][0];
    assert_eq!(pkg["name"].as_str(), Some("review-kit"));
    assert_eq!(pkg["ref"].as_str(), Some("v1.0.0"));
    assert_eq!(
        pkg["commit"].as_str().unwrap(),
        git(&repo, &["rev-parse", "v1.0.0"])
    );
    let files = pkg["files"].as_table().unwrap();
    assert!(
        files.contains_key("review.formula.toml") && files.contains_key("formula-package.toml")
    );
    assert!(
        !files.contains_key("README.md"),
        "only package files are installed"
    );

    // Both names work; pour makes beads from the package's formula.
    ok(w.gt(&proj, &["cook", "review-kit/review"]));
    ok(w.gt(&proj, &["cook", "review"]));
    // A project formula extends the package's formula by its qualified name.
    std::fs::write(
        proj.join(".beads/formulas/strict.formula.toml"),
        "formula = \"strict\"\ndescription = \"Review, then sign off\"\nversion = 1\nextends = [\"review-kit/review\"]\n\n[[steps]]\nid = \"sign-off\"\ntitle = \"Sign off\"\nneeds = [\"fix\"]\n",
    )
    .unwrap();
    let tree = ok(w.gt(&proj, &["cook", "strict", "--format", "tree"]));
    assert!(tree.contains("look") && tree.contains("sign-off"), "{tree}");
    std::fs::remove_file(proj.join(".beads/formulas/strict.formula.toml")).unwrap();
    let poured = ok(w.cmd(BD, &proj, &["mol", "pour", "review-kit/review", "--json"]));
    assert!(poured.contains("\"created\": 3"), "{poured}");
    let issues = ok(w.cmd(BD, &proj, &["list"]));
    assert!(issues.contains("Read everything"), "{issues}");
    let listed = ok(w.gt(&proj, &["formula", "list", "--installed"]));
    assert!(
        listed.contains("review-kit 1.0.0") && listed.contains("review-kit/review"),
        "{listed}"
    );
    assert!(ok(w.gt(&proj, &["formula", "verify"])).contains("matches"));

    // Tamper: verify names the file; cook and pour refuse it with both hashes.
    let installed = proj.join(".beads/formulas/packages/review-kit/review.formula.toml");
    let original = std::fs::read_to_string(&installed).unwrap();
    std::fs::write(&installed, original.replace("Read", "Exfiltrate")).unwrap();
    let o = w.gt(&proj, &["formula", "verify"]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout.contains("review.formula.toml") && stdout.contains("modified"),
        "{stdout}"
    );
    let err = fails(w.gt(&proj, &["cook", "review-kit/review"]));
    assert!(
        err.contains("no longer matches") && err.contains("locked sha256"),
        "{err}"
    );
    assert!(err.contains("--allow-modified"), "{err}");
    let err = fails(w.cmd(BD, &proj, &["mol", "pour", "review"]));
    assert!(err.contains("no longer matches"), "{err}");
    ok(w.gt(&proj, &["--allow-modified", "cook", "review-kit/review"]));
    // Reinstalling from the lock restores the reviewed file.
    ok(w.gt(&proj, &["formula", "install", "--locked"]));
    assert_eq!(std::fs::read_to_string(&installed).unwrap(), original);

    // A second machine reproduces the lock exactly.
    let other = w.project("other");
    std::fs::copy(
        proj.join(".beads/formulas.lock"),
        other.join(".beads/formulas.lock"),
    )
    .unwrap();
    ok(w.gt(&other, &["formula", "install", "--locked"]));
    assert_eq!(lock(&other), lock(&proj));
    assert_eq!(
        std::fs::read(other.join(".beads/formulas/packages/review-kit/review.formula.toml"))
            .unwrap(),
        original.as_bytes()
    );

    // Publish v1.1.0; update moves the lock.
    std::fs::write(repo.join("review.formula.toml"), formula("review", "Study")).unwrap();
    std::fs::write(
        repo.join("formula-package.toml"),
        manifest("review-kit", "1.1.0", "formulas = [\"review\"]\n"),
    )
    .unwrap();
    git(&repo, &["commit", "-qam", "v1.1"]);
    git(&repo, &["tag", "v1.1.0"]);
    let out = ok(w.gt(&proj, &["formula", "update", "review-kit"]));
    assert!(out.contains("1.0.0 -> 1.1.0"), "{out}");
    let l = lock(&proj);
    assert_eq!(l["package"][0]["version"].as_str(), Some("1.1.0"));
    assert_eq!(l["package"][0]["ref"].as_str(), Some("v1.1.0"));
    assert_eq!(
        l["package"][0]["commit"].as_str().unwrap(),
        git(&repo, &["rev-parse", "v1.1.0"])
    );
    assert!(ok(w.gt(&proj, &["cook", "review", "--format", "tree"])).contains("Study"));

    // The publisher moves a tag: --locked refuses instead of installing other files.
    std::fs::write(repo.join("review.formula.toml"), formula("review", "Moved")).unwrap();
    git(&repo, &["commit", "-qam", "retag"]);
    git(&repo, &["tag", "-f", "v1.1.0"]);
    std::fs::copy(
        proj.join(".beads/formulas.lock"),
        other.join(".beads/formulas.lock"),
    )
    .unwrap();
    let err = fails(w.gt(&other, &["formula", "install", "--locked"]));
    assert!(err.contains("source moved"), "{err}");

    // Remove.
    ok(w.gt(&proj, &["formula", "remove", "review-kit"]));
    assert!(!proj.join(".beads/formulas/packages/review-kit").exists());
    assert!(lock(&proj).get("package").is_none());
}

#[test]
fn installs_from_folders_tarballs_and_the_cache_when_offline() {
    let w = World::new();
    let repo = package_repo(&w, "kit");
    let proj = w.project("app");
    // A plain folder.
    ok(w.gt(&proj, &["formula", "install", repo.to_str().unwrap()]));
    assert!(proj
        .join(".beads/formulas/packages/kit/review.formula.toml")
        .is_file());
    // A .tar.gz with the package inside one top-level folder.
    let tarball = w.root.join("kit.tar.gz");
    let st = Command::new("tar")
        .args([
            "-czf",
            tarball.to_str().unwrap(),
            "-C",
            w.root.to_str().unwrap(),
            "kit-repo",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let proj2 = w.project("app2");
    ok(w.gt(&proj2, &["formula", "install", tarball.to_str().unwrap()]));
    ok(w.gt(&proj2, &["cook", "kit/review"]));
    // Git: fetched once, then installable with the origin gone.
    let proj3 = w.project("app3");
    ok(w.gt(
        &proj3,
        &["formula", "install", &format!("{}@v1.0.0", url(&repo))],
    ));
    std::fs::rename(&repo, w.root.join("gone")).unwrap();
    let proj4 = w.project("app4");
    let o = w.gt(
        &proj4,
        &["formula", "install", &format!("{}@v1.0.0", url(&repo))],
    );
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(stderr.contains("cached copy"), "{stderr}");
}

/// Every bad package is refused with the file and the fix, and leaves the
/// tier exactly as it was.
#[test]
fn bad_packages_are_refused_and_nothing_is_half_installed() {
    let w = World::new();
    let proj = w.project("app");
    let good = package_repo(&w, "good");
    ok(w.gt(&proj, &["formula", "install", good.to_str().unwrap()]));
    let before_lock = std::fs::read_to_string(proj.join(".beads/formulas.lock")).unwrap();
    let folder = |name: &str, manifest_text: &str, formulas: &[(&str, &str)]| {
        let d = w.root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("formula-package.toml"), manifest_text).unwrap();
        for (f, t) in formulas {
            std::fs::write(d.join(format!("{f}.formula.toml")), t).unwrap();
        }
        d
    };
    let review = formula("review", "Read");
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            folder("unknown-key", &manifest("uk", "1.0.0", "licence = \"MIT\"\n"), &[("review", &review)]),
            "did you mean `package.license`",
        ),
        (
            folder("missing-formula", &manifest("mf", "1.0.0", "formulas = [\"reveiw\"]\n"), &[("review", &review)]),
            "there is no `reveiw.formula.toml`; did you mean `review`",
        ),
        (
            folder("cycle-a", &manifest("cycle-a", "1.0.0", "[dependencies]\ncycle-b = { source = \"cycle-b\", version = \"^1\" }\n"), &[("a", &formula("a", "A"))]),
            "dependency cycle: cycle-a -> cycle-b -> cycle-a",
        ),
        (
            folder("conflict", &manifest("conflict", "1.0.0", "[dependencies]\nneeds-new = { source = \"needs-new\", version = \"^1\" }\nold-base = { source = \"old-base\", version = \"^1\" }\n"), &[("c", &formula("c", "C"))]),
            "version conflict for `base`",
        ),
        (
            folder("broken", &manifest("broken", "1.0.0", ""), &[("bad", "formula = \"bad\"\nversion = 1\n[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"nope\"]\n")]),
            "has formulas with errors",
        ),
    ];
    folder(
        "cycle-b",
        &manifest(
            "cycle-b",
            "1.0.0",
            "[dependencies]\ncycle-a = { source = \"cycle-a\", version = \"^1\" }\n",
        ),
        &[("b", &formula("b", "B"))],
    );
    folder(
        "base-v1",
        &manifest("base", "1.0.0", ""),
        &[("base", &formula("base", "Base"))],
    );
    folder(
        "base-v2",
        &manifest("base", "2.0.0", ""),
        &[("base", &formula("base", "Base"))],
    );
    folder(
        "needs-new",
        &manifest(
            "needs-new",
            "1.0.0",
            "[dependencies]\nbase = { source = \"base-v2\", version = \"^2\" }\n",
        ),
        &[("nn", &formula("nn", "N"))],
    );
    folder(
        "old-base",
        &manifest(
            "old-base",
            "1.0.0",
            "[dependencies]\nbase = { source = \"base-v1\", version = \"^1\" }\n",
        ),
        &[("ob", &formula("ob", "O"))],
    );
    for (dir, expected) in cases {
        let err = fails(w.gt(&proj, &["formula", "install", dir.to_str().unwrap()]));
        assert!(
            err.contains(expected),
            "{}: wanted `{expected}` in:\n{err}",
            dir.display()
        );
        assert_eq!(
            std::fs::read_to_string(proj.join(".beads/formulas.lock")).unwrap(),
            before_lock
        );
        let installed: Vec<_> = std::fs::read_dir(proj.join(".beads/formulas/packages"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            installed,
            vec!["good".to_string()],
            "after {}",
            dir.display()
        );
    }
    let staging_left = std::fs::read_dir(proj.join(".beads/formulas"))
        .unwrap()
        .any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".staging")
        });
    assert!(!staging_left, "a staging directory was left behind");
}

#[test]
fn scaffold_package_init_and_fmt() {
    let w = World::new();
    let proj = w.project("app");
    let out = ok(w.gt(&proj, &["formula", "new", "triage-flow"]));
    assert!(out.contains("triage-flow.formula.toml"), "{out}");
    let lint = w.gt(&proj, &["formula", "lint", "--deny", "warnings"]);
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint));
    ok(w.gt(&proj, &["cook", "triage-flow", "--var", "target=login"]));
    fails(w.gt(&proj, &["formula", "new", "triage-flow"]));
    assert_eq!(
        w.gt(&proj, &["formula", "fmt", "--check"]).status.code(),
        Some(0)
    );

    let f = proj.join(".beads/formulas/triage-flow.formula.toml");
    let text_before = std::fs::read_to_string(&f).unwrap();
    std::fs::write(
        &f,
        text_before.replace("version = 1", "version=1   # keep me"),
    )
    .unwrap();
    let o = w.gt(&proj, &["formula", "fmt", "--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("would reformat"));
    ok(w.gt(&proj, &["formula", "fmt"]));
    let after = std::fs::read_to_string(&f).unwrap();
    assert!(after.contains("version = 1 # keep me"), "{after}");
    assert_eq!(
        w.gt(&proj, &["formula", "fmt", "--check"]).status.code(),
        Some(0)
    );

    let pkg_dir = proj.join(".beads/formulas");
    ok(w.gt(
        &proj,
        &[
            "formula",
            "package",
            "init",
            pkg_dir.to_str().unwrap(),
            "--name",
            "mine",
        ],
    ));
    let m = std::fs::read_to_string(pkg_dir.join("formula-package.toml")).unwrap();
    assert!(
        m.contains("name = \"mine\"") && m.contains("triage-flow"),
        "{m}"
    );
    // The folder is now an installable package.
    let other = w.project("other");
    ok(w.gt(&other, &["formula", "install", pkg_dir.to_str().unwrap()]));
    ok(w.gt(&other, &["cook", "mine/triage-flow", "--var", "target=x"]));
}

mod common;

/// A town installs a package into its tier, and `gt sling pkg/formula RIG`
/// pours the package's formula onto a polecat's hook.
#[test]
fn sling_pours_a_package_formula_in_a_town() {
    use common::town::{install_fake_polecat_agent, install_town, ok as ok_json, origin_repo, run};
    let w = World::new();
    let origin = origin_repo(&w.root, "app", "main");
    let town = install_town(&w.root, &[("app", origin.to_str().unwrap())]);
    install_fake_polecat_agent(&town, "#!/bin/sh\nexit 0\n");
    let repo = package_repo(&w, "review-kit");
    let o = run(
        GT,
        &town,
        &town,
        &["formula", "install", "--town", repo.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(town.join(".beads/formulas.lock").is_file());
    let v = ok_json(run(
        GT,
        &town,
        &town,
        &["--json", "sling", "review-kit/review", "app", "--no-start"],
    ));
    assert_eq!(v["poured"], true, "{v}");
    let bead = v["bead"].as_str().unwrap();
    let shown = run(BD, &town, &town, &["show", &format!("{bead}.look")]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("Read everything"),
        "{}",
        text(&shown)
    );
    // Tampering is refused at sling too.
    let f = town.join(".beads/formulas/packages/review-kit/review.formula.toml");
    let t = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, t.replace("Read", "Leak")).unwrap();
    let o = run(
        GT,
        &town,
        &town,
        &["sling", "review-kit/review", "app", "--no-start"],
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no longer matches"),
        "{}",
        text(&o)
    );
}
