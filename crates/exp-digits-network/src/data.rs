//! The digits data: UCI optdigits.tes (Alpaydin and Kaynak 1998), 1,797 images of 8x8 pixels with
//! values 0..16 and a class 0..9, committed under `data/` with its source and license.
//!
//! Loading checks the SHA-256, the shape, the pixel range and the class counts, and refuses a
//! changed or truncated file. One fixed, seeded, stratified split gives 1,024 training images and
//! 773 test images; preprocessing divides pixels by 16 and centres them on the training mean.

use sgd_sim::rng::{Streams, shuffle};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// The committed file, as bytes.
const RAW: &[u8] = include_bytes!("../data/optdigits.tes");

/// Its SHA-256 (three public copies and scikit-learn's `digits.csv.gz` agree on its values).
pub const DATA_SHA256: &str = "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8";

/// Images in the file.
pub const IMAGES: usize = 1797;
/// Pixels per image.
pub const PIXELS: usize = 64;
/// Classes.
pub const CLASSES: usize = 10;
/// Images of each class in optdigits.tes (UCI's documentation).
pub const CLASS_COUNTS: [usize; CLASSES] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
/// Training images: every batch size used (powers of two up to 1024) divides it.
pub const TRAIN: usize = 1024;

/// Raw images and labels, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct RawDigits {
    /// Pixels 0..16, image by image.
    pub pixels: Vec<u8>,
    /// Classes 0..9.
    pub labels: Vec<usize>,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses and validates the file's bytes.
///
/// # Errors
/// A message naming what is wrong: the hash, a line, a value, the shape or the class counts.
pub fn parse(bytes: &[u8]) -> Result<RawDigits, String> {
    let hash = sha256_hex(bytes);
    if hash != DATA_SHA256 {
        return Err(format!(
            "data/optdigits.tes has SHA-256 {hash}, expected {DATA_SHA256}: the file was changed or truncated"
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut pixels = Vec::with_capacity(IMAGES * PIXELS);
    let mut labels = Vec::with_capacity(IMAGES);
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(format!(
                "line {}: {} fields, expected {}",
                n + 1,
                fields.len(),
                PIXELS + 1
            ));
        }
        for f in &fields[..PIXELS] {
            match f.parse::<u8>() {
                Ok(v) if v <= 16 => pixels.push(v),
                _ => return Err(format!("line {}: pixel {f:?} outside 0..16", n + 1)),
            }
        }
        match fields[PIXELS].parse::<usize>() {
            Ok(c) if c < CLASSES => labels.push(c),
            _ => {
                return Err(format!(
                    "line {}: class {:?} outside 0..9",
                    n + 1,
                    fields[PIXELS]
                ));
            }
        }
    }
    check_shape(&labels)?;
    Ok(RawDigits { pixels, labels })
}

fn check_shape(labels: &[usize]) -> Result<(), String> {
    if labels.len() != IMAGES {
        return Err(format!("{} images, expected {IMAGES}", labels.len()));
    }
    let mut counts = [0usize; CLASSES];
    for &c in labels {
        counts[c] += 1;
    }
    if counts != CLASS_COUNTS {
        return Err(format!(
            "class counts {counts:?}, expected {CLASS_COUNTS:?}"
        ));
    }
    Ok(())
}

/// The committed data, parsed once.
///
/// # Errors
/// When the committed file fails validation.
pub fn raw() -> Result<&'static RawDigits, String> {
    static CELL: OnceLock<Result<RawDigits, String>> = OnceLock::new();
    CELL.get_or_init(|| parse(RAW))
        .as_ref()
        .map_err(Clone::clone)
}

/// The split and preprocessed data a kind trains and tests on.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    /// Training inputs, `TRAIN x PIXELS`, pixels / 16 minus the training mean.
    pub train_x: Vec<f64>,
    /// Training labels.
    pub train_y: Vec<usize>,
    /// Test inputs, preprocessed with the training mean.
    pub test_x: Vec<f64>,
    /// Test labels.
    pub test_y: Vec<usize>,
    /// The split's seed.
    pub split_seed: u64,
    /// SHA-256 of the training indices (little-endian u32, in training order).
    pub split_sha256: String,
}

/// The stratified split: each class's images are shuffled by the split seed and the first
/// `round(TRAIN n_c / IMAGES)` (largest remainders make the total TRAIN) go to training.
pub fn split_indices(labels: &[usize], split_seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); CLASSES];
    for (i, &c) in labels.iter().enumerate() {
        by_class[c].push(i);
    }
    let quota = |c: usize| by_class[c].len() * TRAIN;
    let mut take: Vec<usize> = (0..CLASSES).map(|c| quota(c) / labels.len()).collect();
    let mut order: Vec<usize> = (0..CLASSES).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(quota(c) % labels.len()), c));
    let short = TRAIN - take.iter().sum::<usize>();
    for &c in order.iter().take(short) {
        take[c] += 1;
    }
    let streams = Streams::new(split_seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (c, idx) in by_class.iter_mut().enumerate() {
        let mut rng = streams.stream("digits/split", c as u64);
        shuffle(&mut rng, idx);
        train.extend_from_slice(&idx[..take[c]]);
        test.extend_from_slice(&idx[take[c]..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Splits and preprocesses the committed data.
///
/// # Errors
/// When the committed file fails validation.
pub fn load(split_seed: u64) -> Result<Digits, String> {
    let raw = raw()?;
    let (train, test) = split_indices(&raw.labels, split_seed);
    let mut mean = [0.0f64; PIXELS];
    for &i in &train {
        for (p, m) in mean.iter_mut().enumerate() {
            *m += f64::from(raw.pixels[i * PIXELS + p]) / 16.0;
        }
    }
    for m in &mut mean {
        *m /= TRAIN as f64;
    }
    let rows = |idx: &[usize]| -> Vec<f64> {
        idx.iter()
            .flat_map(|&i| (0..PIXELS).map(move |p| (i, p)))
            .map(|(i, p)| f64::from(raw.pixels[i * PIXELS + p]) / 16.0 - mean[p])
            .collect()
    };
    let bytes: Vec<u8> = train
        .iter()
        .flat_map(|&i| (i as u32).to_le_bytes())
        .collect();
    Ok(Digits {
        train_x: rows(&train),
        train_y: train.iter().map(|&i| raw.labels[i]).collect(),
        test_x: rows(&test),
        test_y: test.iter().map(|&i| raw.labels[i]).collect(),
        split_seed,
        split_sha256: sha256_hex(&bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_file_loads_with_its_shape_and_counts() {
        let raw = raw().unwrap();
        assert_eq!(raw.pixels.len(), IMAGES * PIXELS);
        assert!(raw.pixels.iter().all(|&p| p <= 16));
        assert_eq!(raw.labels[0], 0);
    }

    #[test]
    fn a_changed_or_truncated_file_is_refused() {
        let truncated = &RAW[..RAW.len() - 100];
        assert!(parse(truncated).unwrap_err().contains("SHA-256"));
        let mut changed = RAW.to_vec();
        changed[0] = b'1';
        assert!(
            parse(&changed)
                .unwrap_err()
                .contains("changed or truncated")
        );
        // Past the hash, the content checks name the problem.
        assert!(check_shape(&[0; 10]).unwrap_err().contains("10 images"));
        let mut labels: Vec<usize> = raw().unwrap().labels.clone();
        labels[0] = 1;
        assert!(check_shape(&labels).unwrap_err().contains("class counts"));
    }

    #[test]
    fn the_split_is_stratified_fixed_and_centred() {
        let d = load(19).unwrap();
        assert_eq!((d.train_y.len(), d.test_y.len()), (TRAIN, IMAGES - TRAIN));
        assert_eq!(d.train_x.len(), TRAIN * PIXELS);
        let mut counts = [0usize; CLASSES];
        for &c in &d.train_y {
            counts[c] += 1;
        }
        for c in 0..CLASSES {
            let ideal = CLASS_COUNTS[c] as f64 * TRAIN as f64 / IMAGES as f64;
            assert!(
                (counts[c] as f64 - ideal).abs() < 1.0,
                "class {c}: {}",
                counts[c]
            );
        }
        for p in 0..PIXELS {
            let m: f64 = (0..TRAIN).map(|r| d.train_x[r * PIXELS + p]).sum::<f64>() / TRAIN as f64;
            assert!(m.abs() < 1e-12);
        }
        assert_eq!(load(19).unwrap().split_sha256, d.split_sha256);
        assert_ne!(load(20).unwrap().split_sha256, d.split_sha256);
    }
}
