//! Renders the post "Stochastic Gradient Descent: Noise as a Design Feature" from the committed
//! evidence, and checks it.
//!
//! - [`data`]: result files, the timing file and prose partials, and the index templates use;
//! - [`filters`]: number and text formatting, defined once (`num`, `metric`, `pct`, ...);
//! - [`render`]: the minijinja environment (strict, debug, `{## ##}` comments) and the render;
//! - [`numbers`]: the post's one number rule;
//! - [`view`]: what an evidence box shows, with placeholders filled in from the result;
//! - [`lint`]: the post's Markdown, math and reader's-budget rules, checked on the rendered post;
//! - [`budget`]: the reader's budget (words, boxes, captions, metric ids, formulas once);
//! - [`build`]: `build-site [--check]`, from evidence to the committed post;
//! - [`browser`] and [`serve`]: `check-site`, the post rendered by Kramdown, MathJax and Mermaid
//!   in headless Chromium.
//!
//! Invariants: nothing here runs an experiment; the post is written atomically and only after the
//! lint passes; the same evidence and templates always render the same bytes.

pub mod browser;
pub mod budget;
pub mod build;
pub mod data;
pub mod error;
pub mod filters;
pub mod lint;
pub mod numbers;
pub mod render;
pub mod serve;
pub mod view;

pub use error::{SiteError, TemplateError};

/// The post, relative to `site/`.
pub const POST_FILE: &str = "_posts/2025-05-31-sgd-noise-as-a-design-feature.md";
