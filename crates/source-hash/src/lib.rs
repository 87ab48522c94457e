//! Build-script helper that hashes a crate's own source files into the `SOURCE_HASH` environment variable.
//!
//! Result files record a `code_version` built from these hashes (see the result-file contract in
//! `claims/README.md`): it changes exactly when the code that produced a result changes, and it
//! does not depend on git, so a commit can contain the results of its own code. The runner also
//! hashes `Cargo.lock` ([`emit_file_hash`]), so a dependency bump changes it too.

use sha2::{Digest, Sha256};
use std::path::Path;

/// Hashes `Cargo.toml`, `build.rs` and every file under `src/` of the crate being built, in sorted
/// path order, and tells cargo to expose the hex digest as `SOURCE_HASH` and to rerun when any of
/// those files change. Call it from the crate's `build.rs`.
///
/// # Panics
/// Panics (failing the build with the message) when a source file cannot be read: a build script
/// has no better way to report it.
pub fn emit() {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let digest = hash_crate_sources(Path::new(&dir))
        .unwrap_or_else(|e| panic!("hashing sources of {dir}: {e}"));
    println!("cargo:rustc-env=SOURCE_HASH={digest}");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Hashes one file, `path` relative to the crate being built (for example `../../Cargo.lock`), and
/// tells cargo to expose the hex digest as the environment variable `var` and to rerun when the
/// file changes. A missing file hashes as `missing`.
pub fn emit_file_hash(var: &str, path: &str) {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let full = Path::new(&dir).join(path);
    let digest = std::fs::read(&full).map_or_else(
        |_| "missing".to_owned(),
        |bytes| hex(&Sha256::digest(&bytes)),
    );
    println!("cargo:rustc-env={var}={digest}");
    println!("cargo:rerun-if-changed={path}");
}

/// The SHA-256 of a crate's sources: for each file (relative path with `/` separators, sorted),
/// the path, a NUL, the length, a NUL and the bytes. Line endings are hashed as they are.
///
/// # Errors
/// Any I/O error while walking or reading the files.
pub fn hash_crate_sources(crate_dir: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    for name in ["Cargo.toml", "build.rs"] {
        let p = crate_dir.join(name);
        if p.is_file() {
            files.push(p);
        }
    }
    let src = crate_dir.join("src");
    if src.is_dir() {
        for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
            let entry = entry.map_err(std::io::Error::other)?;
            if entry.file_type().is_file() {
                files.push(entry.into_path());
            }
        }
    }
    let mut rel: Vec<(String, std::path::PathBuf)> = files
        .into_iter()
        .map(|p| {
            let r = p
                .strip_prefix(crate_dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            (r, p)
        })
        .collect();
    rel.sort();
    let mut hasher = Sha256::new();
    for (name, path) in rel {
        let bytes = std::fs::read(&path)?;
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update([0]);
        hasher.update(&bytes);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hexadecimal of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_content_and_is_stable() {
        let dir = tempdir();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(dir.join("src/lib.rs"), "fn a() {}\n").unwrap();
        let h1 = hash_crate_sources(&dir).unwrap();
        let h1_again = hash_crate_sources(&dir).unwrap();
        assert_eq!(h1, h1_again);
        assert_eq!(h1.len(), 64);
        std::fs::write(dir.join("src/lib.rs"), "fn b() {}\n").unwrap();
        let h2 = hash_crate_sources(&dir).unwrap();
        assert_ne!(h1, h2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("source-hash-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
