//! A town for integration tests: install, a rig from a local repo, and
//! helpers to run `gt`/`bd` against it.
#![allow(dead_code)]

use gastown::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const GT: &str = env!("CARGO_BIN_EXE_gt");
pub const BD: &str = env!("CARGO_BIN_EXE_bd");

pub fn run(bin: &str, dir: &Path, town: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("GT_TOWN", town)
        .env_remove("BEADS_DIR")
        .env_remove("GT_LEASE")
        .env_remove("GT_RIG")
        .env_remove("GT_POLECAT")
        .env("BD_SYNCHRONOUS", "NORMAL")
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

pub fn text(o: &Output) -> String {
    format!(
        "code {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn ok(o: Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

/// `git args` in `dir` (real git, a fixed identity); panics with git's
/// message on failure. Returns stdout.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .output()
        .expect("run git");
    assert!(
        o.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A working repository `<dir>/src-repo` with one commit (for `gt run`,
/// which works in the repository it stands in).
pub fn source_repo(dir: &Path) -> PathBuf {
    let src = dir.join("src-repo");
    std::fs::create_dir_all(&src).unwrap();
    git_in(&src, &["init", "-q", "-b", "main"]);
    std::fs::write(src.join("README"), "app\n").unwrap();
    git_in(&src, &["add", "."]);
    git_in(&src, &["commit", "-qm", "initial"]);
    src
}

/// A bare origin `<dir>/<name>.git` whose default branch is `branch`, with
/// one commit holding `README` and `base.txt`, made with real git.
pub fn origin_repo(dir: &Path, name: &str, branch: &str) -> PathBuf {
    let seed = dir.join(format!("{name}-seed"));
    std::fs::create_dir_all(&seed).unwrap();
    git_in(&seed, &["init", "-q", "-b", branch]);
    std::fs::write(seed.join("README"), "app\n").unwrap();
    std::fs::write(seed.join("base.txt"), "base\n").unwrap();
    git_in(&seed, &["add", "."]);
    git_in(&seed, &["commit", "-qm", "initial"]);
    let origin = dir.join(format!("{name}.git"));
    git_in(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            origin.to_str().unwrap(),
        ],
    );
    std::fs::remove_dir_all(&seed).unwrap();
    origin
}

/// `gt install <dir>/town`, then `gt rig add NAME URL` for each rig.
pub fn install_town(dir: &Path, rigs: &[(&str, &str)]) -> PathBuf {
    let town = dir.join("town");
    ok(run(
        GT,
        dir,
        &town,
        &["--json", "install", town.to_str().unwrap()],
    ));
    for (name, url) in rigs {
        ok(run(GT, &town, &town, &["--json", "rig", "add", name, url]));
    }
    town
}

/// `gt config set KEY VALUE [--rig R]`.
pub fn config_set(town: &Path, key: &str, value: &str, rig: Option<&str>) {
    let mut args = vec!["--json", "config", "set", key, value];
    if let Some(r) = rig {
        args.extend(["--rig", r]);
    }
    ok(run(GT, town, town, &args));
}

pub struct TownT {
    pub _t: tempfile::TempDir,
    pub town: PathBuf,
    /// The bare origin of rig `app` (default branch `main`).
    pub origin: PathBuf,
}

pub fn setup() -> TownT {
    let t = tempfile::tempdir().unwrap();
    let origin = origin_repo(t.path(), "app", "main");
    let town = install_town(t.path(), &[("app", origin.to_str().unwrap())]);
    TownT {
        _t: t,
        town,
        origin,
    }
}

pub fn create(town: &Path, title: &str) -> String {
    let v = ok(run(BD, town, town, &["--json", "create", title]));
    v["id"].as_str().unwrap().to_string()
}

pub fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..600 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn store(town: &Path) -> Store {
    Store::open(&town.join(".beads")).unwrap()
}

/// Write `script` as `<town>/agent.sh`, register it as agent `fake`, and make
/// it the polecat role's agent.
pub fn install_fake_polecat_agent(town: &Path, script: &str) -> PathBuf {
    let path = town.join("agent.sh");
    std::fs::write(&path, script).unwrap();
    let _ = Command::new("chmod").arg("+x").arg(&path).status();
    ok(run(
        GT,
        town,
        town,
        &[
            "--json",
            "config",
            "agent",
            "set",
            "fake",
            path.to_str().unwrap(),
        ],
    ));
    ok(run(
        GT,
        town,
        town,
        &["--json", "config", "role", "polecat", "fake"],
    ));
    path
}
