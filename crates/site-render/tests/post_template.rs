//! The committed post template against evidence: the committed results (framing follows every
//! verdict; every parameter a sentence uses comes from the result), synthetic results (every claim
//! gets its box in its section whatever its status; a new claim appears without a template change),
//! and no results at all.

use claim_spec::Verdict;
use claim_spec::placeholders::{Source, placeholders};
use site_render::data::{Evidence, load_claim, load_evidence};
use site_render::lint::lint_with;
use site_render::render::{load_templates, render_post};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn site() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../site")
}

/// The committed results, as raw JSON by id.
fn committed() -> BTreeMap<String, serde_json::Value> {
    let dir = site().join("_data/claims");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            out.insert(v["id"].as_str().unwrap().to_owned(), v);
        }
    }
    out
}

fn evidence_of(results: &BTreeMap<String, serde_json::Value>) -> Evidence {
    let mut ev = load_evidence(&site()).unwrap();
    ev.claims.clear();
    for (id, json) in results {
        let bytes = serde_json::to_vec(json).unwrap();
        ev.claims.insert(
            id.clone(),
            load_claim(Path::new(&format!("{id}.json")), &bytes).unwrap(),
        );
    }
    ev
}

fn render(results: &BTreeMap<String, serde_json::Value>) -> String {
    render_post(&load_templates(&site()).unwrap(), &evidence_of(results)).unwrap()
}

/// The texts of every restatement of claim `id` (`<span class="restates" data-claim="id">`).
fn restatements(post: &str, id: &str) -> Vec<String> {
    let open = format!("<span class=\"restates\" data-claim=\"{id}\">");
    post.split(&open)
        .skip(1)
        .map(|s| s.split("</span>").next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn every_restatement_follows_its_claims_verdict() {
    let results = committed();
    let post = render(&results);
    let mut restated = 0;
    for id in results.keys() {
        let original = restatements(&post, id);
        if original.is_empty() {
            continue;
        }
        restated += 1;
        let own = results[id]["verdict"].as_str().unwrap_or("");
        for v in Verdict::ALL.iter().filter(|v| v.as_str() != own) {
            let mut copy = results.clone();
            copy.get_mut(id).unwrap()["verdict"] = serde_json::json!(v.as_str());
            let changed = restatements(&render(&copy), id);
            assert_eq!(changed.len(), original.len(), "{id}");
            for (a, b) in original.iter().zip(&changed) {
                assert_ne!(
                    a,
                    b,
                    "{id}: the restatement `{a}` does not change when the verdict is {}",
                    v.as_str()
                );
                if matches!(v, Verdict::Contradicted | Verdict::Inconclusive) {
                    assert!(
                        b.contains(v.as_str()),
                        "{id} as {}: `{b}` does not say so",
                        v.as_str()
                    );
                }
            }
        }
    }
    assert!(
        restated >= 20,
        "only {restated} claims are restated outside their boxes"
    );
}

/// Every numeric leaf of a JSON value, set to `x`.
fn set_numbers(v: &mut serde_json::Value, x: f64) {
    match v {
        serde_json::Value::Number(_) => *v = serde_json::json!(x),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|e| set_numbers(e, x)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|e| set_numbers(e, x)),
        _ => {}
    }
}

/// The text of claim `id`'s evidence box.
fn box_of<'a>(post: &'a str, id: &str) -> &'a str {
    let start = post
        .find(&format!("id=\"claim-{id}\""))
        .unwrap_or_else(|| panic!("no box for {id}"));
    let end = post[start..]
        .find("</blockquote>")
        .map_or(post.len(), |k| start + k);
    &post[start..end]
}

#[test]
fn every_parameter_a_sentence_uses_comes_from_the_result() {
    const SENTINEL: f64 = 987_654.0;
    let mut results = committed();
    for json in results.values_mut() {
        set_numbers(&mut json["params"], SENTINEL);
    }
    let post = render(&results);
    for (id, json) in &results {
        let prose = ["note", "details"]
            .iter()
            .filter_map(|k| json[*k].as_str())
            .chain(
                json["captions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str()),
            );
        let numeric_uses = prose
            .flat_map(placeholders)
            .filter(|p| match &p.source {
                Source::Param(path) => claim_spec::placeholders::lookup(&json["params"], path)
                    .is_some_and(|v| v.is_number() || v.is_array()),
                Source::Metric(_) => false,
            })
            .count();
        // The sentinel as a number, or as a percentage (`:pct` prints 98,765,400%).
        let own = box_of(&post, id);
        let shown = own.matches("987,654").count() + own.matches("98,765,400").count();
        assert!(
            shown >= numeric_uses,
            "{id}: {numeric_uses} parameter placeholder(s) in its prose, but the sentinel shows {shown} time(s) in its box"
        );
    }
}

/// Numbers typed in prose: tokens of digits outside math, code, HTML tags, links and placeholders.
fn typed_numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let no_math: String = text.split("$$").step_by(2).collect::<Vec<_>>().join(" ");
    let no_code: String = no_math.split('`').step_by(2).collect::<Vec<_>>().join(" ");
    let no_tags: String = no_code
        .split('<')
        .enumerate()
        .map(|(k, part)| {
            if k == 0 {
                part
            } else {
                part.split_once('>').map_or(part, |(_, rest)| rest)
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    // A thousands separator belongs to its number: 1,024 is one number, not 1 and 024.
    let chars: Vec<char> = no_tags.chars().collect();
    let joined: String = chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            !(c == ','
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        })
        .map(|(_, &c)| c)
        .collect();
    for (k, word) in joined
        .split(|c: char| c.is_whitespace() || "(),;:×/=[]{}<>\"'".contains(c))
        .enumerate()
    {
        // An ordered-list marker ("1.") is not a number of the text.
        if k == 0 && word.ends_with('.') {
            continue;
        }
        let w = word
            .trim_end_matches(['.', '%'])
            .trim_start_matches(['−', '-']);
        if !w.is_empty()
            && w.chars().all(|c| c.is_ascii_digit() || c == '.')
            && w.chars().next().is_some_and(|c| c.is_ascii_digit())
            && let Ok(x) = w.parse::<f64>()
        {
            out.push(x);
        }
    }
    out
}

/// Every numeric parameter value of a result.
fn parameter_values(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Number(n) => out.extend(n.as_f64()),
        serde_json::Value::Array(a) => a.iter().for_each(|e| parameter_values(e, out)),
        serde_json::Value::Object(m) => m.values().for_each(|e| parameter_values(e, out)),
        _ => {}
    }
}

#[test]
fn no_typed_number_in_notes_or_captions_equals_a_parameter() {
    for (id, json) in committed() {
        let mut params = Vec::new();
        parameter_values(&json["params"], &mut params);
        let prose = ["note", "details"]
            .iter()
            .filter_map(|k| json[*k].as_str().map(str::to_owned))
            .chain(
                json["captions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str().map(str::to_owned)),
            );
        for text in prose {
            for x in typed_numbers(&text) {
                assert!(
                    !params.contains(&x),
                    "{id}: the number {x} is typed in `{text}`, and a parameter has that value: use a placeholder"
                );
            }
        }
    }
}

#[test]
fn templates_type_no_parameter_value() {
    let mut params = Vec::new();
    for json in committed().values() {
        parameter_values(&json["params"], &mut params);
    }
    for (name, src) in load_templates(&site()).unwrap() {
        let (mut in_math, mut in_fence) = (false, false);
        for (n, line) in src.lines().enumerate() {
            let t = line.trim();
            if t == "$$" {
                in_math = !in_math;
                continue;
            }
            if t.starts_with("```") {
                in_fence = !in_fence;
                continue;
            }
            // Block math, code, template code, headings and the front matter are not prose.
            let front_matter = t.split_once(": ").is_some_and(|(k, _)| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
            let prose_line =
                !(in_math || in_fence || front_matter || t.starts_with('#') || line.contains("{%"));
            if !prose_line {
                continue;
            }
            let text: String = line
                .split("{{")
                .map(|s| s.split_once("}}").map_or(s, |(_, rest)| rest))
                .collect();
            for x in typed_numbers(&text) {
                // Years of citations are not parameters.
                if (1900.0..2100.0).contains(&x) && x.fract() == 0.0 {
                    continue;
                }
                assert!(
                    !params.contains(&x),
                    "{name}:{}: the number {x} equals a claim parameter; take it from the results",
                    n + 1
                );
            }
        }
    }
}

#[test]
fn every_claim_gets_its_box_in_its_section_and_new_claims_appear() {
    let mut results = committed();
    let mut extra = results.values().next().unwrap().clone();
    extra["id"] = serde_json::json!("a-claim-added-later");
    extra["section"] = serde_json::json!("4.2");
    extra["also_in"] = serde_json::json!(["2.1"]);
    extra["status"] = serde_json::json!("error");
    extra["verdict"] = serde_json::Value::Null;
    extra["problems"] = serde_json::json!(["run failed: diverged at step 12"]);
    results.insert("a-claim-added-later".into(), extra);
    let post = render(&results);
    let outline = claim_spec::sections::SECTIONS;
    let heading = |number: &str| {
        post.lines()
            .position(|l| {
                l.starts_with("###") && l.contains(&format!("{number} "))
                    || l.starts_with(&format!("## {number} "))
            })
            .unwrap_or_else(|| panic!("no heading {number}"))
    };
    let cheat = post
        .lines()
        .position(|l| l.starts_with("## Cheat sheet"))
        .unwrap();
    for (id, json) in &results {
        let section = json["section"].as_str().unwrap();
        let at = post
            .lines()
            .position(|l| l.contains(&format!("id=\"claim-{id}\"")))
            .unwrap();
        let k = outline.iter().position(|s| s.number == section).unwrap();
        let end = outline.get(k + 1).map_or(cheat, |s| heading(s.number));
        assert!(
            at > heading(section) && at < end,
            "{id} is outside section {section}"
        );
    }
    assert!(post.contains("verdict-none\">no verdict</span>"));
    assert!(post.contains("run failed: diverged at step 12"));
    assert!(
        lint_with(&post, &|_| true).is_empty(),
        "{:#?}",
        lint_with(&post, &|_| true)
    );
}

#[test]
fn the_post_reads_without_any_result() {
    let post = render(&BTreeMap::new());
    assert!(lint_with(&post, &|_| true).is_empty());
    assert!(!post.contains("id=\"claim-"), "no box without results");
    for heading in [
        "## Cheat sheet",
        "## Reflection",
        "## Reproducing this post",
        "### 3.1 ",
    ] {
        assert!(post.contains(heading), "{heading}");
    }
    assert!(post.contains("not measured in this edition"));
}
