//! `SOURCE_HASH` covers this crate's sources, the network crate `mlp` it runs, and the data file,
//! so a result's `code_version` changes when any of them changes.

use sha2::{Digest, Sha256};
use std::path::Path;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    let own = source_hash::hash_crate_sources(dir).expect("hashing this crate's sources");
    let mlp = source_hash::hash_crate_sources(&dir.join("../mlp")).expect("hashing mlp's sources");
    let data = std::fs::read(dir.join("data/optdigits.tes")).expect("reading the data file");
    let combined = format!("{own}:{mlp}:{}", data.len());
    let mut hasher = Sha256::new();
    hasher.update(combined.as_bytes());
    hasher.update(&data);
    let digest = source_hash::hex(&hasher.finalize());
    println!("cargo:rustc-env=SOURCE_HASH={digest}");
    for p in [
        "src",
        "Cargo.toml",
        "build.rs",
        "data",
        "../mlp/src",
        "../mlp/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
}
