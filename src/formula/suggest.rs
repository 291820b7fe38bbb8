//! "Did you mean" suggestions, shared by every diagnostic that names a
//! missing thing.

/// The closest candidate to `word`, if one is close enough to be a likely
/// typo. Case-insensitive equality always counts as close.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for cand in candidates {
        if cand == word {
            continue;
        }
        let cl = cand.to_ascii_lowercase();
        let score = if cl == lower {
            2.0
        } else if snake(&lower) == snake(&cl) {
            1.5
        } else {
            strsim::jaro_winkler(&lower, &cl)
        };
        let close_enough = score >= 0.85 || strsim::levenshtein(&lower, &cl) <= 1;
        if close_enough && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// `dependsOn` and `depends-on` both fold to `dependson`.
fn snake(s: &str) -> String {
    s.chars().filter(|c| *c != '_' && *c != '-').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let keys = ["depends_on", "needs", "title", "description"];
        assert_eq!(
            did_you_mean("dependsOn", keys).as_deref(),
            Some("depends_on")
        );
        assert_eq!(did_you_mean("need", keys).as_deref(), Some("needs"));
        assert_eq!(did_you_mean("Title", keys).as_deref(), Some("title"));
        assert_eq!(
            did_you_mean("descripton", keys).as_deref(),
            Some("description")
        );
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
