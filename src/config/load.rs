//! Phase one: read the TOML file, apply the `EDGEPROOF__SECTION__KEY` environment overrides
//! and deserialize into [`FileConfig`], collecting **every** schema problem (unknown keys,
//! wrong types, missing keys), each with its path.
//!
//! serde stops at the first error. The loader therefore works on the parsed table: it
//! deserializes, takes the error's path (serde_path_to_error), notes the problem, repairs the
//! table at that path — drops the unknown or mistyped key, puts an empty placeholder where a
//! required key is missing — and deserializes again, until the schema fits. Validation then
//! runs on the repaired file, so a mistyped key hides nothing else; its own complaints about a
//! repaired field (a placeholder name "must not be empty") are dropped, the field was already
//! reported.
//!
//! The usual case — a file without schema errors and without overrides — deserializes
//! straight from the text, without building the table.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_path_to_error::Segment;
use toml::{Table, Value};

use super::error::{ConfigError, FieldError};
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
    let invalid = |errors| ConfigError::Invalid { path: path.to_path_buf(), errors };
    let (file, mut errors) = parse(path, text, env)?;
    let Some(file) = file else { return Err(invalid(errors)) };
    match validate::compile(&file) {
        Ok(cfg) if errors.is_empty() => Ok(cfg),
        Ok(_) => Err(invalid(errors)),
        Err(more) => {
            let reported: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
            errors.extend(more.into_iter().filter(|e| !reported.iter().any(|r| under(&e.path, r))));
            Err(invalid(errors))
        }
    }
}

/// Whether `path` is `parent` or a field or element inside it.
fn under(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Keys whose environment override is taken exactly as written. The other overrides are
/// parsed (`"100"` becomes a number, `"true"` a boolean), which would turn the password
/// `007` into `7` and `1e3` into `1000`.
const VERBATIM_ENV_KEYS: &[&str] = &["mqtt.password"];

/// The prefix of override variables: `EDGEPROOF__MQTT__PASSWORD` sets `mqtt.password`.
const ENV_PREFIX: &str = "EDGEPROOF__";

/// How many repairs before giving up (a file of nothing but mistakes): the errors found so far
/// are reported.
const MAX_REPAIRS: usize = 1000;

/// The file deserialized (`None` if it could not be repaired into shape) and the schema
/// problems found on the way. A TOML syntax error is returned as [`ConfigError::Parse`].
fn parse(
    path: &Path,
    text: &str,
    env: Option<&HashMap<String, String>>,
) -> Result<(Option<FileConfig>, Vec<FieldError>), ConfigError> {
    let syntax = |e: toml::de::Error| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    };
    let mut overrides: Vec<(&str, &str)> = env
        .map(|vars| {
            vars.iter()
                .filter_map(|(k, v)| k.strip_prefix(ENV_PREFIX).map(|k| (k, v.as_str())))
                .filter(|(k, _)| !k.is_empty())
                .collect()
        })
        .unwrap_or_default();
    overrides.sort();
    if overrides.is_empty() {
        let de = toml::Deserializer::parse(text).map_err(syntax)?;
        if let Ok(file) = serde_path_to_error::deserialize::<_, FileConfig>(de) {
            return Ok((Some(file), Vec::new()));
        }
    }
    let mut root: Table = text.parse().map_err(syntax)?;
    let mut errors = Vec::new();
    let mut from_env = HashMap::new();
    for (var, raw) in overrides {
        apply_override(&mut root, var, raw, &mut from_env, &mut errors);
    }
    Ok((repair_until_it_fits(root, &from_env, &mut errors), errors))
}

/// Sets the key named by `EDGEPROOF__<var>` (`MQTT__PASSWORD` → `mqtt.password`), creating
/// tables on the way. Remembers the raw text of each override by its path, so that a value
/// parsed as a number where the schema wants text (`gateway.id = 123`) becomes text again.
fn apply_override(
    root: &mut Table,
    var: &str,
    raw: &str,
    from_env: &mut HashMap<String, String>,
    errors: &mut Vec<FieldError>,
) {
    let keys: Vec<String> = var.split("__").map(str::to_lowercase).collect();
    let dotted = keys.join(".");
    let Some((last, parents)) = keys.split_last() else { return };
    let mut table = root;
    for (depth, key) in parents.iter().enumerate() {
        let slot = table.entry(key.clone()).or_insert_with(|| Value::Table(Table::new()));
        match slot {
            Value::Table(t) => table = t,
            _ => {
                errors.push(FieldError {
                    path: keys[..=depth].join("."),
                    message: format!(
                        "{ENV_PREFIX}{var} cannot set {dotted}: {} is not a table",
                        keys[..=depth].join(".")
                    ),
                });
                return;
            }
        }
    }
    let value = if VERBATIM_ENV_KEYS.contains(&dotted.as_str()) {
        Value::String(raw.to_string())
    } else if let Ok(i) = raw.parse::<i64>() {
        Value::Integer(i)
    } else if let Ok(f) = raw.parse::<f64>() {
        Value::Float(f)
    } else if let Ok(b) = raw.to_ascii_lowercase().parse::<bool>() {
        Value::Boolean(b)
    } else {
        Value::String(raw.to_string())
    };
    table.insert(last.clone(), value);
    from_env.insert(dotted, raw.to_string());
}

/// Deserializes `root`, repairing it after each error (see the module docs) until it fits.
fn repair_until_it_fits(
    root: Table,
    from_env: &HashMap<String, String>,
    errors: &mut Vec<FieldError>,
) -> Option<FileConfig> {
    let mut root = Value::Table(root);
    // Required keys given a placeholder, and how many placeholders were tried.
    let mut placeholders: HashMap<String, usize> = HashMap::new();
    let mut reported: HashSet<String> = HashSet::new();
    for _ in 0..MAX_REPAIRS {
        let e = match serde_path_to_error::deserialize::<_, FileConfig>(root.clone()) {
            Ok(file) => return Some(file),
            Err(e) => e,
        };
        let segments: Vec<Segment> = e.path().iter().cloned().collect();
        let message = e.inner().message().to_string();
        let repaired = if let Some(key) = quoted_after(&message, "unknown field `") {
            let (table_path, field_path) = split_field(&segments, &key);
            errors.push(FieldError {
                path: field_path.clone(),
                message: format!("unknown key{}", expected_list(&message)),
            });
            reported.insert(field_path);
            remove(&mut root, &table_path, &key)
        } else if let Some(key) = quoted_after(&message, "missing field `") {
            let field_path = join(&path_text(&segments), &key);
            if !reported.iter().any(|r| under(&field_path, r)) {
                errors.push(FieldError { path: field_path.clone(), message: "missing".into() });
                reported.insert(field_path.clone());
            }
            placeholders.insert(field_path, 0);
            set(&mut root, &segments, &key, placeholder(0))
        } else {
            let field_path = path_text(&segments);
            let wants_text = message.contains("expected a string");
            if let Some(raw) = from_env.get(&field_path).filter(|_| wants_text) {
                // An override parsed as a number or boolean where the schema wants text.
                let before = at(&mut root, &segments).cloned();
                before.is_some_and(|v| !v.is_str())
                    && replace(&mut root, &segments, Value::String(raw.clone()))
            } else if let Some(tried) = placeholders.get_mut(&field_path) {
                // The placeholder for a missing key has the wrong type: try the next kind.
                *tried += 1;
                let next = *tried;
                next < PLACEHOLDERS && replace(&mut root, &segments, placeholder(next))
            } else {
                let message = match from_env.get(&field_path) {
                    Some(_) => format!("{} (from {})", readable(&message), env_name(&field_path)),
                    None => readable(&message),
                };
                if !reported.iter().any(|r| under(&field_path, r)) {
                    errors.push(FieldError { path: field_path.clone(), message });
                }
                reported.insert(field_path);
                drop_value(&mut root, &segments)
            }
        };
        if !repaired {
            break;
        }
    }
    if errors.is_empty() {
        errors.push(FieldError {
            path: ".".into(),
            message: "the file does not fit the schema".into(),
        });
    }
    None
}

/// How many kinds of placeholder [`placeholder`] has.
const PLACEHOLDERS: usize = 3;

/// Stand-ins for a missing required key, tried in turn until one has the right type: every
/// required key of the schema is text or a table.
fn placeholder(attempt: usize) -> Value {
    match attempt {
        0 => Value::String(String::new()),
        1 => Value::Table(Table::new()),
        _ => Value::Array(Vec::new()),
    }
}

/// The environment variable that overrides `path`: `mqtt.password` → `EDGEPROOF__MQTT__PASSWORD`.
fn env_name(path: &str) -> String {
    format!("{ENV_PREFIX}{}", path.replace('.', "__").to_uppercase())
}

/// serde's type names, in the words of the file: "expected i64" → "expected an integer".
fn readable(message: &str) -> String {
    let mut out = message.to_string();
    for int in ["i64", "i32", "i16", "i8", "u64", "u32", "u16", "u8"] {
        out = out.replace(&format!("expected {int}"), "expected an integer");
    }
    out.replace("expected f64", "expected a number").replace("expected f32", "expected a number")
}

/// The text between `prefix` and the next backtick.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// ", expected one of `a`, `b`" → "; expected one of a, b".
fn expected_list(message: &str) -> String {
    match message.split_once(", expected ") {
        Some((_, list)) => format!("; expected {}", list.replace('`', "")),
        None => String::new(),
    }
}

/// For an unknown key: the path of the table holding it and the path of the key itself.
/// (The reported path may or may not already end with the key.)
fn split_field(segments: &[Segment], key: &str) -> (Vec<Segment>, String) {
    let mut table = segments.to_vec();
    if matches!(table.last(), Some(Segment::Map { key: k }) if k == key) {
        table.pop();
    }
    let field = join(&path_text(&table), key);
    (table, field)
}

fn path_text(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(variant);
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The value at `segments`.
fn at<'a>(root: &'a mut Value, segments: &[Segment]) -> Option<&'a mut Value> {
    let mut v = root;
    for s in segments {
        v = match (s, v) {
            (Segment::Map { key }, Value::Table(t)) => t.get_mut(key)?,
            (Segment::Seq { index }, Value::Array(a)) => a.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(v)
}

fn remove(root: &mut Value, table: &[Segment], key: &str) -> bool {
    match at(root, table) {
        Some(Value::Table(t)) => t.remove(key).is_some(),
        _ => false,
    }
}

fn set(root: &mut Value, table: &[Segment], key: &str, value: Value) -> bool {
    match at(root, table) {
        Some(Value::Table(t)) => {
            t.insert(key.to_string(), value);
            true
        }
        _ => false,
    }
}

fn replace(root: &mut Value, segments: &[Segment], value: Value) -> bool {
    match at(root, segments) {
        Some(v) => {
            *v = value;
            true
        }
        None => false,
    }
}

/// Takes a mistyped value out: a key is removed (optional keys fall back to their default,
/// a required one is then reported missing — already reported, so silently); an array
/// element becomes an empty table, so that the elements after it keep their index.
fn drop_value(root: &mut Value, segments: &[Segment]) -> bool {
    match segments.split_last() {
        Some((Segment::Map { key }, parent)) => remove(root, parent, key),
        Some((Segment::Seq { .. }, _)) => replace(root, segments, Value::Table(Table::new())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (with the `config` crate's hash maps): with two mistakes in different
    /// sections, `check` reported one or the other at random. Now both, in file order, every
    /// time.
    #[test]
    fn the_same_file_reports_the_same_errors_every_time() {
        let text = "[gateway]\nid = \"gw\"\nenterprise = \"91440300MA5DEM0A0G\"\nproject = \"p\"\n\
                    [mqtt]\nurl = \"mqtt://h\"\norder = 1\n\
                    [devices]\nname = \"x\"\n\
                    [journal]\nflush = 1\n";
        let messages: std::collections::BTreeSet<String> = (0..8)
            .map(|_| match load_str(Path::new("t.toml"), text, false) {
                Err(e) => e.to_string(),
                Ok(_) => "loaded".into(),
            })
            .collect();
        assert_eq!(messages.len(), 1, "{messages:#?}");
        let first = messages.iter().next().unwrap();
        let mqtt = first.find("mqtt.order: unknown key").expect(first);
        let devices = first.find("devices: invalid type").expect(first);
        let journal = first.find("journal.flush: unknown key").expect(first);
        assert!(mqtt < devices && devices < journal, "file order: {first}");
    }

    #[test]
    fn paths_nest_like_the_file() {
        assert!(under("devices[0].points[1].address", "devices[0].points[1]"));
        assert!(under("devices[0]", "devices[0]"));
        assert!(!under("devices[10].name", "devices[1]"));
        assert!(!under("mqtt.password_file", "mqtt.password"));
    }
}
