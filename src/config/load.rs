//! Phase one: read the TOML file and the `EDGEPROOF__SECTION__KEY` environment overrides
//! with the `config` crate and deserialize into [`FileConfig`].

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
    let file = parse(path, text, env)?;
    validate::compile(&file)
        .map_err(|errors| ConfigError::Invalid { path: path.to_path_buf(), errors })
}

fn parse(path: &Path, text: &str, env: bool) -> Result<FileConfig, ConfigError> {
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml));
    if env {
        // EDGEPROOF__MQTT__PASSWORD=… sets mqtt.password. Meant for secrets; values are
        // strings unless they parse as numbers or booleans.
        builder = builder.add_source(
            config::Environment::with_prefix("EDGEPROOF")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
    }
    let parse_err = |e: config::ConfigError| ConfigError::Parse {
        path: path.to_path_buf(),
        message: key_first(&e.to_string()),
    };
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
