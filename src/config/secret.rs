//! [`Secret`]: a password or token from the config that never shows in logs. Its `Debug`
//! prints `<redacted>` and it has no `Display`, so a config struct holding one can be logged
//! with `{:?}` (or end up in a panic message) without giving the secret away; the value is
//! read only through [`Secret::expose`], at the one place that hands it to a protocol.

use serde::Deserialize;

/// A secret string (MQTT password, token). Compare, clone and deserialize it like a string;
/// print it and you get `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the protocol that needs it. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_struct_holding_a_secret_shows_no_secret() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            user: &'static str,
            password: Option<Secret>,
        }
        let h = Holder { user: "edge", password: Some("hunter2-xyz".into()) };
        let shown = format!("{h:?} {h:#?}");
        assert!(!shown.contains("hunter2-xyz"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert_eq!(h.password.as_ref().map(Secret::expose), Some("hunter2-xyz"));
    }
}
