//! The claim-file types (the contract is described in `claims/README.md`). Unknown keys are
//! errors everywhere.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A verdict on the post's wording: computed from the wording checks, never typed in.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The primary wording check's interval lies wholly on the claimed side of its bound, and no
    /// other wording check failed.
    Supported,
    /// The claim holds only in a refined form (see the note).
    Refined,
    /// The measurement contradicts the post's wording.
    Contradicted,
    /// The primary wording check's interval straddles its bound: the measurement cannot decide.
    Inconclusive,
}

impl Verdict {
    /// The lowercase name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Refined => "refined",
            Verdict::Contradicted => "contradicted",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Every verdict, in the order the post explains them.
    pub const ALL: [Verdict; 4] = [
        Verdict::Supported,
        Verdict::Refined,
        Verdict::Contradicted,
        Verdict::Inconclusive,
    ];
}

/// One claim file, `claims/<family>/<id>.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimFile {
    /// The claim id; equals the file stem. Lowercase letters, digits and dashes.
    pub id: String,
    /// A one-line title.
    pub title: String,
    /// The post section whose evidence box shows this claim, for example "2.1".
    pub section: String,
    /// Other sections that refer to this claim by link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_in: Vec<String>,
    /// What the post claims, in this project's words.
    pub statement: String,
    /// The expected verdict: a regression guard; the runner computes the verdict and fails the
    /// claim when they differ.
    pub verdict: Verdict,
    /// One sentence on what the measurement shows, shown in the evidence box when the verdict is
    /// not supported. Numbers and parameters appear only as placeholders (`{metrics.NAME}`,
    /// `{params.KEY}`), never typed by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Longer explanation for the collapsed part of the evidence box (Markdown, placeholders as in
    /// `note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The registered experiment kind, `<family>/<name>`.
    pub experiment: String,
    /// The claim seed every random stream derives from.
    pub seed: u64,
    /// The statement is a mathematical identity: its wording check compares a measurement with the
    /// identity, and the post's badge reads "verified identity".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// Experiment-specific parameters, typed by the kind; unknown keys are errors.
    #[serde(default)]
    #[schemars(with = "serde_json::Value")]
    pub params: serde_yaml::Value,
    /// The measured statement: every check must pass for the claim to pass.
    pub checks: Vec<CheckSpec>,
    /// Checks of the post's literal wording: they set the verdict, never fail the claim.
    #[serde(default)]
    pub wording: Vec<CheckSpec>,
    /// Figures the experiment draws, in the order the post shows them.
    #[serde(default)]
    pub figures: Vec<FigureRef>,
    /// Every change to a bound or a standard-error method made after any result was seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
}

/// A change to a bound or method made after a result was seen, with its reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    /// The check or method that changed (a metric name, or "standard error of ...").
    pub what: String,
    /// What changed, from what to what.
    pub change: String,
    /// Why: the principle behind the change, not the result that prompted it.
    pub reason: String,
}

/// A bound on one metric. Exactly one of `at_most`, `at_least`, `between`, `approx` is given;
/// wording checks also give `if_fails`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// The metric's name in the experiment's outcome.
    pub metric: String,
    /// What the metric is, in plain words for readers of the post ("largest relative error of
    /// the escape time").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Passes when value <= at_most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// Passes when value >= at_least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// Passes when between[0] <= value <= between[1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[f64; 2]>,
    /// Passes when value is within a relative or absolute tolerance of a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approx: Option<Approx>,
    /// Wording checks only: the verdict when this check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_fails: Option<Verdict>,
    /// Wording checks only: this is the claim's primary wording check, which tests the post's
    /// literal statement and decides the verdict. Exactly one per claim.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
    /// Primary check only: the value of the metric that the statement implies, stated before any
    /// run (the effect the design must be able to show).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<f64>,
    /// Primary check only: the standard error of the metric that the design is expected to give
    /// (from theory or a pilot on other seeds), from which the power is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_se: Option<f64>,
    /// A computed metric the post shows beside this one as its theory value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<String>,
}

/// `{ value, rel }` or `{ value, abs }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approx {
    /// The reference value.
    pub value: f64,
    /// Relative tolerance: |x - value| <= rel |value|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<f64>,
    /// Absolute tolerance: |x - value| <= abs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<f64>,
}

/// A well-formed bound, as the result file records it: `{"at_most": 0.07}`,
/// `{"between": [0.92, 1.02]}`, `{"approx": {"value": 1.0, "rel": 0.03}}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// value <= limit.
    AtMost(f64),
    /// value >= limit.
    AtLeast(f64),
    /// lo <= value <= hi.
    Between([f64; 2]),
    /// |value - reference| <= rel |reference| or <= abs.
    Approx(Approx),
}

/// Where an interval lies relative to a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Wholly on the claimed side.
    Pass,
    /// Wholly on the other side.
    Fail,
    /// Across the bound.
    Inconclusive,
}

impl Bound {
    /// The accepted region as [lo, hi] (infinite where open).
    pub fn region(&self) -> [f64; 2] {
        match *self {
            Bound::AtMost(m) => [f64::NEG_INFINITY, m],
            Bound::AtLeast(m) => [m, f64::INFINITY],
            Bound::Between(r) => r,
            Bound::Approx(a) => {
                let tol = a.rel.map_or(a.abs.unwrap_or(0.0), |r| r * a.value.abs());
                [a.value - tol, a.value + tol]
            }
        }
    }

    /// Whether `value` satisfies the bound (a non-finite value never does).
    pub fn holds(&self, value: f64) -> bool {
        if !value.is_finite() {
            return false;
        }
        match *self {
            Bound::Approx(a) => match (a.rel, a.abs) {
                (Some(r), _) => (value - a.value).abs() <= r * a.value.abs(),
                (None, t) => (value - a.value).abs() <= t.unwrap_or(0.0),
            },
            _ => {
                let [lo, hi] = self.region();
                lo <= value && value <= hi
            }
        }
    }

    /// Where the interval [lo, hi] lies: wholly inside the accepted region (pass), wholly outside
    /// it (fail), or across its edge (inconclusive).
    pub fn side(&self, interval: [f64; 2]) -> Side {
        let [a, b] = self.region();
        let [lo, hi] = interval;
        if !(lo.is_finite() && hi.is_finite()) {
            return Side::Inconclusive;
        }
        if a <= lo && hi <= b {
            Side::Pass
        } else if hi < a || lo > b {
            Side::Fail
        } else {
            Side::Inconclusive
        }
    }

    /// The bound in messages, for example `between [0.92, 1.02]`.
    pub fn describe(&self) -> String {
        let n = format_number;
        match *self {
            Bound::AtMost(m) => format!("at_most {}", n(m)),
            Bound::AtLeast(m) => format!("at_least {}", n(m)),
            Bound::Between([lo, hi]) => format!("between [{}, {}]", n(lo), n(hi)),
            Bound::Approx(Approx {
                value,
                rel: Some(r),
                ..
            }) => format!("approx {} (rel {})", n(value), n(r)),
            Bound::Approx(a) => format!("approx {} (abs {})", n(a.value), n(a.abs.unwrap_or(0.0))),
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A number as written in bounds: shortest round-trip decimal, in exponent form when very small
/// or very large (`1e-12`, not `0.000000000001`).
pub fn format_number(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e7) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

impl CheckSpec {
    /// The bound this check states.
    ///
    /// # Errors
    /// A message when not exactly one bound is given, a number is not finite, an interval is
    /// reversed, or a tolerance is negative or doubly given.
    pub fn bound(&self) -> Result<Bound, String> {
        let given = [
            self.at_most.is_some(),
            self.at_least.is_some(),
            self.between.is_some(),
            self.approx.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(format!(
                "check on `{}` must give exactly one of at_most, at_least, between, approx (found {given})",
                self.metric
            ));
        }
        let finite = |x: f64, what: &str| {
            if x.is_finite() {
                Ok(x)
            } else {
                Err(format!(
                    "check on `{}`: {what} must be a finite number",
                    self.metric
                ))
            }
        };
        if let Some(m) = self.at_most {
            return Ok(Bound::AtMost(finite(m, "at_most")?));
        }
        if let Some(m) = self.at_least {
            return Ok(Bound::AtLeast(finite(m, "at_least")?));
        }
        if let Some([lo, hi]) = self.between {
            let (lo, hi) = (finite(lo, "between")?, finite(hi, "between")?);
            if lo > hi {
                return Err(format!(
                    "check on `{}`: between [{lo}, {hi}] is reversed",
                    self.metric
                ));
            }
            return Ok(Bound::Between([lo, hi]));
        }
        let Some(a) = self.approx else {
            return Err(format!("check on `{}` gives no bound", self.metric));
        };
        finite(a.value, "approx.value")?;
        match (a.rel, a.abs) {
            (Some(r), None) if r.is_finite() && r >= 0.0 => Ok(Bound::Approx(a)),
            (None, Some(t)) if t.is_finite() && t >= 0.0 => Ok(Bound::Approx(a)),
            (Some(_), Some(_)) | (None, None) => Err(format!(
                "check on `{}`: approx needs exactly one of rel, abs",
                self.metric
            )),
            _ => Err(format!(
                "check on `{}`: approx tolerance must be finite and non-negative",
                self.metric
            )),
        }
    }
}

/// A figure the experiment draws: `site/assets/img/posts/<post>/<id>-<name>.svg`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FigureRef {
    /// The figure's name within the claim: lowercase letters, digits and dashes.
    pub name: String,
    /// The caption shown under the figure in the post: what a reader should see in it, at most
    /// 60 words, placeholders for every number.
    pub caption: String,
    /// The image's alt text: at most 12 words, not a copy of the caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(at_most: Option<f64>, between: Option<[f64; 2]>, approx: Option<Approx>) -> CheckSpec {
        CheckSpec {
            metric: "m".into(),
            at_most,
            at_least: None,
            between,
            approx,
            if_fails: None,
            primary: false,
            effect: None,
            design_se: None,
            theory: None,
            label: None,
        }
    }

    fn approx(value: f64, rel: Option<f64>, abs: Option<f64>) -> Bound {
        Bound::Approx(Approx { value, rel, abs })
    }

    #[test]
    fn bounds_hold_as_stated() {
        assert!(Bound::AtMost(1.0).holds(1.0) && !Bound::AtMost(1.0).holds(1.0 + 1e-12));
        assert!(Bound::AtLeast(2.0).holds(2.5) && !Bound::AtLeast(2.0).holds(1.9));
        let between = Bound::Between([0.9, 1.1]);
        assert!(between.holds(0.9) && !between.holds(1.2));
        let rel = approx(2.0, Some(0.1), None);
        assert!(rel.holds(2.19) && !rel.holds(2.21));
        let abs = approx(0.0, None, Some(0.5));
        assert!(abs.holds(-0.5) && !abs.holds(0.6));
        assert!(!Bound::AtMost(1.0).holds(f64::NAN) && !Bound::AtLeast(0.0).holds(f64::INFINITY));
    }

    #[test]
    fn intervals_lie_on_one_side_or_across() {
        let b = Bound::AtLeast(1.0);
        assert_eq!(b.side([1.01, 1.2]), Side::Pass);
        assert_eq!(b.side([0.8, 0.99]), Side::Fail);
        assert_eq!(b.side([0.9, 1.1]), Side::Inconclusive);
        let b = Bound::Between([0.9, 1.1]);
        assert_eq!(b.side([0.95, 1.05]), Side::Pass);
        assert_eq!(b.side([1.2, 1.3]), Side::Fail);
        assert_eq!(b.side([1.05, 1.15]), Side::Inconclusive);
        assert_eq!(approx(1.0, Some(0.1), None).side([0.85, 0.89]), Side::Fail);
        assert_eq!(Bound::AtMost(0.0).side([f64::NAN, 1.0]), Side::Inconclusive);
    }

    #[test]
    fn bounds_serialize_as_in_claim_files() {
        let s = serde_json::to_string(&Bound::Between([0.92, 1.02])).unwrap();
        assert_eq!(s, r#"{"between":[0.92,1.02]}"#);
        let s = serde_json::to_string(&approx(1.0, Some(0.03), None)).unwrap();
        assert_eq!(s, r#"{"approx":{"value":1.0,"rel":0.03}}"#);
        let back: Bound = serde_json::from_str(r#"{"at_most":0.07}"#).unwrap();
        assert_eq!(back, Bound::AtMost(0.07));
    }

    #[test]
    fn malformed_bounds_are_rejected() {
        assert!(spec(None, None, None).bound().is_err());
        assert!(spec(Some(1.0), Some([0.0, 1.0]), None).bound().is_err());
        assert!(spec(None, Some([2.0, 1.0]), None).bound().is_err());
        assert!(spec(Some(f64::NAN), None, None).bound().is_err());
        let both = Approx {
            value: 1.0,
            rel: Some(0.1),
            abs: Some(0.1),
        };
        assert!(spec(None, None, Some(both)).bound().is_err());
        let neg = Approx {
            value: 1.0,
            rel: Some(-0.1),
            abs: None,
        };
        assert!(spec(None, None, Some(neg)).bound().is_err());
        assert_eq!(
            spec(None, Some([0.92, 1.02]), None)
                .bound()
                .unwrap()
                .describe(),
            "between [0.92, 1.02]"
        );
        assert_eq!(
            spec(Some(1e-12), None, None).bound().unwrap().describe(),
            "at_most 1e-12"
        );
        assert_eq!(format_number(4.0), "4");
    }
}
