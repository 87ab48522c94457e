//! The reader's budget of the rendered post: how much a reader must read, and what a reader must
//! never meet.
//!
//! Words are whitespace-separated tokens of the Markdown after the front matter (tags, alt text
//! and LaTeX included); *visible* means outside collapsed `<details>` blocks. An evidence box is a
//! `<blockquote>` that holds a `<details>` block; its visible words are counted apart.

use crate::lint::{Rule, Violation};
use std::collections::BTreeSet;

/// At most this many visible words in the post.
pub const MAX_VISIBLE_WORDS: usize = 9_000;
/// At most this many words in all, collapsed blocks included.
pub const MAX_TOTAL_WORDS: usize = 18_000;
/// At most this many visible words in one evidence box.
pub const MAX_BOX_WORDS: usize = 150;
/// At most this many words in a figure caption.
pub const MAX_CAPTION_WORDS: usize = 60;
/// At most this many words of alt text.
pub const MAX_ALT_WORDS: usize = 12;
/// A paragraph longer than this many characters is two paragraphs.
pub const MAX_PARAGRAPH_CHARS: usize = 1_200;

/// The word counts of a post.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Words outside collapsed blocks.
    pub visible: usize,
    /// All words.
    pub total: usize,
    /// Visible words of each evidence box, by its first line (1-based).
    pub boxes: Vec<(usize, usize)>,
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// The body after the front matter, and the 1-based line where it starts.
fn body(text: &str) -> (&str, usize) {
    if let Some(rest) = text.strip_prefix("---\n")
        && let Some(end) = rest.find("\n---\n")
    {
        let start = 4 + end + 5;
        let line = text[..start].matches('\n').count() + 1;
        return (&text[start..], line);
    }
    (text, 1)
}

/// Byte ranges of every `<details ...> ... </details>` block (outermost).
fn details_ranges(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(a) = s[from..].find("<details").map(|k| k + from) {
        let Some(b) = s[a..]
            .find("</details>")
            .map(|k| k + a + "</details>".len())
        else {
            break;
        };
        out.push((a, b));
        from = b;
    }
    out
}

/// `s` with every collapsed block replaced by a space.
pub fn visible_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (a, b) in details_ranges(s) {
        out.push_str(&s[at..a]);
        out.push(' ');
        at = b;
    }
    out.push_str(&s[at..]);
    out
}

/// The post's word counts.
pub fn counts(text: &str) -> Counts {
    let (b, start) = body(text);
    let mut boxes = Vec::new();
    let mut from = 0;
    while let Some(a) = b[from..].find("<blockquote").map(|k| k + from) {
        let Some(end) = b[a..].find("</blockquote>").map(|k| k + a) else {
            break;
        };
        let inner = &b[a..end];
        if inner.contains("<details") {
            let line = start + b[..a].matches('\n').count();
            boxes.push((line, words(&visible_text(inner))));
        }
        from = end;
    }
    Counts {
        visible: words(&visible_text(b)),
        total: words(b),
        boxes,
    }
}

fn push(v: &mut Vec<Violation>, line: usize, rule: Rule, message: String) {
    v.push(Violation {
        line,
        rule,
        message,
    });
}

/// `s` without inline and block math.
fn without_math(s: &str) -> String {
    s.split("$$")
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, part)| part)
        .collect::<Vec<_>>()
        .join(" ")
}

fn word_budgets(text: &str, v: &mut Vec<Violation>) {
    let c = counts(text);
    if c.visible > MAX_VISIBLE_WORDS {
        push(
            v,
            1,
            Rule::ReaderBudget,
            format!("{} visible words, over {MAX_VISIBLE_WORDS}", c.visible),
        );
    }
    if c.total > MAX_TOTAL_WORDS {
        push(
            v,
            1,
            Rule::ReaderBudget,
            format!("{} words in all, over {MAX_TOTAL_WORDS}", c.total),
        );
    }
    for (line, n) in c.boxes {
        if n > MAX_BOX_WORDS {
            push(
                v,
                line,
                Rule::BoxBudget,
                format!("this evidence box shows {n} words, over {MAX_BOX_WORDS}"),
            );
        }
    }
}

/// Images `![alt](/path)`: their alt text and the caption paragraph on the next line.
fn figures(text: &str, v: &mut Vec<Violation>) {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("![") else {
            continue;
        };
        let alt = rest.split("](").next().unwrap_or("");
        if words(alt) > MAX_ALT_WORDS {
            push(
                v,
                i + 1,
                Rule::FigureText,
                format!("alt text of {} words, over {MAX_ALT_WORDS}", words(alt)),
            );
        }
        let caption = lines.get(i + 1).copied().unwrap_or("");
        if words(caption) > MAX_CAPTION_WORDS {
            push(
                v,
                i + 2,
                Rule::FigureText,
                format!(
                    "caption of {} words, over {MAX_CAPTION_WORDS}",
                    words(caption)
                ),
            );
        }
    }
}

/// Metric ids outside collapsed blocks: a snake_case code span, or a known id in plain text.
fn metric_ids(text: &str, ids: &BTreeSet<String>, v: &mut Vec<Violation>) {
    let (b, start) = body(text);
    let visible = visible_text(b);
    for (i, line) in visible.lines().enumerate() {
        let plain = without_math(line).replace("\\_", "_");
        let in_code = plain.split('`').skip(1).step_by(2).find(|c| {
            c.contains('_')
                && c.bytes()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == b'_')
        });
        let known = plain
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.contains('_') && ids.contains(*w));
        if let Some(id) = in_code.or(known) {
            // Lines inside collapsed blocks were removed, so line numbers only approximate there.
            push(
                v,
                start + i,
                Rule::MetricId,
                format!("metric id `{id}` outside a collapsed block"),
            );
        }
    }
}

/// Block formulas (`$$` on their own lines) that appear more than once.
fn repeated_formulas(text: &str, v: &mut Vec<Violation>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut seen = BTreeSet::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "$$" {
            let start = i;
            let mut formula = String::new();
            i += 1;
            while i < lines.len() && lines[i].trim() != "$$" {
                formula.extend(lines[i].chars().filter(|c| !c.is_whitespace()));
                i += 1;
            }
            if !formula.is_empty() && !seen.insert(formula) {
                push(
                    v,
                    start + 1,
                    Rule::RepeatedFormula,
                    "this block formula already stands earlier in the post; link back to it".into(),
                );
            }
        }
        i += 1;
    }
}

/// Paragraphs of prose longer than [`MAX_PARAGRAPH_CHARS`] (tables, HTML and math excluded).
fn long_paragraphs(text: &str, v: &mut Vec<Violation>) {
    let (b, start) = body(text);
    let mut para = 0usize;
    let mut first = 0usize;
    for (i, line) in b.lines().enumerate() {
        let t = line.trim_start();
        let prose = !(t.is_empty()
            || t.starts_with('|')
            || t.starts_with('<')
            || t.starts_with("$$")
            || t.starts_with("```"));
        // A list item starts a paragraph of its own.
        let item = t.starts_with("- ")
            || t.starts_with("* ")
            || t.split_once(". ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        if prose && item && para > 0 {
            check_paragraph(para, start + first, v);
            para = 0;
        }
        if prose {
            if para == 0 {
                first = i;
            }
            para += line.len();
        } else {
            check_paragraph(para, start + first, v);
            para = 0;
        }
    }
    check_paragraph(para, start + first, v);
}

/// A violation when a paragraph of `chars` characters starting at `line` is too long.
fn check_paragraph(chars: usize, line: usize, v: &mut Vec<Violation>) {
    if chars > MAX_PARAGRAPH_CHARS {
        push(
            v,
            line,
            Rule::LongParagraph,
            format!("a paragraph of {chars} characters, over {MAX_PARAGRAPH_CHARS}"),
        );
    }
}

/// Every budget rule on the rendered post; `ids` are the metric ids of the results.
pub fn check(text: &str, ids: &BTreeSet<String>) -> Vec<Violation> {
    let mut v = Vec::new();
    word_budgets(text, &mut v);
    figures(text, &mut v);
    metric_ids(text, ids, &mut v);
    repeated_formulas(text, &mut v);
    long_paragraphs(text, &mut v);
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONT: &str = "---\ntitle: t\n---\n";

    #[test]
    fn collapsed_blocks_count_in_total_only() {
        let post = format!(
            "{FRONT}one two\n<blockquote markdown=\"1\">\nthree four\n<details markdown=\"1\">\nfive six seven\n</details>\n</blockquote>\n"
        );
        let c = counts(&post);
        // Tokens: one two, <blockquote markdown="1">, three four, <details markdown="1">,
        // five six seven, </details>, </blockquote>.
        assert_eq!(c.total, 13);
        assert_eq!(c.visible, 7);
        assert_eq!(c.boxes, vec![(5, 4)]);
    }

    #[test]
    fn metric_ids_are_caught_outside_collapsed_blocks_only() {
        let ids: BTreeSet<String> = ["arrhenius_slope".to_owned()].into();
        let post = format!(
            "{FRONT}The slope (`arrhenius_slope`).\nPlain arrhenius\\_slope.\n$$a_b$$ and file_name.rs\n<details markdown=\"1\">\n`arrhenius_slope` here is fine\n</details>\n"
        );
        let v = check(&post, &ids);
        let lines: Vec<usize> = v
            .iter()
            .filter(|x| x.rule == Rule::MetricId)
            .map(|x| x.line)
            .collect();
        assert_eq!(lines, vec![4, 5]);
    }

    #[test]
    fn figures_formulas_and_paragraphs_have_limits() {
        let long_alt = "word ".repeat(13);
        let long_caption = "word ".repeat(61);
        let para = "x".repeat(1300);
        let post = format!(
            "{FRONT}![{long_alt}](/a.svg)\n{long_caption}\n\n$$\nx^2\n$$\n\n$$\nx ^ 2\n$$\n\n{para}\n\nend\n"
        );
        let v = check(&post, &BTreeSet::new());
        let rules: Vec<Rule> = v.iter().map(|x| x.rule).collect();
        assert!(rules.contains(&Rule::FigureText));
        assert_eq!(rules.iter().filter(|r| **r == Rule::FigureText).count(), 2);
        assert!(rules.contains(&Rule::RepeatedFormula));
        assert!(rules.contains(&Rule::LongParagraph));
    }

    #[test]
    fn list_items_are_paragraphs_of_their_own_and_the_last_paragraph_counts() {
        let item = format!("- {}\n", "x".repeat(700));
        let list = item.repeat(3);
        assert!(check(&format!("{FRONT}{list}\nend\n"), &BTreeSet::new()).is_empty());
        let last = "y".repeat(1300);
        let v = check(&format!("{FRONT}{last}\n"), &BTreeSet::new());
        assert!(v.iter().any(|x| x.rule == Rule::LongParagraph));
    }
}
