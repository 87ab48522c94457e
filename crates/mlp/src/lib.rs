//! A one-hidden-layer tanh network with softmax cross-entropy, for the digits claims of sgd-claims.
//!
//! - [`net`]: shapes, parameter layout, initialization, forward pass and hand-written
//!   backpropagation (with optional label smoothing and a dropout mask);
//! - [`hessian`]: exact Hessian-vector products (forward over reverse) and the Lanczos top
//!   eigenvalue of the Hessian (the sharpness).
//!
//! Every sum runs in a fixed order (no run-time dispatched kernels, transcendental functions from
//! `sgd_sim::math`), so results are the same bits whatever the thread count and, as far as libm
//! allows, on every machine.

pub mod hessian;
pub mod net;

pub use hessian::{TopEigen, hvp, lanczos_top};
pub use net::{Batch, Shape, Workspace, logits, loss, loss_grad};

/// Hash of this crate's sources, part of the `code_version` of the results that use it.
pub const SOURCE_HASH: &str = env!("SOURCE_HASH");

/// One plain SGD update w <- w - eta g.
pub fn sgd_update(w: &mut [f64], grad: &[f64], eta: f64) {
    for (wi, gi) in w.iter_mut().zip(grad) {
        *wi -= eta * gi;
    }
}

#[cfg(test)]
mod tests;
