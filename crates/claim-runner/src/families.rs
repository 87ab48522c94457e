//! The one list of experiment families. Adding a family crate is one line here (and one in the
//! workspace `Cargo.toml`); adding a kind to a family touches only that family's crate.

use claim_spec::Registry;
use sha2::{Digest, Sha256};

/// A family crate: its name, its registration function and the hash of its sources.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// The family name, which is also its folder under `claims/`.
    pub name: &'static str,
    /// Registers the family's kinds.
    pub register: fn(&mut Registry),
    /// Hash of the family crate's sources.
    pub source_hash: &'static str,
}

/// Every family, in catalog order.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "minibatch-noise",
        register: exp_minibatch_noise::register,
        source_hash: exp_minibatch_noise::SOURCE_HASH,
    },
    Family {
        name: "escape-rates",
        register: exp_escape_rates::register,
        source_hash: exp_escape_rates::SOURCE_HASH,
    },
    Family {
        name: "flat-minima",
        register: exp_flat_minima::register,
        source_hash: exp_flat_minima::SOURCE_HASH,
    },
    Family {
        name: "gradient-diversity",
        register: exp_gradient_diversity::register,
        source_hash: exp_gradient_diversity::SOURCE_HASH,
    },
    Family {
        name: "scaling-rules",
        register: exp_scaling_rules::register,
        source_hash: exp_scaling_rules::SOURCE_HASH,
    },
    Family {
        name: "noise-engineering",
        register: exp_noise_engineering::register,
        source_hash: exp_noise_engineering::SOURCE_HASH,
    },
    Family {
        name: "convergence-rates",
        register: exp_convergence_rates::register,
        source_hash: exp_convergence_rates::SOURCE_HASH,
    },
    Family {
        name: "training-phases",
        register: exp_training_phases::register,
        source_hash: exp_training_phases::SOURCE_HASH,
    },
    Family {
        name: "digits-network",
        register: exp_digits_network::register,
        source_hash: exp_digits_network::SOURCE_HASH,
    },
];

/// A registry with every kind of every family.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    for f in FAMILIES {
        (f.register)(&mut r);
    }
    r
}

/// Hash of the runner's own sources (it composes, evaluates and writes every result).
pub const RUNNER_SOURCE_HASH: &str = env!("SOURCE_HASH");

/// Hash of the workspace's `Cargo.lock`: a dependency bump can change results.
pub const CARGO_LOCK_HASH: &str = env!("CARGO_LOCK_HASH");

/// The `code_version` of results of `family`: a hash of the family crate's sources, of the crates
/// that produce its outputs (the simulation core, the claim contract, the figures and this
/// runner) and of `Cargo.lock`.
pub fn code_version(family: &str) -> String {
    let family_hash = FAMILIES
        .iter()
        .find(|f| f.name == family)
        .map_or("unknown-family", |f| f.source_hash);
    let digest = Sha256::digest(
        format!(
            "{family}:{family_hash}:{}:{}:{}:{RUNNER_SOURCE_HASH}:{CARGO_LOCK_HASH}",
            sgd_sim::SOURCE_HASH,
            claim_spec::SOURCE_HASH,
            figures::SOURCE_HASH
        )
        .as_bytes(),
    );
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_belongs_to_its_family() {
        for f in FAMILIES {
            let mut r = Registry::new();
            (f.register)(&mut r);
            assert!(r.kinds().count() > 0, "family {} registers nothing", f.name);
            for k in r.kinds() {
                assert!(
                    k.name.starts_with(&format!("{}/", f.name)),
                    "{} registered by {}",
                    k.name,
                    f.name
                );
            }
        }
        // Registering everything at once must not collide (Registry::add panics on duplicates).
        let _ = registry();
    }

    #[test]
    fn code_versions_differ_by_family_and_are_stable() {
        assert_eq!(
            code_version("minibatch-noise"),
            code_version("minibatch-noise")
        );
        assert_ne!(code_version("minibatch-noise"), code_version("unknown"));
        assert_eq!(code_version("minibatch-noise").len(), 16);
    }
}
