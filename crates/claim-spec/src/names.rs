//! Names: claim ids, figure names and kind names (slugs), and the closest valid name for a
//! misspelled one.

/// Whether `s` is a slug: non-empty lowercase ASCII letters, digits and single dashes inside.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Whether `name` is `<family>/<name>` with lowercase letters, digits and dashes.
pub fn valid_kind_name(name: &str) -> bool {
    let mut parts = name.split('/');
    let ok = |s: Option<&str>| s.is_some_and(valid_slug);
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The candidate closest to `word` by Jaro–Winkler similarity, when the similarity is at least 0.8
/// or one contains the other.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            let contains = c.contains(word) || word.contains(c);
            let s = strsim::jaro_winkler(word, c).max(if contains { 0.85 } else { 0.0 });
            (s, c)
        })
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(valid_slug("kramers-escape") && valid_slug("a1"));
        for bad in [
            "", "A", "a/b", "..", "a..b", "-a", "a-", "a--b", "a b", "a_b",
        ] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn kind_names_and_suggestions() {
        assert!(
            valid_kind_name("a-b/c-d")
                && !valid_kind_name("a/b/c")
                && !valid_kind_name("A/b")
                && !valid_kind_name("a/")
        );
        let names = ["escape-rates/kramers", "minibatch-noise/variance"];
        assert_eq!(
            closest("escape-rates/kramer", names),
            Some("escape-rates/kramers")
        );
        assert_eq!(
            closest("minibatch-noise/varience", names),
            Some("minibatch-noise/variance")
        );
        assert_eq!(closest("zzzz", names), None);
    }
}
