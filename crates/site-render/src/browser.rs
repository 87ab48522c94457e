//! `check-site`: the real render check. The committed post goes through Kramdown (GFM input,
//! MathJax math engine, Jekyll's options), is wrapped in a page that loads MathJax 3 and Mermaid
//! from a local npm install, is served with the site's figures on the loopback address, and is
//! opened in headless Chromium. A script in the page typesets the math, renders every diagram,
//! waits for every image, follows every in-page link, and writes a JSON report into the page,
//! which Chromium's `--dump-dom` hands back. Further runs take full-page screenshots in light and
//! dark mode, and a screenshot of every figure at the 740 px column width in both modes.
//!
//! Nothing is installed here: missing tools are reported with the command that installs them.

use crate::POST_FILE;
use crate::error::{Missing, SiteError};
use crate::serve::{Routes, Server};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian packages Kramdown needs.
pub const APT_KRAMDOWN: &str = "ruby-kramdown ruby-kramdown-parser-gfm";
/// The npm packages the page loads.
pub const NPM_PACKAGES: &str = "mathjax@3 mermaid@11 @fortawesome/fontawesome-free@6";
/// Font Awesome's stylesheet, under `node_modules` (Chirpy loads Font Awesome; the boxes' icons
/// need it).
pub const FONT_AWESOME_CSS: &str = "@fortawesome/fontawesome-free/css/all.min.css";
/// The site's own stylesheet, under `site/`: served as it is, front matter and `@use` included.
pub const SITE_CSS: &str = "assets/css/jekyll-theme-chirpy.scss";
/// The width of the post's content column in Chirpy, CSS pixels: figures are checked at it.
pub const COLUMN_WIDTH: u32 = 740;
/// MathJax's combined TeX-to-CommonHTML component, under `node_modules`.
pub const MATHJAX_JS: &str = "mathjax/es5/tex-chtml.js";
/// Mermaid's browser bundle, under `node_modules`.
pub const MERMAID_JS: &str = "mermaid/dist/mermaid.min.js";
/// Chromium flags for a quiet, isolated headless run.
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The screenshot's width in CSS pixels.
pub const SCREENSHOT_WIDTH: u32 = 1100;
/// The tallest screenshot taken; a longer page is cut there.
pub const MAX_SCREENSHOT_HEIGHT: u32 = 30_000;

/// Where things are for one check.
#[derive(Clone, Debug)]
pub struct Config {
    /// The repository root (used to print relative paths in install commands).
    pub root: PathBuf,
    /// The `site/` folder.
    pub site: PathBuf,
    /// The work folder: `node_modules/`, the page, the screenshot (`target/check-site`).
    pub work: PathBuf,
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The Ruby binary.
    pub ruby: PathBuf,
    /// Wall-clock limit of one browser run.
    pub timeout: Duration,
}

impl Config {
    /// The defaults for the repository at `root`: `target/check-site`, `/usr/bin/chromium`, `ruby`.
    pub fn new(root: &Path) -> Self {
        Config {
            root: root.to_path_buf(),
            site: root.join("site"),
            work: root.join("target").join("check-site"),
            chromium: PathBuf::from("/usr/bin/chromium"),
            ruby: PathBuf::from("ruby"),
            timeout: Duration::from_secs(240),
        }
    }

    fn work_display(&self) -> String {
        self.work
            .strip_prefix(&self.root)
            .unwrap_or(&self.work)
            .display()
            .to_string()
    }
}

/// Every missing prerequisite of `check-site`.
pub fn missing_prerequisites(cfg: &Config) -> Vec<Missing> {
    let mut missing = Vec::new();
    let kramdown = Command::new(&cfg.ruby)
        .args(["-e", "require 'kramdown'; require 'kramdown-parser-gfm'"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !kramdown.is_ok_and(|s| s.success()) {
        missing.push(Missing {
            what: format!(
                "Ruby with Kramdown and its GFM parser (`{} -e \"require 'kramdown-parser-gfm'\"` fails)",
                cfg.ruby.display()
            ),
            install: format!("apt-get update && apt-get install -y {APT_KRAMDOWN}"),
        });
    }
    if !cfg.chromium.is_file() {
        missing.push(Missing {
            what: format!("Chromium at {}", cfg.chromium.display()),
            install: "apt-get update && apt-get install -y chromium".to_owned(),
        });
    }
    for (js, what) in [
        (MATHJAX_JS, "MathJax 3"),
        (MERMAID_JS, "Mermaid"),
        (FONT_AWESOME_CSS, "Font Awesome"),
    ] {
        let path = cfg.work.join("node_modules").join(js);
        if !path.is_file() {
            missing.push(Missing {
                what: format!("{what} ({} not found)", path.display()),
                install: format!(
                    "npm install --prefix {} --no-audit --no-fund {NPM_PACKAGES}",
                    cfg.work_display()
                ),
            });
        }
    }
    missing
}

/// The Ruby program that converts Markdown on standard input to HTML on standard output with the
/// options Jekyll gives Kramdown, printing Kramdown's warnings on standard error.
pub const KRAMDOWN_SCRIPT: &str = r#"
require 'kramdown'
require 'kramdown-parser-gfm'
highlighter = begin
  require 'rouge'
  'rouge'
rescue LoadError
  nil
end
doc = Kramdown::Document.new(
  $stdin.read,
  input: 'GFM',
  hard_wrap: false,
  auto_ids: true,
  footnote_nr: 1,
  entity_output: 'as_char',
  toc_levels: (1..6).to_a,
  smart_quotes: 'lsquo,rsquo,ldquo,rdquo',
  math_engine: 'mathjax',
  syntax_highlighter: highlighter,
  syntax_highlighter_opts: { css_class: 'highlight' }
)
$stdout.write(doc.to_html)
doc.warnings.each { |w| $stderr.puts("kramdown warning: #{w}") }
"#;

/// Converts Markdown to HTML with Kramdown as Jekyll does; returns the HTML and Kramdown's warnings.
///
/// # Errors
/// When Ruby cannot run or the conversion fails.
pub fn kramdown(ruby: &Path, markdown: &str) -> Result<(String, Vec<String>), SiteError> {
    let mut child = Command::new(ruby)
        .args(["-e", KRAMDOWN_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SiteError::io(ruby, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(markdown.as_bytes())
            .map_err(|e| SiteError::io(ruby, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| SiteError::io(ruby, e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(SiteError::Tool {
            tool: "kramdown".into(),
            message: format!("conversion failed ({}): {}", out.status, stderr.trim()),
        });
    }
    let warnings = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("kramdown warning: "))
        .map(str::to_owned)
        .collect();
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), warnings))
}

/// Splits a post into its front-matter title and its body (what Kramdown converts).
pub fn split_post(text: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&"---") {
        return (String::new(), text.to_owned());
    }
    let Some(end) = lines
        .iter()
        .skip(1)
        .position(|l| *l == "---")
        .map(|i| i + 1)
    else {
        return (String::new(), text.to_owned());
    };
    let title = serde_yaml::from_str::<serde_yaml::Value>(&lines[1..end].join("\n"))
        .ok()
        .and_then(|v| v.get("title").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let mut body = lines[end + 1..].join("\n");
    body.push('\n');
    (title, body)
}

/// The script that runs in the page and writes the report into `#check-report`.
pub const CHECK_SCRIPT: &str = r##"
(async () => {
  const out = { math: 0, math_errors: [], leftover_math: [], diagrams: 0, diagram_errors: [],
                images: 0, broken_images: [], links: 0, broken_links: [], height: 0, fatal: null };
  const report = () => { document.getElementById('check-report').textContent = JSON.stringify(out); };
  try {
    if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) throw new Error('MathJax did not load');
    await MathJax.startup.promise;
    for (const item of MathJax.startup.document.math) {
      out.math++;
      const root = item.typesetRoot;
      const err = root && root.querySelector('mjx-merror');
      if (err) out.math_errors.push((err.getAttribute('data-mjx-error') || err.textContent) + ' in: ' + item.math);
    }
    const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'MJX-CONTAINER', 'svg']);
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      let p = n.parentElement, skipped = false;
      while (p) { if (skip.has(p.tagName) || p.id === 'check-report') { skipped = true; break; } p = p.parentElement; }
      if (skipped) continue;
      const t = n.textContent;
      if (t.includes('$$') || t.includes('\\(') || t.includes('\\[')) out.leftover_math.push(t.trim().slice(0, 200));
    }
    if (!window.mermaid) throw new Error('Mermaid did not load');
    mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
    const codes = new Set(document.querySelectorAll('code.language-mermaid, .language-mermaid code'));
    let i = 0;
    for (const code of codes) {
      const src = code.textContent;
      const host = code.closest('div.language-mermaid') || code.closest('pre') || code;
      try {
        await mermaid.parse(src);
        const { svg } = await mermaid.render('mermaid-check-' + i, src);
        const div = document.createElement('div');
        div.className = 'mermaid-rendered';
        div.innerHTML = svg;
        host.replaceWith(div);
        out.diagrams++;
      } catch (e) {
        out.diagram_errors.push(String((e && e.message) || e).slice(0, 400));
      }
      i++;
    }
    const imgs = [...document.images];
    await Promise.all(imgs.map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
    for (const img of imgs) { out.images++; if (!img.naturalWidth) out.broken_images.push(img.getAttribute('src')); }
    for (const a of document.querySelectorAll('a[href^="#"]')) {
      out.links++;
      const id = decodeURIComponent(a.getAttribute('href').slice(1));
      if (!id || !document.getElementById(id)) out.broken_links.push(a.getAttribute('href'));
    }
  } catch (e) {
    out.fatal = String((e && e.message) || e);
  }
  out.height = Math.ceil(document.documentElement.scrollHeight);
  report();
})();
"##;

/// The theme's base look, approximated: Chirpy's column, text colours, and the prompt colours
/// the boxes take from it, in light and dark mode. The boxes themselves come from the site's own
/// stylesheet ([`SITE_CSS`]), loaded as it is.
const PAGE_STYLE: &str = r#"
:root { --text: #34343c; --bg: #fff; --border: #ddd; --code-bg: #f3f3f3;
  --prompt-tip-icon-color: #03b303; --prompt-info-icon-color: #0070cb;
  --prompt-warning-icon-color: #ef9c03; --prompt-danger-icon-color: #df3c30; }
html[data-mode="dark"] { --text: #afb0b1; --bg: #1b1b1e; --border: #2c2d2d; --code-bg: #151515;
  --prompt-tip-icon-color: #7ecb7e; --prompt-info-icon-color: #6ba6d9;
  --prompt-warning-icon-color: #e0ad1f; --prompt-danger-icon-color: #cd1b32; }
body { font-family: "DejaVu Sans", sans-serif; line-height: 1.6; color: var(--text); margin: 0; background: var(--bg); }
main { max-width: 740px; margin: 0 auto; padding: 24px 16px 64px; }
h1 { font-size: 2em; } h2 { border-bottom: 1px solid var(--border); padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--border); padding: 4px 8px; vertical-align: top; }
img { max-width: 100%; height: auto; }
pre { background: var(--code-bg); padding: 8px; overflow-x: auto; }
code { background: var(--code-bg); padding: 0 3px; border-radius: 3px; }
blockquote { margin: 1.2em 0; padding: .6em 1em; border-left: 4px solid var(--border); }
a { color: #2a7ae2; }
"#;

/// The page around the converted post: MathJax configured as Chirpy configures it (with undefined
/// macros made errors, so a typo cannot pass as red text), Mermaid, and the check script.
pub fn page(title: &str, body_html: &str, dark: bool) -> String {
    let mode = if dark { "dark" } else { "light" };
    let title_html = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r#"<!DOCTYPE html>
<html lang="en" data-mode="{mode}">
<head>
<meta charset="utf-8">
<title>{title_html}</title>
<style>{PAGE_STYLE}</style>
<link rel="stylesheet" href="/node_modules/{FONT_AWESOME_CSS}">
<link rel="stylesheet" href="/{SITE_CSS}">
<script>
window.MathJax = {{
  tex: {{
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    tags: 'ams',
    packages: {{ '[-]': ['noundefined'] }}
  }}
}};
</script>
<script src="/node_modules/{MATHJAX_JS}"></script>
<script src="/node_modules/{MERMAID_JS}"></script>
</head>
<body>
<main>
<h1>{title_html}</h1>
{body_html}
</main>
<pre id="check-report" hidden></pre>
<script>{CHECK_SCRIPT}</script>
</body>
</html>
"#
    )
}

/// What the page reported.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PageReport {
    /// Formulas MathJax typeset.
    pub math: usize,
    /// MathJax errors, each with its TeX source.
    pub math_errors: Vec<String>,
    /// Text outside code that still holds `$$`, `\(` or `\[` after typesetting.
    pub leftover_math: Vec<String>,
    /// Diagrams Mermaid rendered.
    pub diagrams: usize,
    /// Mermaid parse or render errors.
    pub diagram_errors: Vec<String>,
    /// Images in the page.
    pub images: usize,
    /// Sources of images with `naturalWidth` 0.
    pub broken_images: Vec<String>,
    /// In-page links.
    pub links: usize,
    /// In-page links without a target.
    pub broken_links: Vec<String>,
    /// The page's height in CSS pixels.
    pub height: u32,
    /// A failure that stopped the script (a library that did not load).
    pub fatal: Option<String>,
}

/// The whole result of a check.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// What the page measured.
    pub page: PageReport,
    /// Kramdown's warnings.
    pub kramdown_warnings: Vec<String>,
    /// Mermaid fences in the post.
    pub expected_diagrams: usize,
    /// Image references in the post.
    pub expected_images: usize,
    /// Requests for files that do not exist.
    pub missing_files: Vec<String>,
    /// The screenshot, when taken.
    pub screenshot: Option<PathBuf>,
    /// The same page in dark mode.
    pub dark_screenshot: Option<PathBuf>,
    /// Every figure at the column width, light and dark.
    pub figure_screenshots: Vec<PathBuf>,
}

impl Report {
    /// Every problem found; empty means the post renders cleanly.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let pr = &self.page;
        if let Some(f) = &pr.fatal {
            p.push(format!("the page script stopped: {f}"));
        }
        p.extend(
            self.kramdown_warnings
                .iter()
                .map(|w| format!("Kramdown: {w}")),
        );
        p.extend(pr.math_errors.iter().map(|e| format!("MathJax error: {e}")));
        p.extend(
            pr.leftover_math
                .iter()
                .map(|t| format!("math delimiters left in the text (not typeset): {t}")),
        );
        p.extend(
            pr.diagram_errors
                .iter()
                .map(|e| format!("Mermaid error: {e}")),
        );
        if pr.fatal.is_none() && pr.diagrams + pr.diagram_errors.len() != self.expected_diagrams {
            p.push(format!(
                "the post has {} Mermaid fence(s) but the page found {}",
                self.expected_diagrams,
                pr.diagrams + pr.diagram_errors.len()
            ));
        }
        p.extend(
            pr.broken_images
                .iter()
                .map(|s| format!("figure does not load (naturalWidth 0): {s}")),
        );
        if pr.fatal.is_none() && pr.images != self.expected_images {
            p.push(format!(
                "the post references {} image(s) but the page has {}",
                self.expected_images, pr.images
            ));
        }
        p.extend(
            pr.broken_links
                .iter()
                .map(|l| format!("in-page link without a target: {l}")),
        );
        p.extend(
            self.missing_files
                .iter()
                .map(|f| format!("the page requested a file that does not exist: {f}")),
        );
        p
    }
}

/// Extracts and parses the report from Chromium's `--dump-dom` output.
///
/// # Errors
/// When the report is missing (the page did not finish) or is not valid JSON.
pub fn parse_dump(dom: &str) -> Result<PageReport, String> {
    let start_tag = "<pre id=\"check-report\" hidden=\"\">";
    let start = dom
        .find(start_tag)
        .map(|s| s + start_tag.len())
        .or_else(|| dom.find("<pre id=\"check-report\" hidden>").map(|s| s + 30))
        .ok_or("the page has no report element")?;
    let end = dom[start..]
        .find("</pre>")
        .map(|e| start + e)
        .ok_or("the report element is not closed")?;
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    if text.trim().is_empty() {
        return Err("the page did not finish its checks within the time budget".to_owned());
    }
    serde_json::from_str(&text).map_err(|e| format!("the page's report is not valid JSON: {e}"))
}

/// Runs Chromium with `args` and the common flags, a fresh profile and a wall-clock limit;
/// returns its standard output.
fn chromium(cfg: &Config, args: &[String]) -> Result<String, SiteError> {
    let profile = tempfile::tempdir().map_err(|e| SiteError::io(std::env::temp_dir(), e))?;
    let mut cmd = Command::new(&cfg.chromium);
    cmd.args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| SiteError::io(&cfg.chromium, e))?;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        s
    });
    let stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stderr {
            let _ = std::io::Read::read_to_string(&mut o, &mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child
            .try_wait()
            .map_err(|e| SiteError::io(&cfg.chromium, e))?
        {
            Some(s) => break s,
            None if start.elapsed() > cfg.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SiteError::Tool {
                    tool: "chromium".into(),
                    message: format!("no answer within {} s", cfg.timeout.as_secs()),
                });
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        return Err(SiteError::Tool {
            tool: "chromium".into(),
            message: format!(
                "exited with {status}: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    Ok(out)
}

/// Counts the Mermaid fences and image references of a Markdown post.
pub fn expected_counts(markdown: &str) -> (usize, usize) {
    let diagrams = markdown
        .lines()
        .filter(|l| l.trim() == "```mermaid")
        .count();
    let images = markdown.matches("![").count() - markdown.matches("\\![").count();
    (diagrams, images)
}

/// The figures the post shows, as site paths (`/assets/img/...svg`), in order of appearance.
pub fn figure_paths(markdown: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in markdown.split("](/").skip(1) {
        if let Some(path) = part.split(')').next()
            && path.ends_with(".svg")
            && !out.iter().any(|p| p[1..] == *path)
        {
            out.push(format!("/{path}"));
        }
    }
    out
}

/// The height an SVG declares, pixels.
fn svg_height(svg: &str) -> Option<u32> {
    let tag = svg.split("<svg").nth(1)?;
    let h = tag.split("height=\"").nth(1)?.split('"').next()?;
    h.trim_end_matches("px")
        .parse::<f64>()
        .ok()
        .map(|v| v.ceil() as u32)
}

/// A page that shows one figure as the post does, inside an evidence box in the 740 px column.
pub fn figure_page(src: &str, dark: bool) -> String {
    let body = format!(
        "<blockquote class=\"box-info\"><p><img src=\"{src}\" alt=\"figure\"></p></blockquote>"
    );
    page("", &body, dark)
}

/// Screenshots every figure at the column width, in light and dark mode, into `work/figures/`.
///
/// # Errors
/// A tool that fails to run, an unwritable folder.
fn figure_screenshots(
    cfg: &Config,
    server: &Server,
    figures: &[String],
) -> Result<Vec<PathBuf>, SiteError> {
    let dir = cfg.work.join("figures");
    std::fs::create_dir_all(&dir).map_err(|e| SiteError::io(&dir, e))?;
    let mut shots = Vec::new();
    for src in figures {
        let name = src
            .rsplit('/')
            .next()
            .unwrap_or("figure")
            .trim_end_matches(".svg");
        let file = cfg.site.join(src.trim_start_matches('/'));
        let height = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| svg_height(&s))
            .unwrap_or(600);
        for mode in ["light", "dark"] {
            let shot = dir.join(format!("{name}-{mode}.png"));
            let url = server.url(&format!("/figure-{mode}.html?src={src}"));
            chromium(
                cfg,
                &[
                    "--hide-scrollbars".to_owned(),
                    "--force-device-scale-factor=1".to_owned(),
                    format!("--window-size={},{}", COLUMN_WIDTH + 32, height + 110),
                    format!("--screenshot={}", shot.display()),
                    url,
                ],
            )?;
            shots.push(shot);
        }
    }
    Ok(shots)
}

/// The pages the check serves: the post in both modes, and the figure page in both modes (the
/// figure is chosen by the `src` query, read by a line of script).
fn pages(title: &str, html: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let pick = "<script>document.querySelector('img').src = new URLSearchParams(location.search).get('src');</script>";
    let mut pages = std::collections::BTreeMap::new();
    for (mode, dark) in [("light", false), ("dark", true)] {
        let post = if dark {
            "/post-dark.html".to_owned()
        } else {
            "/post.html".to_owned()
        };
        pages.insert(post, page(title, html, dark).into_bytes());
        let fig = figure_page("", dark).replace("</body>", &format!("{pick}</body>"));
        pages.insert(format!("/figure-{mode}.html"), fig.into_bytes());
    }
    pages
}

/// A full-page screenshot of `url` at `height` into `shot`.
fn page_screenshot(cfg: &Config, url: &str, height: u32, shot: &Path) -> Result<(), SiteError> {
    let _ = std::fs::remove_file(shot);
    chromium(
        cfg,
        &[
            "--virtual-time-budget=60000".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={SCREENSHOT_WIDTH},{height}"),
            format!("--screenshot={}", shot.display()),
            url.to_owned(),
        ],
    )
    .map(|_| ())
}

/// Runs the whole check on the committed post. The caller reports [`Report::problems`].
///
/// # Errors
/// Missing prerequisites ([`SiteError::Unavailable`]), a missing post, a tool that fails to run.
pub fn check_site(cfg: &Config) -> Result<Report, SiteError> {
    let missing = missing_prerequisites(cfg);
    if !missing.is_empty() {
        return Err(SiteError::Unavailable(missing));
    }
    let post_path = cfg.site.join(POST_FILE);
    let text = std::fs::read_to_string(&post_path).map_err(|e| SiteError::io(&post_path, e))?;
    let (title, body) = split_post(&text);
    let (html, kramdown_warnings) = kramdown(&cfg.ruby, &body)?;
    std::fs::create_dir_all(&cfg.work).map_err(|e| SiteError::io(&cfg.work, e))?;
    let page_file = cfg.work.join("post.html");
    std::fs::write(&page_file, page(&title, &html, false))
        .map_err(|e| SiteError::io(&page_file, e))?;
    let server = Server::start(Routes {
        pages: pages(&title, &html),
        mounts: vec![
            ("/assets/".to_owned(), cfg.site.join("assets")),
            ("/node_modules/".to_owned(), cfg.work.join("node_modules")),
        ],
    })
    .map_err(|e| SiteError::io("127.0.0.1", e))?;
    let url = server.url("/post.html");
    // Measure at the screenshot's width, so the height it reports is the screenshot's height.
    let dom = chromium(
        cfg,
        &[
            "--virtual-time-budget=60000".to_owned(),
            format!("--window-size={SCREENSHOT_WIDTH},900"),
            "--dump-dom".to_owned(),
            url.clone(),
        ],
    )?;
    let page = parse_dump(&dom).map_err(|m| SiteError::Tool {
        tool: "chromium".into(),
        message: m,
    })?;
    let (expected_diagrams, expected_images) = expected_counts(&body);
    let height = page.height.clamp(600, MAX_SCREENSHOT_HEIGHT);
    let shot = cfg.work.join("post.png");
    page_screenshot(cfg, &url, height, &shot)?;
    let dark_shot = cfg.work.join("post-dark.png");
    page_screenshot(cfg, &server.url("/post-dark.html"), height, &dark_shot)?;
    let figure_shots = figure_screenshots(cfg, &server, &figure_paths(&body))?;
    let mut missing_files = server.not_found();
    missing_files.sort();
    missing_files.dedup();
    Ok(Report {
        page,
        kramdown_warnings,
        expected_diagrams,
        expected_images,
        missing_files,
        screenshot: shot.is_file().then_some(shot),
        dark_screenshot: dark_shot.is_file().then_some(dark_shot),
        figure_screenshots: figure_shots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_read_back_from_the_dumped_dom() {
        let dom = r##"<html><body><main>x</main><pre id="check-report" hidden="">{"math":3,"math_errors":["Undefined control sequence \\foo in: a &lt; b"],"leftover_math":[],"diagrams":1,"diagram_errors":[],"images":2,"broken_images":[],"links":1,"broken_links":["#nope"],"height":5000,"fatal":null}</pre></body></html>"##;
        let r = parse_dump(dom).unwrap();
        assert_eq!(r.math, 3);
        assert_eq!(
            r.math_errors,
            vec!["Undefined control sequence \\foo in: a < b"]
        );
        assert_eq!(r.broken_links, vec!["#nope"]);
        assert_eq!(r.height, 5000);
        let empty = r#"<pre id="check-report" hidden=""></pre>"#;
        assert!(parse_dump(empty).unwrap_err().contains("time budget"));
        assert!(parse_dump("<html></html>").is_err());
    }

    #[test]
    fn problems_list_every_failure_kind() {
        let clean = Report {
            page: PageReport {
                math: 10,
                diagrams: 1,
                images: 2,
                links: 3,
                height: 900,
                ..PageReport::default()
            },
            expected_diagrams: 1,
            expected_images: 2,
            ..Report::default()
        };
        assert!(clean.problems().is_empty());
        let mut bad = clean.clone();
        bad.page
            .math_errors
            .push("Missing close brace in: {x".into());
        bad.page.broken_images.push("/assets/x.svg".into());
        bad.page.broken_links.push("#gone".into());
        bad.page.diagram_errors.push("Parse error on line 2".into());
        bad.page.diagrams = 0;
        bad.kramdown_warnings
            .push("Found no end tag for 'div'".into());
        let p = bad.problems();
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p.iter().any(|s| s.starts_with("MathJax error")));
        assert!(p.iter().any(|s| s.contains("naturalWidth 0")));
        assert!(p.iter().any(|s| s.contains("#gone")));
        assert!(p.iter().any(|s| s.starts_with("Mermaid error")));
        assert!(p.iter().any(|s| s.starts_with("Kramdown")));
        let mut short = clean;
        short.page.images = 1;
        assert_eq!(short.problems().len(), 1);
    }

    #[test]
    fn missing_tools_come_with_install_commands() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            root: dir.path().to_path_buf(),
            site: dir.path().join("site"),
            work: dir.path().join("target/check-site"),
            chromium: dir.path().join("no-chromium"),
            ruby: dir.path().join("no-ruby"),
            timeout: Duration::from_secs(1),
        };
        let m = missing_prerequisites(&cfg);
        assert_eq!(m.len(), 5, "{m:#?}");
        assert!(
            m[0].install
                .contains("apt-get install -y ruby-kramdown ruby-kramdown-parser-gfm")
        );
        assert!(m[1].install.contains("apt-get install -y chromium"));
        assert_eq!(
            m[2].install,
            format!("npm install --prefix target/check-site --no-audit --no-fund {NPM_PACKAGES}")
        );
    }

    #[test]
    fn posts_split_into_title_and_body() {
        let (t, b) = split_post("---\ntitle: \"A: B\"\nmath: true\n---\n<!-- mark -->\nText\n");
        assert_eq!(t, "A: B");
        assert_eq!(b, "<!-- mark -->\nText\n");
        assert_eq!(
            expected_counts("```mermaid\nx\n```\n![a](/b.svg) ![c](/d.svg)\n"),
            (1, 2)
        );
    }

    #[test]
    fn the_page_loads_both_libraries_and_the_check() {
        let p = page("T <1>", "<p>x</p>", false);
        assert!(p.contains("<title>T &lt;1&gt;</title>"));
        assert!(p.contains("/node_modules/mathjax/es5/tex-chtml.js"));
        assert!(p.contains("/node_modules/mermaid/dist/mermaid.min.js"));
        assert!(p.contains("'[-]': ['noundefined']"));
        assert!(p.contains("id=\"check-report\""));
    }
}
