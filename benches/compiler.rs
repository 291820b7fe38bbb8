//! Compiler benchmarks. Targets (see the compiler issue): cook 100,000
//! steps in under 1 s; lint the whole corpus in under 100 ms.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion};
use gastown::formula::api::CookOptions;
use gastown::formula::compile;
use gastown::formula::library::{Env, SearchPath};
use gastown::formula::lint;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A 100,000-step formula: a spine of steps where each needs the one
/// before and, every tenth step, one further back (fan-in).
fn generate(n: usize) -> String {
    let mut s = String::from(
        "formula = \"big\"\nversion = 1\n[vars.who]\ndescription = \"who\"\ndefault = \"me\"\n",
    );
    for i in 0..n {
        let _ = write!(
            s,
            "\n[[steps]]\nid = \"s{i}\"\ntitle = \"Step {i} for {{{{who}}}}\"\n"
        );
        match i {
            0 => {}
            _ if i % 10 == 0 && i >= 10 => {
                let _ = writeln!(s, "needs = [\"s{}\", \"s{}\"]", i - 1, i - 10);
            }
            _ => {
                let _ = writeln!(s, "needs = [\"s{}\"]", i - 1);
            }
        }
    }
    s
}

fn bench_cook(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.formula.toml");
    std::fs::write(&path, generate(100_000)).expect("write");
    let opts = CookOptions {
        target: path.display().to_string(),
        search_path: Some(vec![dir.path().to_path_buf()]),
        cwd: dir.path().to_path_buf(),
        ..CookOptions::default()
    };
    let mut group = c.benchmark_group("cook");
    group.sample_size(10);
    group.bench_function("100k_steps", |b| {
        b.iter(|| {
            let compiled = compile::compile(&opts, &Env::default());
            assert!(compiled.proto.is_some());
            compiled.proto.map(|p| p.to_json().len())
        })
    });
    group.finish();
}

/// The 20-disk Towers of Hanoi: one range loop, 1,048,575 moves, kept as
/// one generated family. Target: under 2 s and 600 MB peak RSS (measure
/// RSS with `benches/cook_memory.sh`). `hanoi_20_disks_expanded` also
/// writes every move out (`gt cook --expand`), through the iterators
/// every reader of the IR uses.
fn bench_hanoi(c: &mut Criterion) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/towers-of-hanoi-20.formula.toml");
    let opts = CookOptions {
        target: path.display().to_string(),
        cwd: Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(),
        search_path: Some(vec![]),
        max_steps: Some(2_000_000),
        ..CookOptions::default()
    };
    let mut group = c.benchmark_group("cook");
    group.sample_size(10);
    for expanded in [false, true] {
        let name = match expanded {
            true => "hanoi_20_disks_expanded",
            false => "hanoi_20_disks",
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let compiled = compile::compile(&opts, &Env::default());
                let proto = compiled.proto.expect("hanoi cooks");
                let mut sink = std::io::sink();
                match expanded {
                    true => proto.write_json_expanded(&mut sink),
                    false => proto.write_json(&mut sink),
                }
                .expect("serialises");
                proto.step_count()
            })
        });
    }
    group.finish();
}

fn bench_lint_corpus(c: &mut Criterion) {
    // `../shared` beside the checkout, or beside a worktree's parent folder.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(root) = ["../shared/corpus", "../../shared/corpus"]
        .iter()
        .map(|p| here.join(p))
        .find(|d| d.is_dir())
    else {
        eprintln!("lint_corpus skipped: no ../shared/corpus beside the checkout");
        return;
    };
    let dirs: Vec<PathBuf> = vec![root.join("gastown"), root.join("beads")];
    let files = lint::collect_files(&dirs).expect("corpus present");
    let search = SearchPath::explicit(&dirs);
    c.bench_function("lint_corpus", |b| {
        b.iter(|| lint::lint(&files, &search).diagnostics().len())
    });
}

criterion_group!(benches, bench_cook, bench_lint_corpus, bench_hanoi);
criterion_main!(benches);
