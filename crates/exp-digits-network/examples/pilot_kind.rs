//! Runs one kind at its default parameters on a pilot seed (not a claim's seed) and prints its
//! metrics and the CPU time, to size the claim files. Not part of any result.
//!
//! `cargo run -p exp-digits-network --example pilot_kind -- <kind> [seed] [seeds]`

use claim_spec::experiment::run_experiment;
use claim_spec::{Experiment, RunContext};
use exp_digits_network::{
    critical_batch, generalization_gap, label_smoothing, linear_scaling, noise_regularizers,
    small_batch_flatter,
};

fn show<E: Experiment>(mut p: E::Params, ctx: &RunContext, seeds: Option<usize>) {
    if let Some(s) = seeds {
        let mut v = serde_json::to_value(&p).unwrap_or_default();
        v["seeds"] = s.into();
        p = serde_json::from_value(v).unwrap_or(p);
    }
    let t0 = std::time::Instant::now();
    let out = run_experiment::<E>(&p, ctx).unwrap_or_else(|e| panic!("{e}"));
    for (k, m) in &out.metrics {
        println!("{k:48} {:>12.5}  {:?}", m.value, m.ci);
    }
    for (name, t) in &out.tables {
        if name != "data" && t.rows.len() <= 40 {
            println!("table {name}: {:?}", t.columns);
            for r in &t.rows {
                println!("  {}", serde_json::to_string(r).unwrap_or_default());
            }
        }
    }
    eprintln!("wall {:?}, samples {}", t0.elapsed(), out.samples);
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let seed = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(777);
    let seeds = a.get(2).and_then(|s| s.parse().ok());
    let ctx = RunContext::new("pilot", seed);
    match a.first().map(String::as_str) {
        Some("flatter") => {
            show::<small_batch_flatter::SmallBatchFlatter>(Default::default(), &ctx, seeds)
        }
        Some("gap") => {
            show::<generalization_gap::GeneralizationGap>(Default::default(), &ctx, seeds)
        }
        Some("scaling") => show::<linear_scaling::LinearScaling>(Default::default(), &ctx, seeds),
        Some("critical") => show::<critical_batch::CriticalBatch>(Default::default(), &ctx, seeds),
        Some("smoothing") => {
            show::<label_smoothing::LabelSmoothing>(Default::default(), &ctx, seeds)
        }
        Some("noise") => {
            show::<noise_regularizers::NoiseRegularizers>(Default::default(), &ctx, seeds)
        }
        _ => eprintln!("kind: flatter | gap | scaling | critical | smoothing | noise"),
    }
}
