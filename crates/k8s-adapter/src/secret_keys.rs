//! Reading a Secret's key names from the API server's answer while skipping every value.
//!
//! The values are never deserialized into anything: serde skips them (`IgnoredAny`), so no
//! type, error message or log line of the adapter can hold one. kube's `Client::request`
//! is not used for Secrets because it logs the whole body when parsing fails.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A Secret reduced to the names of its keys (`data`, and `stringData` should a server
/// ever send it).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SecretKeyNames {
    #[serde(default)]
    data: KeyNames,
    #[serde(default, rename = "stringData")]
    string_data: KeyNames,
}

impl SecretKeyNames {
    /// Parses the API server's JSON answer for a Secret.
    ///
    /// The error says only that the answer was not a readable Secret: serde's own message
    /// can quote the input, which here would be a secret value.
    pub(crate) fn parse(json: &str) -> Result<Self, UnreadableSecret> {
        serde_json::from_str(json).map_err(|_| UnreadableSecret)
    }

    /// Every key name, sorted and without duplicates.
    pub(crate) fn into_sorted(self) -> Vec<String> {
        let mut keys = self.data.0;
        keys.extend(self.string_data.0);
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The answer was not a Secret the adapter can read (its content is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnreadableSecret;

/// The keys of a JSON object whose values are skipped unread.
#[derive(Debug, Default)]
struct KeyNames(Vec<String>);

impl<'de> Deserialize<'de> for KeyNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyNamesVisitor)
    }
}

struct KeyNamesVisitor;

impl<'de> Visitor<'de> for KeyNamesVisitor {
    type Value = KeyNames;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of key names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyNames, A::Error> {
        let mut keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(key);
        }
        Ok(KeyNames(keys))
    }

    fn visit_unit<E: de::Error>(self) -> Result<KeyNames, E> {
        Ok(KeyNames::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<KeyNames, E> {
        Ok(KeyNames::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_read_and_values_skipped() {
        let secret =
            SecretKeyNames::parse(include_str!("../fixtures/secret_twisterlab.json")).expect("secret");
        let debug = format!("{secret:?}");
        assert!(!debug.contains("cG9zdGdyZXNxbC"), "no value is kept: {debug}");
        assert_eq!(secret.into_sorted(), ["DATABASE_URL", "REDIS_URL"]);
    }

    #[test]
    fn a_secret_without_data_has_no_keys() {
        let secret = SecretKeyNames::parse(r#"{"kind":"Secret","metadata":{"name":"empty"},"data":null}"#);
        assert_eq!(secret.expect("secret").into_sorted(), Vec::<String>::new());
        let secret = SecretKeyNames::parse(r#"{"kind":"Secret","metadata":{"name":"empty"}}"#);
        assert_eq!(secret.expect("secret").into_sorted(), Vec::<String>::new());
    }

    #[test]
    fn an_unreadable_answer_says_nothing_about_its_content() {
        // A string where a map belongs: serde's message would quote it.
        let err = SecretKeyNames::parse(r#"{"data":"aHVudGVyMg=="}"#).expect_err("not a map");
        assert_eq!(format!("{err:?}"), "UnreadableSecret");
        assert!(SecretKeyNames::parse("not json: aHVudGVyMg==").is_err());
    }
}
