//! Phase one: read the TOML file and the `EDGEPROOF__SECTION__KEY` environment overrides
//! with the `config` crate and deserialize into [`FileConfig`].

use std::collections::HashMap;
use std::path::Path;

use super::error::ConfigError;
use super::schema::FileConfig;
use super::settings::Config;
use super::validate;

/// Reads, checks and compiles a config file, with environment overrides applied.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    load_str(path, &text, true)
}

/// Like [`load`] but from text already read; `env` chooses whether environment overrides
/// apply (tests turn them off).
pub fn load_str(path: &Path, text: &str, env: bool) -> Result<Config, ConfigError> {
    let vars: Option<HashMap<String, String>> = env.then(|| std::env::vars().collect());
    load_with_env(path, text, vars.as_ref())
}

/// Like [`load_str`], with the environment given as a map (tests pass their own, so that no
/// test changes the process environment under another).
pub fn load_with_env(
    path: &Path,
    text: &str,
    env: Option<&HashMap<String, String>>,
) -> Result<Config, ConfigError> {
    let file = parse(path, text, env)?;
    validate::compile(&file)
        .map_err(|errors| ConfigError::Invalid { path: path.to_path_buf(), errors })
}

/// Keys whose environment override is taken exactly as written. The other overrides are
/// parsed (`"100"` becomes a number, `"true"` a boolean), which would turn the password
/// `007` into `7` and `1e3` into `1000`.
const VERBATIM_ENV_KEYS: &[&str] = &["mqtt.password"];

/// The environment variable that overrides `key`: `mqtt.password` → `EDGEPROOF__MQTT__PASSWORD`.
fn env_var_of(key: &str) -> String {
    format!("EDGEPROOF__{}", key.replace('.', "__").to_uppercase())
}

fn parse(
    path: &Path,
    text: &str,
    env: Option<&HashMap<String, String>>,
) -> Result<FileConfig, ConfigError> {
    let parse_err = |e: config::ConfigError| ConfigError::Parse {
        path: path.to_path_buf(),
        message: key_first(&e.to_string()),
    };
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml));
    if let Some(vars) = env {
        // EDGEPROOF__MQTT__PASSWORD=… sets mqtt.password. Values are strings unless they parse
        // as numbers or booleans, except the keys taken verbatim.
        builder = builder.add_source(
            config::Environment::with_prefix("EDGEPROOF")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars.clone().into_iter().collect())),
        );
        for key in VERBATIM_ENV_KEYS {
            if let Some(value) = vars.get(&env_var_of(key)) {
                builder = builder.set_override(*key, value.as_str()).map_err(parse_err)?;
            }
        }
    }
    builder.build().map_err(parse_err)?.try_deserialize::<FileConfig>().map_err(parse_err)
}

/// The `config` crate says "`<message>` for key `devices[0]points[1]address`"; integrators
/// read "devices[0].points[1].address: <message>", the same form validation errors take.
fn key_first(message: &str) -> String {
    let Some((msg, key)) = message.rsplit_once(" for key `") else {
        return message.to_string();
    };
    let key = key.trim_end_matches('`');
    let mut dotted = String::with_capacity(key.len() + 4);
    let mut prev = None;
    for c in key.chars() {
        if prev == Some(']') && c != '[' && c != '.' {
            dotted.push('.');
        }
        dotted.push(c);
        prev = Some(c);
    }
    format!("{dotted}: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: with two mistakes in different sections, the `config` crate's hash
    /// maps (a new random order per map) made `check` report one or the other at random.
    /// With its `preserve_order` feature the keys keep file order, and so does the error.
    #[test]
    fn the_same_file_reports_the_same_parse_error_every_time() {
        let text = "[gateway]\nid = \"gw\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"p\"\n\
                    [mqtt]\nurl = \"mqtt://h\"\norder = 1\n\
                    [devices]\nname = \"x\"\n\
                    [journal]\nflush = 1\n";
        let messages: std::collections::BTreeSet<String> = (0..32)
            .map(|_| match load_str(Path::new("t.toml"), text, false) {
                Err(e) => e.to_string(),
                Ok(_) => "loaded".into(),
            })
            .collect();
        assert_eq!(messages.len(), 1, "{messages:#?}");
        let first = messages.iter().next().unwrap();
        assert!(first.starts_with("t.toml: mqtt: unknown field `order`"), "file order: {first}");
    }
}
