//! The one YAML entry point of the project: parsing into typed values, with the position and key
//! path of every error and the closest valid name for a misspelled key.
//!
//! serde_yaml is deprecated upstream; a maintained fork can replace it here, in one place.

use crate::names::closest;
use serde::de::DeserializeOwned;

/// A YAML parse error with its position (1-based) and the path of the key it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    /// 1-based column, when the parser knows it.
    pub column: Option<usize>,
    /// The key path (for example `params.trajectories`), when the message names one.
    pub key: Option<String>,
    /// The parser's message without the position.
    pub message: String,
    /// A valid key close to a misspelled one.
    pub suggestion: Option<String>,
}

/// Parses YAML into `T`. This is the only YAML entry point of the project, so a maintained fork of
/// serde_yaml can replace it in one place.
///
/// # Errors
/// The parse or type error, with position and key where known.
pub fn parse_yaml<T: DeserializeOwned>(source: &str) -> Result<T, YamlError> {
    serde_yaml::from_str(source).map_err(|e| {
        let location = e.location();
        let text = e.to_string();
        let message = match text.rfind(" at line ") {
            Some(k) => text[..k].to_owned(),
            None => text,
        };
        let (key, suggestion) = key_and_suggestion(&message);
        // The key is reported on its own; drop serde_yaml's "path: " prefix from the message.
        let message = match &key {
            Some(k) => message
                .strip_prefix(&format!("{k}: "))
                .map(str::to_owned)
                .unwrap_or(message),
            None => message,
        };
        YamlError {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            key,
            message,
            suggestion,
        }
    })
}

/// Extracts the key path a serde message is about, and for an unknown field the closest expected one.
fn key_and_suggestion(message: &str) -> (Option<String>, Option<String>) {
    // serde_yaml prefixes errors inside nested values with their path: "params.eta: invalid type ...".
    let (path, rest) = match message.split_once(": ") {
        Some((p, r))
            if !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c)) =>
        {
            (Some(p.to_owned()), r)
        }
        _ => (None, message),
    };
    let backticked: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let join = |field: &str| match &path {
        Some(p) => format!("{p}.{field}"),
        None => field.to_owned(),
    };
    if rest.starts_with("unknown field")
        && let Some(field) = backticked.first()
    {
        let suggestion = closest(field, backticked.iter().skip(1).copied()).map(str::to_owned);
        return (Some(join(field)), suggestion);
    }
    if rest.starts_with("missing field")
        && let Some(field) = backticked.first()
    {
        return (Some(join(field)), None);
    }
    if rest.starts_with("unknown variant")
        && let Some(v) = backticked.first()
    {
        let suggestion = closest(v, backticked.iter().skip(1).copied()).map(str::to_owned);
        return (path, suggestion);
    }
    (path, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_carry_position_key_and_suggestion() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            title: String,
            seed: u64,
        }
        let e = parse_yaml::<T>("title: a\nsede: 3\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("sede"));
        assert_eq!(e.suggestion.as_deref(), Some("seed"));
        let e = parse_yaml::<T>("title: a\nseed: many\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("seed"));
        let e = parse_yaml::<T>("title: a\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("seed"));
        let e = parse_yaml::<T>("title: [\n").unwrap_err();
        assert!(e.line.is_some());
    }
}
