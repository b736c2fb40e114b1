//! `edgeproof browse opc.tcp://host:port [--node ID] [--depth N] [--points]`: list an OPC UA
//! server's address space — node ids, browse names, data types — or print ready-to-paste
//! `[[devices.points]]` entries for its variables.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use edgeproof::config::OpcUaDevice;
use edgeproof::source::opcua::browse::{browse, point_name};
use edgeproof::source::opcua::identity::sha256_hex;
use edgeproof::source::opcua::{session, Mode, Policy, Trust, UserAuth};
use opcua::types::{NodeClass, NodeId, ObjectId};

/// Browse options from the command line.
pub struct BrowseArgs {
    /// `opc.tcp://host:port[/path]`.
    pub endpoint: String,
    /// Start node (default: the Objects folder).
    pub node: Option<String>,
    /// Levels to descend.
    pub depth: usize,
    /// Print `[[devices.points]]` entries instead of the tree.
    pub points: bool,
    /// Security policy, config spelling.
    pub security_policy: String,
    /// Security mode, config spelling (default from the policy).
    pub security_mode: Option<String>,
    /// User name (password from `password_file` or the environment).
    pub user: Option<String>,
    /// Password file.
    pub password_file: Option<PathBuf>,
    /// Where the client certificate lives (`<dir>/pki`).
    pub data_dir: PathBuf,
}

/// Runs the browse.
pub async fn run(args: BrowseArgs) -> ExitCode {
    let Some(policy) = Policy::ALL.into_iter().find(|p| p.as_str() == args.security_policy) else {
        eprintln!("error: --security-policy {:?} is not one of None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss", args.security_policy);
        return ExitCode::from(super::EXIT_CANNOT_RUN);
    };
    let mode = match args.security_mode.as_deref() {
        None if policy == Policy::None => Mode::None,
        None => Mode::SignAndEncrypt,
        Some(m) => match Mode::ALL.into_iter().find(|x| x.as_str() == m) {
            Some(x) => x,
            None => {
                eprintln!("error: --security-mode {m:?} is not one of None, Sign, SignAndEncrypt");
                return ExitCode::from(super::EXIT_CANNOT_RUN);
            }
        },
    };
    let start = match args.node.as_deref().map(NodeId::from_str) {
        None => ObjectId::ObjectsFolder.into(),
        Some(Ok(id)) => id,
        Some(Err(_)) => {
            eprintln!(
                "error: --node {:?} is not a node id (e.g. \"ns=2;s=Line1\" or \"i=85\")",
                args.node.unwrap_or_default()
            );
            return ExitCode::from(super::EXIT_CANNOT_RUN);
        }
    };
    let cfg = OpcUaDevice {
        endpoint: args.endpoint.clone(),
        security_policy: policy,
        security_mode: mode,
        auth: match args.user {
            Some(user) => UserAuth::Password { user, password_file: args.password_file },
            None => UserAuth::Anonymous,
        },
        // Pins go to the browse data dir, never to an agent's: browsing trusts for itself.
        trust: Trust::FirstUse,
        pki_dir: args.data_dir.join("pki"),
        poll: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
        points: Vec::new(),
    };
    let device = "browse";
    let _ = std::fs::remove_file(edgeproof::source::opcua::trust::pin_path(&cfg.pki_dir, device));
    let conn = match session::connect(device, &cfg).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    let cert = conn.endpoint.server_certificate.as_ref().to_vec();
    let found = browse(&conn.session, &start, args.depth.max(1), 10_000).await;
    conn.close(cfg.timeout).await;
    let nodes = match found {
        Ok(n) => n,
        Err(code) => {
            eprintln!("error: browse of {start} failed: {code}");
            return ExitCode::from(super::EXIT_NEGATIVE);
        }
    };
    if args.points {
        println!("# From `edgeproof browse {}`: the variables below {start}.", args.endpoint);
        let mut taken = HashSet::new();
        for n in nodes.iter().filter(|n| n.node_class == NodeClass::Variable) {
            println!("[[devices.points]]");
            println!("name = {:?}", point_name(&n.browse_name, &mut taken));
            println!("node = {:?}", n.node_id.to_string());
            println!("mode = \"subscribe\"  # {}", n.data_type.as_deref().unwrap_or("?"));
            println!();
        }
    } else {
        if !cert.is_empty() {
            println!("server certificate sha256 {}", sha256_hex(&cert));
        }
        println!("{:<48} {:<28} {:<10} data type", "node id", "browse name", "class");
        for n in &nodes {
            let indent = "  ".repeat(n.depth.saturating_sub(1));
            println!(
                "{:<48} {:<28} {:<10} {}",
                format!("{indent}{}", n.node_id),
                n.browse_name,
                format!("{:?}", n.node_class),
                n.data_type.as_deref().unwrap_or("")
            );
        }
    }
    if nodes.is_empty() {
        eprintln!("no nodes below {start}");
        return ExitCode::from(super::EXIT_NEGATIVE);
    }
    ExitCode::SUCCESS
}
