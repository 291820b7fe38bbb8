//! Arbitrary bytes and mutated corpus files never make the parser or the
//! checks panic. Deterministic (fixed seed) so failures reproduce.

mod common;
use gastown::formula::check;
use gastown::formula::library::{SearchPath, Session};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn exercise(name: &str, bytes: &[u8]) {
    let mut sess = Session::new(SearchPath::explicit(&[]));
    let Ok(text) = gastown::formula::parse::check_bytes(name, bytes) else {
        return;
    };
    if let Some((_, f)) = sess.load_text(name, &text) {
        let resolved = sess.resolve(f);
        check::check(&resolved, &sess.sources, &mut sess.diags);
        let _ = gastown::formula::cook::cook(&resolved, &sess);
    }
    let _ = gastown::formula::diag::render_human_all(&sess.diags, &sess.sources, false);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x6a5_70e1);
    for i in 0..3000 {
        let len = rng.gen_range(0..256);
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..len).map(|_| rng.gen()).collect()
        } else {
            // Bias towards TOML-ish punctuation.
            let alphabet = b"[]{}=\"'.,\n #abcdefgh_-0123456789stepsidneedvarsformula";
            (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect()
        };
        exercise("fuzz.formula.toml", &bytes);
        exercise("fuzz.formula.json", &bytes);
    }
}

#[test]
fn mutated_corpus_never_panics() {
    let Some(root) = common::shared_dir("corpus").map(|c| c.join("gastown")) else {
        eprintln!("skipped: no corpus at ../shared/corpus");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".formula.toml"))
        .collect();
    files.sort();
    let mut rng = StdRng::seed_from_u64(42);
    for file in files {
        let original = std::fs::read(&file).unwrap();
        for _ in 0..25 {
            let mut bytes = original.clone();
            for _ in 0..rng.gen_range(1..8) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..4) {
                    0 => bytes[at] = rng.gen(),
                    1 => {
                        bytes.remove(at);
                    }
                    2 => bytes.insert(at, b"[]{}\"=\n"[rng.gen_range(0..7)]),
                    _ => {
                        let end = (at + rng.gen_range(0..64)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                }
            }
            exercise("mutant.formula.toml", &bytes);
        }
    }
}
