//! Feature slugs (`kitty-specs/<slug>/`) and the prefix patterns used to select features.

use std::fmt;

/// A feature directory name that is safe to join under `kitty-specs/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("feature slug is empty")]
    Empty,
    #[error("feature slug {0:?} must be a single directory name under kitty-specs/ (no '/', '\\', '.' or '..')")]
    NotADirectoryName(String),
    #[error("feature slug {0:?} contains control characters")]
    ControlCharacters(String),
    #[error("feature slug is longer than 200 bytes")]
    TooLong,
}

impl FeatureSlug {
    pub fn parse(text: &str) -> Result<Self, SlugError> {
        if text.trim().is_empty() {
            return Err(SlugError::Empty);
        }
        if text.len() > 200 {
            return Err(SlugError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(SlugError::ControlCharacters(text.to_owned()));
        }
        if text.contains(['/', '\\']) || text.starts_with('.') || text != text.trim() {
            return Err(SlugError::NotADirectoryName(text.to_owned()));
        }
        Ok(FeatureSlug(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FeatureSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shell-style match supporting `*` and `?` (what upstream's `glob(f"{feature}*")` offers in practice).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_directory_names() {
        for ok in ["048-full-lifecycle-telemetry-events", "099-new-feature", "café", "a b"] {
            assert_eq!(FeatureSlug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_escapes() {
        assert_eq!(FeatureSlug::parse(""), Err(SlugError::Empty));
        assert_eq!(FeatureSlug::parse("  "), Err(SlugError::Empty));
        for bad in ["../escape", "..", ".", "a/b", "a\\b", "/abs", ".hidden", " padded"] {
            assert!(matches!(FeatureSlug::parse(bad), Err(SlugError::NotADirectoryName(_))), "{bad:?}");
        }
        assert!(matches!(FeatureSlug::parse("a\nb"), Err(SlugError::ControlCharacters(_))));
        assert_eq!(FeatureSlug::parse(&"x".repeat(201)), Err(SlugError::TooLong));
    }

    #[test]
    fn glob_matches_prefixes_and_wildcards() {
        assert!(glob_match("043*", "043-telemetry-foundation"));
        assert!(glob_match("04*", "048-x"));
        assert!(!glob_match("043*", "045-x"));
        assert!(glob_match("0?3-*-foundation*", "043-telemetry-foundation"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a", "ab"));
    }
}
