//! A plugin's config table, read once per instance by [`Plugin::init`](crate::Plugin::init).
//!
//! Every read is remembered: when the plugin loads, a key the operator set that `init` never
//! read is refused (a typo would otherwise be ignored in silence), and a value that does not
//! parse is refused naming its key, so `sluice check-config` and a reload catch both.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The operator's `[tenant.plugin.config]` table, as strings.
pub struct Config {
    /// None: asked of the host key by key. Some: given (unit tests).
    values: Option<BTreeMap<String, String>>,
    /// Keys `init` read (or asked for and did not find).
    read: RefCell<BTreeSet<String>>,
}

/// Why a config was refused; the host shows it after the plugin's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    key: Option<String>,
    message: String,
}

impl ConfigError {
    /// A problem with one key's value.
    pub fn key(key: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            key: Some(key.to_owned()),
            message: message.to_string(),
        }
    }

    /// A problem with the config as a whole.
    pub fn new(message: impl fmt::Display) -> ConfigError {
        ConfigError {
            key: None,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "key `{key}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// This plugin's config, from the host.
    pub fn from_host() -> Config {
        Config {
            values: None,
            read: RefCell::default(),
        }
    }

    /// A config from pairs, to unit-test an `init` natively (no host needed).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Config {
        Config {
            values: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
            read: RefCell::default(),
        }
    }

    /// The raw value of `key`. Reading a key marks it as one this plugin knows, found or not:
    /// read every key you accept, even those you only need in some cases.
    pub fn get(&self, key: &str) -> Option<String> {
        self.read.borrow_mut().insert(key.to_owned());
        match &self.values {
            Some(values) => values.get(key).cloned(),
            None => crate::host::config(key),
        }
    }

    /// `key` parsed as `T` (surrounding whitespace ignored); a value that does not parse is
    /// an error naming the key.
    pub fn parse<T>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|e| ConfigError::key(key, format!("{v:?} does not parse: {e}")))
            })
            .transpose()
    }

    /// [`Config::parse`], with `default` when the key is absent.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.parse(key)?.unwrap_or(default))
    }

    /// `key` as one of `choices` (exactly as written), or none when absent.
    pub fn one_of(
        &self,
        key: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|c| **c == v.trim())
            .copied()
            .map(Some)
            .ok_or_else(|| {
                ConfigError::key(key, format!("{v:?} is not one of {}", choices.join(", ")))
            })
    }

    /// `key` as a comma-separated list, each item trimmed, empty ones dropped; `default`
    /// (the same form) when the key is absent.
    pub fn list_or(&self, key: &str, default: &str) -> Vec<String> {
        self.get(key)
            .unwrap_or_else(|| default.to_owned())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Every key the operator set, for a plugin whose keys are not known in advance (reading
    /// them with [`Config::get`] marks them as known).
    pub fn keys(&self) -> Vec<String> {
        match &self.values {
            Some(values) => values.keys().cloned().collect(),
            None => crate::host::config_keys(),
        }
    }

    /// Refuses keys the operator set that `init` never read. The SDK calls it when the plugin
    /// loads, after `init` succeeded.
    pub fn check_unknown(&self) -> Result<(), ConfigError> {
        let read = self.read.borrow();
        let mut unknown: Vec<String> = self
            .keys()
            .into_iter()
            .filter(|k| !read.contains(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort();
        let known = if read.is_empty() {
            "this plugin takes no config".to_owned()
        } else {
            format!(
                "it knows {}",
                read.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let names = unknown
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(ConfigError::new(if unknown.len() == 1 {
            format!("unknown key {names} ({known})")
        } else {
            format!("unknown keys {names} ({known})")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_name_their_key() {
        let c = Config::from_pairs([("n", " 5 "), ("bad", "lots"), ("mode", "tag")]);
        assert_eq!(c.parse::<u64>("n"), Ok(Some(5)));
        assert_eq!(c.parse_or::<u64>("absent", 7), Ok(7));
        let e = c.parse::<u64>("bad").unwrap_err().to_string();
        assert!(e.starts_with("key `bad`: \"lots\" does not parse"), "{e}");
        assert_eq!(c.one_of("mode", &["tag", "reject"]), Ok(Some("tag")));
        let e = c.one_of("mode", &["reject"]).unwrap_err().to_string();
        assert_eq!(e, "key `mode`: \"tag\" is not one of reject");
    }

    #[test]
    fn keys_never_read_are_unknown() {
        let c = Config::from_pairs([("limit", "1"), ("limt", "2")]);
        c.get("limit");
        c.get("other");
        assert_eq!(
            c.check_unknown().unwrap_err().to_string(),
            "unknown key `limt` (it knows `limit`, `other`)"
        );
        let c = Config::from_pairs([("x", "1")]);
        assert_eq!(
            c.check_unknown().unwrap_err().to_string(),
            "unknown key `x` (this plugin takes no config)"
        );
        assert!(Config::from_pairs([]).check_unknown().is_ok());
        assert_eq!(
            Config::from_pairs([]).list_or("l", " a, ,b "),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }
}
