//! The broker's half of "topic is identity": a Mosquitto ACL file written from the registered
//! gateways (`edgeproof-review collect acl`). Each gateway's MQTT user may publish only under
//! its own topic prefix; the collectors' users may read the evidence and checkpoint topics;
//! nobody else may do anything (Mosquitto denies what no line allows once an `acl_file` is
//! set). With it, a record on gateway A's topic was published by A's credentials, which is
//! what the collector's routing ([`super::arrival::verify_message`]) relies on.
//!
//! Mosquitto's format (mosquitto.conf(5), "acl_file"): `user <name>` starts a user's section,
//! `topic write|read <filter>` lines follow. Names and prefixes may not contain whitespace
//! (the format has no quoting), `+` or `#`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::archive::Registration;

/// Why no ACL could be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AclError {
    /// A name the ACL format cannot carry.
    #[error("{what} {value:?} cannot go into a Mosquitto ACL: {why}")]
    Unusable {
        /// Which field (`gateway gw-1 topic prefix`, `collector user`).
        what: String,
        /// Its value.
        value: String,
        /// Why.
        why: &'static str,
    },
    /// Two gateways' prefixes overlap: one user could publish under the other's topics.
    #[error("topic prefixes {a:?} and {b:?} overlap: a gateway could publish under the other's")]
    Overlap {
        /// One prefix.
        a: String,
        /// The other, under it.
        b: String,
    },
    /// A collector user is also a gateway's user.
    #[error("MQTT user {0:?} is both a collector and a gateway")]
    SharedUser(String),
}

fn check(what: String, value: &str, wildcards: bool) -> Result<(), AclError> {
    let why = if value.is_empty() {
        "empty"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "contains whitespace"
    } else if !wildcards && value.contains(['+', '#']) {
        "contains an MQTT wildcard"
    } else {
        return Ok(());
    };
    Err(AclError::Unusable { what, value: value.into(), why })
}

/// The ACL text for `gateways`, with `collectors` (MQTT users) reading `<topics>/evidence`
/// and `<topics>/checkpoint` (`topics` is the collector's `--topics` filter, e.g.
/// `edgeproof/+`).
pub fn mosquitto_acl(
    gateways: &[Registration],
    collectors: &[String],
    topics: &str,
) -> Result<String, AclError> {
    check("collector topic filter".into(), topics, true)?;
    let mut by_user: BTreeMap<&str, Vec<&Registration>> = BTreeMap::new();
    for g in gateways {
        check(format!("gateway {} MQTT user", g.gateway), &g.mqtt_user, false)?;
        check(format!("gateway {} topic prefix", g.gateway), &g.topic_prefix, false)?;
        by_user.entry(&g.mqtt_user).or_default().push(g);
    }
    let mut prefixes: Vec<&str> = gateways.iter().map(|g| g.topic_prefix.as_str()).collect();
    prefixes.sort_unstable();
    for w in prefixes.windows(2) {
        if w[1].strip_prefix(w[0]).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) {
            return Err(AclError::Overlap { a: w[0].into(), b: w[1].into() });
        }
    }
    let mut out = format!(
        "# Mosquitto ACL written by `edgeproof-review collect acl` from {} registered \
         gateway(s).\n# Each gateway's MQTT user may publish only under its own topic prefix; \
         collectors read.\n# Anything not allowed here is denied. Regenerate after \
         `collect add-gateway`, then reload\n# mosquitto (SIGHUP). Do not edit: changes are \
         lost at the next run.\n",
        gateways.len()
    );
    for c in collectors {
        check("collector user".into(), c, false)?;
        if by_user.contains_key(c.as_str()) {
            return Err(AclError::SharedUser(c.clone()));
        }
        let _ = write!(
            out,
            "\nuser {c}\ntopic read {topics}/evidence\ntopic read {topics}/checkpoint\n"
        );
    }
    for (user, gws) in by_user {
        let _ = write!(out, "\nuser {user}\n");
        for g in gws {
            let _ = writeln!(out, "topic write {}/#", g.topic_prefix);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(gw: &str, user: &str, prefix: &str) -> Registration {
        let mut r = Registration::new(gw, "k");
        r.mqtt_user = user.into();
        r.topic_prefix = prefix.into();
        r
    }

    #[test]
    fn each_gateway_writes_only_under_its_prefix_and_collectors_read() {
        let acl = mosquitto_acl(
            &[reg("gw-1", "gw-1", "edgeproof/gw-1"), reg("gw-2", "plant-b", "site/b")],
            &["collector".into()],
            "edgeproof/+",
        )
        .unwrap();
        let body: Vec<&str> = acl.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            body,
            [
                "",
                "user collector",
                "topic read edgeproof/+/evidence",
                "topic read edgeproof/+/checkpoint",
                "",
                "user gw-1",
                "topic write edgeproof/gw-1/#",
                "",
                "user plant-b",
                "topic write site/b/#",
            ]
        );
    }

    #[test]
    fn what_the_format_cannot_carry_or_would_leak_is_refused() {
        type Case<'a> = (&'a str, Vec<Registration>, Vec<String>);
        let cases: Vec<Case> = vec![
            ("space in user", vec![reg("g", "a b", "edgeproof/g")], vec![]),
            ("wildcard prefix", vec![reg("g", "g", "edgeproof/+")], vec![]),
            (
                "nested prefixes",
                vec![reg("a", "a", "edgeproof/a"), reg("b", "b", "edgeproof/a/b")],
                vec![],
            ),
            ("collector is a gateway", vec![reg("g", "g", "edgeproof/g")], vec!["g".into()]),
        ];
        for (case, regs, collectors) in cases {
            assert!(mosquitto_acl(&regs, &collectors, "edgeproof/+").is_err(), "{case}");
        }
        // Prefixes that merely share a beginning do not overlap.
        let ok = [reg("a", "a", "edgeproof/gw-1"), reg("b", "b", "edgeproof/gw-10")];
        assert!(mosquitto_acl(&ok, &[], "edgeproof/+").is_ok());
    }
}
