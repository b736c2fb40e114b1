//! Config tests: the annotated example parses, and every class of mistake is reported with
//! its path.

use std::path::Path;

use super::*;
use crate::source::modbus::{Area, DataType, Order};

const GOOD_HEAD: &str = r#"
[gateway]
id = "gw-1"
enterprise = "91440300MA5DEM0A0G"
project = "P-1"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    load_str(Path::new("test.toml"), text, false)
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Err(ConfigError::Invalid { errors, .. }) => errors.iter().map(|e| e.to_string()).collect(),
        Err(e) => vec![e.to_string()],
        Ok(_) => vec![],
    }
}

#[test]
fn annotated_example_is_valid() {
    let text = include_str!("../../configs/example.toml");
    let cfg = load(text).expect("configs/example.toml must be valid");
    assert_eq!(cfg.devices.len(), 4);
    let DeviceProtocol::ModbusTcp(press) = &cfg.devices[0].protocol else {
        panic!("a modbus-tcp device")
    };
    assert_eq!(press.points[0].dtype, DataType::F32);
    assert_eq!(press.points[0].order, Order::Cdab);
    assert_eq!(press.points[2].order, Order::Cdab, "GHEFCDAB is the 8-byte CDAB");
    assert_eq!(press.points[3].dtype, DataType::Bit(3));
    assert_eq!(press.points[5].dtype, DataType::String(10));
    assert_eq!(press.points[6].area, Area::Coil);
    assert_eq!(press.points[6].dtype, DataType::Bool);
    assert_eq!(cfg.journal.max_bytes, 1 << 30);
    let mqtt = cfg.mqtt.expect("mqtt");
    assert!(mqtt.tls);
    assert_eq!(mqtt.port, 8883);
}

#[test]
fn five_mistakes_give_five_errors_with_paths() {
    let text = format!(
        r#"{GOOD_HEAD}
[[devices]]
name = "plc"
protocol = "modbus-tcp"
address = "10.0.0.1:502"
  [[devices.points]]
  name = "a"
  area = "holding"
  address = 0
  type = "float3"
  [[devices.points]]
  name = "b"
  area = "holding"
  address = 10
  type = "f32"
  order = "ABDC"
  [[devices.points]]
  name = "b"
  area = "holding"
  address = 20
  type = "u16"
  [[devices.points]]
  name = "c"
  area = "holding"
  address = 70000
  type = "u16"
  [[devices.points]]
  name = "d"
  area = "holding"
  address = 30
  type = "string"
"#
    );
    let errs = errors(&text);
    assert_eq!(
        errs,
        vec![
            r#"devices[0].points[0].type: unknown type "float3"; one of bool, bit, u16, i16, u32, i32, u64, i64, f32, f64, string"#,
            r#"devices[0].points[1].order: "ABDC" is not one of ABCD, CDAB, BADC, DCBA"#,
            r#"devices[0].points[2].name: "b" is already used by devices[0].points[1]"#,
            "devices[0].points[3].address: 70000 is past 65535 (addresses are 0-based, 0..=65535)",
            r#"devices[0].points[4].length: missing; type "string" needs its length in registers"#,
        ]
    );
}

#[test]
fn each_mistake_names_its_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("bad uscc check char", r#"enterprise = "91440300MA5DEM0A0H""#, "gateway.enterprise"),
        (
            "order on a type without one",
            r#"type = "u16"
  order = "CDAB""#,
            "devices[0].points[0].order",
        ),
        ("bit without a bit number", r#"type = "bit""#, "devices[0].points[0].bit"),
        (
            "bit out of range",
            r#"type = "bit"
  bit = 16"#,
            "devices[0].points[0].bit",
        ),
        (
            "4-byte order on an 8-byte type",
            r#"type = "f64"
  order = "CDAB""#,
            "devices[0].points[0].order",
        ),
        (
            "scale on a string",
            r#"type = "string"
  length = 2
  scale = 2.0"#,
            "devices[0].points[0].scale",
        ),
        (
            "bad duration",
            r#"type = "u16"
  poll = "fast""#,
            "devices[0].points[0].poll",
        ),
    ];
    for (case, snippet, path) in cases {
        let (gw, point) = if snippet.starts_with("enterprise") {
            (GOOD_HEAD.replace(r#"enterprise = "91440300MA5DEM0A0G""#, snippet), r#"type = "u16""#)
        } else {
            (GOOD_HEAD.to_string(), *snippet)
        };
        let text = format!(
            "{gw}\n[[devices]]\nname = \"plc\"\nprotocol = \"modbus-tcp\"\naddress = \"h:502\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"holding\"\n  address = 0\n  {point}\n"
        );
        let errs = errors(&text);
        assert!(
            errs.len() == 1 && errs[0].starts_with(&format!("{path}:")),
            "{case}: expected one error at {path}, got {errs:#?}"
        );
    }
}

#[test]
fn overlapping_points_of_different_types_are_rejected_but_status_bits_are_not() {
    let text = format!(
        r#"{GOOD_HEAD}
[[devices]]
name = "plc"
protocol = "modbus-tcp"
address = "h:502"
  [[devices.points]]
  name = "word"
  area = "holding"
  address = 0
  type = "u16"
  [[devices.points]]
  name = "bit0"
  area = "holding"
  address = 0
  type = "bit"
  bit = 0
  [[devices.points]]
  name = "float"
  area = "holding"
  address = 10
  type = "f32"
  [[devices.points]]
  name = "int"
  area = "holding"
  address = 11
  type = "u32"
  [[devices.points]]
  name = "other_area"
  area = "input"
  address = 10
  type = "u32"
"#
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("devices[0].points[3]: \"int\" (u32 at holding 11) overlaps \"float\""),
        "{}",
        errs[0]
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let text = format!("{GOOD_HEAD}\ncolour = \"red\"\n");
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    let text = format!(
        "{GOOD_HEAD}\n[[devices]]\nname = \"d\"\nprotocol = \"modbus-tcp\"\naddress = \"h:1\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"coil\"\n  address = 0\n  scael = 2.0\n"
    );
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("scael"), "{err}");
}

#[test]
fn duplicate_device_names_and_unsafe_names() {
    let text = format!(
        "{GOOD_HEAD}\n[[devices]]\nname = \"a/b\"\nprotocol = \"modbus-tcp\"\naddress = \"h:1\"\n[[devices]]\nname = \"a/b\"\nprotocol = \"modbus-tcp\"\naddress = \"h:1\"\n"
    );
    let errs = errors(&text);
    assert!(
        errs.iter().any(|e| e.starts_with("devices[0].name: \"a/b\" contains '/'")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("devices[1].name: \"a/b\" is already used by devices[0]")),
        "{errs:#?}"
    );
}

#[test]
fn parse_errors_name_the_key_with_a_dotted_path() {
    let text = format!(
        "{GOOD_HEAD}\n[[devices]]\nname = \"d\"\nprotocol = \"modbus-tcp\"\naddress = \"h:1\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"coil\"\n  address = \"zero\"\n"
    );
    assert_eq!(
        errors(&text),
        vec!["devices[0].points[0].address: invalid type: string \"zero\", expected an integer"]
    );
}

/// `EDGEPROOF__MQTT__PASSWORD=007` must log in with `007`: the other overrides are parsed as
/// numbers and booleans, which turned this password into `7`.
#[test]
fn mqtt_password_from_the_environment_is_taken_verbatim() {
    let text = format!("{GOOD_HEAD}\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nusername = \"u\"\n");
    for password in ["007", "1e3", "True", "nan", " spaced ", "p@ss=word;#"] {
        let env: std::collections::HashMap<String, String> = [
            ("EDGEPROOF__MQTT__PASSWORD".to_string(), password.to_string()),
            ("EDGEPROOF__MQTT__MAX_INFLIGHT".to_string(), "7".to_string()),
        ]
        .into();
        let cfg = load_with_env(Path::new("test.toml"), &text, Some(&env)).unwrap();
        let mqtt = cfg.mqtt.unwrap();
        assert_eq!(mqtt.password.as_ref().map(Secret::expose), Some(password), "{password:?}");
        assert_eq!(mqtt.max_inflight, 7, "other overrides are still parsed");
    }
}

/// A url is quoted in errors and logs, so a password written into it would be shown: it is
/// refused, and the error does not repeat it.
#[test]
fn credentials_in_the_mqtt_url_are_refused_without_echoing_them() {
    for url in ["mqtt://edge:s3cr3t-url@broker:1883", "mqtts://edge:s3cr3t-url@broker"] {
        let errs = errors(&format!("{GOOD_HEAD}\n[mqtt]\nurl = \"{url}\"\n"));
        assert_eq!(errs.len(), 1, "{url}: {errs:#?}");
        assert!(errs[0].starts_with("mqtt.url: must not hold user:password@"), "{errs:#?}");
        assert!(!errs[0].contains("s3cr3t-url"), "{errs:#?}");
    }
}

#[test]
fn plain_mqtt_is_flagged_only_off_this_machine() {
    let cases = [
        ("loopback v4", "mqtt://127.0.0.1:1883", false),
        ("loopback v4, another address of 127/8", "mqtt://127.0.1.1", false),
        ("loopback v6", "mqtt://[::1]:1883", false),
        ("localhost", "mqtt://LocalHost:1883", false),
        ("lan address", "mqtt://192.168.1.20:1883", true),
        ("a name", "mqtt://broker.example.org", true),
        ("tls to a lan address", "mqtts://192.168.1.20:8883", false),
    ];
    for (case, url, want) in cases {
        let cfg = load(&format!("{GOOD_HEAD}\n[mqtt]\nurl = \"{url}\"\n")).unwrap();
        let mqtt = cfg.mqtt.unwrap();
        assert_eq!(mqtt.plain_text_off_host(), want, "{case}");
        assert_eq!(mqtt.plain_text_warning().is_some(), want, "{case}");
    }
}

/// One device with one holding-register point; `point` adds or replaces its keys.
fn one_point(point: &str) -> String {
    format!(
        "{GOOD_HEAD}\n[[devices]]\nname = \"plc\"\nprotocol = \"modbus-tcp\"\naddress = \"h:502\"\n  [[devices.points]]\n  name = \"p\"\n  area = \"holding\"\n  type = \"u16\"\n  {point}\n"
    )
}

/// The `config` crate turned `address = 10.5` into register 11 and `check` said valid.
#[test]
fn integer_fields_refuse_floats_and_booleans() {
    let cases = [
        ("float address", "address = 10.5", "devices[0].points[0].address: invalid type: floating point `10.5`, expected an integer"),
        ("boolean address", "address = true", "devices[0].points[0].address: invalid type: boolean `true`, expected an integer"),
        ("float bit", "address = 0\n  bit = 1.0", "devices[0].points[0].bit: invalid type: floating point `1.0`, expected an integer"),
        ("quoted number", "address = \"7\"", "devices[0].points[0].address: invalid type: string \"7\", expected an integer"),
    ];
    for (case, keys, want) in cases {
        let errs = errors(&one_point(keys));
        assert!(errs.iter().any(|e| e == want), "{case}: want {want:?} in {errs:#?}");
        assert!(
            !errs.iter().any(|e| e.contains("missing")),
            "{case}: no follow-on error: {errs:#?}"
        );
    }
    let text = format!("{GOOD_HEAD}\n[[devices]]\nname = \"plc\"\nprotocol = \"modbus-tcp\"\naddress = \"h:502\"\nunit = 1.5\n");
    assert_eq!(
        errors(&text),
        vec!["devices[0].unit: invalid type: floating point `1.5`, expected an integer"]
    );
}

/// A mistyped key (a schema error) stopped the load, hiding every validation error.
#[test]
fn a_mistyped_key_does_not_hide_the_other_mistakes() {
    let text = format!(
        r#"{GOOD_HEAD}
colour = "red"
[mqtt]
url = "mqtt://h"
max_inflight = "many"
[[devices]]
name = "plc"
protocol = "modbus-tcp"
address = "h:502"
  [[devices.points]]
  name = "a"
  area = "holding"
  adress = 3
  type = "u16"
  [[devices.points]]
  name = "b"
  area = "holding"
  address = 1
  type = "float3"
  [[devices.points]]
  area = "holding"
  address = 2
  type = "u16"
  [[devices.points]]
  name = "d"
  area = "holding"
  address = -4
  type = "u16"
"#
    );
    let errs = errors(&text);
    let want = [
        "gateway.colour: unknown key; expected one of id, enterprise, project, data_dir, production_devices",
        "mqtt.max_inflight: invalid type: string \"many\", expected an integer",
        "devices[0].points[0].adress: unknown key;",
        "devices[0].points[2].name: missing",
        "devices[0].points[0].address: missing; the 0-based protocol address",
        "devices[0].points[1].type: unknown type \"float3\"",
        "devices[0].points[3].address: -4 is negative (addresses are 0-based, 0..=65535)",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e.starts_with(w)), "want {w:?} in {errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "nothing else: {errs:#?}");
}

#[test]
fn missing_required_keys_are_each_reported_once() {
    let text =
        "[gateway]\nid = \"gw\"\n[[devices]]\nprotocol = \"modbus-tcp\"\naddress = \"h:1\"\n";
    assert_eq!(
        errors(text),
        vec!["gateway.enterprise: missing", "gateway.project: missing", "devices[0].name: missing"]
    );
    assert_eq!(errors("[mqtt]\nurl = \"mqtt://h\"\n"), vec!["gateway: missing"]);
}

/// An override is parsed as a number or boolean where that fits; where the schema wants
/// text, the text as written is used (`EDGEPROOF__GATEWAY__PROJECT=2024`).
#[test]
fn environment_overrides_fit_the_type_of_the_key() {
    let env: std::collections::HashMap<String, String> = [
        ("EDGEPROOF__GATEWAY__PROJECT", "2024"),
        ("EDGEPROOF__JOURNAL__MAX_BYTES", "64MiB"),
        ("EDGEPROOF__MQTT__URL", "mqtt://127.0.0.1:1884"),
        ("EDGEPROOF__MQTT__MAX_INFLIGHT", "12"),
        ("HOME", "/root"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cfg = load_with_env(Path::new("t.toml"), GOOD_HEAD, Some(&env)).unwrap();
    assert_eq!(cfg.gateway.project, "2024");
    assert_eq!(cfg.journal.max_bytes, 64 << 20);
    let mqtt = cfg.mqtt.unwrap();
    assert_eq!((mqtt.port, mqtt.max_inflight), (1884, 12));

    let bad: std::collections::HashMap<String, String> =
        [("EDGEPROOF__MQTT__MAX_INFLIGHT".to_string(), "lots".to_string())].into();
    let text = format!("{GOOD_HEAD}[mqtt]\nurl = \"mqtt://h\"\n");
    match load_with_env(Path::new("t.toml"), &text, Some(&bad)) {
        Err(ConfigError::Invalid { errors, .. }) => assert_eq!(
            errors[0].to_string(),
            "mqtt.max_inflight: invalid type: string \"lots\", expected an integer (from EDGEPROOF__MQTT__MAX_INFLIGHT)"
        ),
        other => panic!("{other:?}"),
    }
}
