//! Step-size and batch-size schedules, indexed by the step number t = 0, 1, 2, ...

use crate::math::powf;

/// A step size eta_t.
#[derive(Clone, Debug, PartialEq)]
pub enum StepSize {
    /// eta_t = eta.
    Constant(f64),
    /// eta_t = a (t + t0)^(-p): Robbins–Monro style power decay.
    Power {
        /// Scale a.
        a: f64,
        /// Exponent p.
        p: f64,
        /// Offset t0 (t0 >= 1 keeps eta_0 finite).
        t0: f64,
    },
    /// Piecewise-constant stages: `values[k]` from step `starts[k]` on (`starts[0]` must be 0).
    Stages {
        /// First step of each stage, increasing, starting at 0.
        starts: Vec<u64>,
        /// Step size of each stage.
        values: Vec<f64>,
    },
}

impl StepSize {
    /// eta_t.
    pub fn at(&self, t: u64) -> f64 {
        match self {
            StepSize::Constant(eta) => *eta,
            StepSize::Power { a, p, t0 } => a * powf(t as f64 + t0, -p),
            StepSize::Stages { starts, values } => values[stage_index(starts, t)],
        }
    }
}

/// A batch size b_t.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchSize {
    /// b_t = b.
    Constant(usize),
    /// Piecewise-constant stages: `values[k]` from step `starts[k]` on.
    Stages {
        /// First step of each stage, increasing, starting at 0.
        starts: Vec<u64>,
        /// Batch size of each stage.
        values: Vec<usize>,
    },
}

impl BatchSize {
    /// b_t.
    pub fn at(&self, t: u64) -> usize {
        match self {
            BatchSize::Constant(b) => *b,
            BatchSize::Stages { starts, values } => values[stage_index(starts, t)],
        }
    }
}

/// The index of the last stage whose start is <= t.
fn stage_index(starts: &[u64], t: u64) -> usize {
    starts.partition_point(|&s| s <= t).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_evaluate() {
        assert_eq!(StepSize::Constant(0.1).at(7), 0.1);
        let p = StepSize::Power {
            a: 2.0,
            p: 1.0,
            t0: 1.0,
        };
        assert_eq!(p.at(0), 2.0);
        assert_eq!(p.at(3), 0.5);
        let s = StepSize::Stages {
            starts: vec![0, 10, 20],
            values: vec![0.4, 0.08, 0.016],
        };
        assert_eq!(s.at(0), 0.4);
        assert_eq!(s.at(9), 0.4);
        assert_eq!(s.at(10), 0.08);
        assert_eq!(s.at(25), 0.016);
        let b = BatchSize::Stages {
            starts: vec![0, 5],
            values: vec![16, 80],
        };
        assert_eq!(b.at(4), 16);
        assert_eq!(b.at(5), 80);
    }
}
