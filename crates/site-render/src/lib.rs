//! Renders the post "Stochastic Gradient Descent: Noise as a Design Feature" from the committed
//! evidence, and checks it.
//!
//! - [`data`]: result files, the timing file and prose partials, and the index templates use;
//! - [`filters`]: number and text formatting, defined once (`num`, `metric`, `pct`, ...);
//! - [`render`]: the minijinja environment (strict, debug, `{## ##}` comments) and the render;
//! - [`lint`]: every rule of `shared/POST.md`, checked on the rendered post;
//! - [`build`]: `build-site [--check]`, from evidence to the committed post;
//! - [`browser`] and [`serve`]: `check-site`, the post rendered by Kramdown, MathJax and Mermaid
//!   in headless Chromium.
//!
//! Invariants: nothing here runs an experiment; the post is written atomically and only after the
//! lint passes; the same evidence and templates always render the same bytes.

pub mod browser;
pub mod build;
pub mod data;
pub mod error;
pub mod filters;
pub mod lint;
pub mod render;
pub mod serve;

pub use error::{SiteError, TemplateError};

/// The post, relative to `site/`.
pub const POST_FILE: &str = "_posts/2025-05-31-sgd-noise-as-a-design-feature.md";

/// The sections of the post that can hold evidence boxes and prose partials (POST.md outline).
pub const SECTIONS: [&str; 10] = [
    "1.1", "1.2", "2.1", "2.2", "2.3", "3.1", "3.2", "4.1", "4.2", "5",
];

/// Every claim id of the catalog (`shared/CLAIMS.md`), in the order the post discusses them.
/// It only orders evidence boxes and tables; a claim missing here still appears, after these.
pub const CATALOG: [&str; 27] = [
    "gradient-unbiased",
    "minibatch-variance",
    "kramers-escape",
    "effective-temperature",
    "saddle-escape",
    "gibbs-stationary",
    "flat-basin-occupancy",
    "linear-stability-batch",
    "small-batch-flatter",
    "diversity-identity",
    "diversity-batch-knee",
    "critical-batch-size",
    "linear-scaling-rule",
    "batch-size-tradeoffs",
    "instability-remedies",
    "annealed-gradient-noise",
    "label-smoothing",
    "augmentation-invariance",
    "confusion-ball",
    "robbins-monro-schedules",
    "strongly-convex-rate",
    "convex-rate",
    "sgd-vs-gd-cost",
    "increase-batch-equals-decay",
    "three-regime-schedule",
    "implicit-curriculum",
    "sgd-as-bayes",
];
