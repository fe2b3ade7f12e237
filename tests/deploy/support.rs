//! Shared helpers: reading repository files, YAML navigation, and turning `APP__…` variables
//! into configuration keys that `checkout_gateway::config` loads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use checkout_gateway::config::{AppEnv, LoadOptions, Settings};
use serde::Deserialize;
use serde_yaml::Value;

/// A path inside the repository (tests run from the package root).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// One YAML document, with `<<:` merge keys applied (docker-compose uses them).
pub fn yaml(path: &str) -> Value {
    let mut value: Value =
        serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("parse {path}: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("merge keys in {path}: {e}"));
    value
}

/// Every document of a multi-document YAML file.
pub fn yaml_documents(path: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(&read(path))
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("parse {path}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// `value[a][b]…` as a string, or a panic naming the path.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("missing `{}`", path.join(".")))
    })
}

pub fn seq<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{} is not a list", path.join(".")))
}

/// A YAML scalar as text (compose and Kubernetes allow numbers and booleans in env values).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Every key of `config/base.toml`, dotted (`http.listen`): the complete set the gateway reads.
pub fn config_keys() -> BTreeSet<String> {
    let table: toml::Table = read("config/base.toml").parse().expect("base.toml parses");
    table
        .iter()
        .flat_map(|(section, keys)| {
            keys.as_table()
                .unwrap_or_else(|| panic!("[{section}] is a table"))
                .keys()
                .map(move |key| format!("{section}.{key}"))
        })
        .collect()
}

/// `APP__SECTION__KEY` → `section.key`, the way the gateway's environment source maps it.
pub fn env_to_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix("APP__")?;
    Some(
        rest.split("__")
            .collect::<Vec<_>>()
            .join(".")
            .to_lowercase(),
    )
}

/// The `APP__…` variables of `env` as configuration overrides; panics on a variable that
/// names no key, so a typo in a deployment file fails here instead of at start-up.
pub fn overrides(env: &[(String, String)], origin: &str) -> Vec<(String, String)> {
    let keys = config_keys();
    env.iter()
        .filter_map(|(name, value)| {
            let key = env_to_key(name)?;
            assert!(
                keys.contains(&key),
                "{origin}: {name} is not a configuration key (config/base.toml has no `{key}`)"
            );
            Some((key, value.clone()))
        })
        .collect()
}

/// Settings loaded the way the binary loads them, with `overrides` in place of the process
/// environment.
pub fn load(
    env: AppEnv,
    overrides: &[(String, String)],
) -> Result<Settings, checkout_gateway::config::ConfigError> {
    let pairs: Vec<(&str, &str)> = overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut opts = LoadOptions::local_with(&pairs);
    opts.env = env;
    Settings::load(&opts)
}

/// `${VAR:-default}` → default, `${VAR}` → a stand-in: what `docker compose` substitutes from
/// the caller's environment.
pub fn substitute(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let tail = &rest[start + 2..];
        let end = tail
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
        let inner = &tail[..end];
        match inner.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => out.push_str(&format!("stand-in-for-{inner}")),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The port of `host:port`.
pub fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("`{address}` has no port"))
}
