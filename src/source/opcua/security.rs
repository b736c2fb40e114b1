//! The security choices of an OPC UA device as the config names them, and their
//! async-opcua equivalents.

use std::path::PathBuf;

use opcua::crypto::SecurityPolicy;
use opcua::types::MessageSecurityMode;

/// Message security policy (OPC UA Part 7, security policy profiles). The deprecated
/// Basic128Rsa15 and Basic256 are left out on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No signing, no encryption.
    None,
    /// RSA-OAEP + SHA-256, AES-256-CBC.
    Basic256Sha256,
    /// RSA-OAEP + SHA-256, AES-128-CBC.
    Aes128Sha256RsaOaep,
    /// RSA-PSS + SHA-256, AES-256-CBC.
    Aes256Sha256RsaPss,
}

impl Policy {
    /// Every policy, in config order.
    pub const ALL: [Policy; 4] = [
        Policy::None,
        Policy::Basic256Sha256,
        Policy::Aes128Sha256RsaOaep,
        Policy::Aes256Sha256RsaPss,
    ];

    /// The config spelling (also the policy URI's fragment).
    pub fn as_str(&self) -> &'static str {
        match self {
            Policy::None => "None",
            Policy::Basic256Sha256 => "Basic256Sha256",
            Policy::Aes128Sha256RsaOaep => "Aes128_Sha256_RsaOaep",
            Policy::Aes256Sha256RsaPss => "Aes256_Sha256_RsaPss",
        }
    }

    /// The async-opcua policy.
    pub fn to_opcua(self) -> SecurityPolicy {
        match self {
            Policy::None => SecurityPolicy::None,
            Policy::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
            Policy::Aes128Sha256RsaOaep => SecurityPolicy::Aes128Sha256RsaOaep,
            Policy::Aes256Sha256RsaPss => SecurityPolicy::Aes256Sha256RsaPss,
        }
    }
}

/// Message security mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain messages (only with policy `None`).
    None,
    /// Signed messages.
    Sign,
    /// Signed and encrypted messages.
    SignAndEncrypt,
}

impl Mode {
    /// Every mode, in config order.
    pub const ALL: [Mode; 3] = [Mode::None, Mode::Sign, Mode::SignAndEncrypt];

    /// The config spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::None => "None",
            Mode::Sign => "Sign",
            Mode::SignAndEncrypt => "SignAndEncrypt",
        }
    }

    /// The async-opcua mode.
    pub fn to_opcua(self) -> MessageSecurityMode {
        match self {
            Mode::None => MessageSecurityMode::None,
            Mode::Sign => MessageSecurityMode::Sign,
            Mode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
        }
    }

    /// The config spelling of an async-opcua mode (for listing what a server offers).
    pub fn name_of(mode: MessageSecurityMode) -> &'static str {
        match mode {
            MessageSecurityMode::None => "None",
            MessageSecurityMode::Sign => "Sign",
            MessageSecurityMode::SignAndEncrypt => "SignAndEncrypt",
            _ => "Invalid",
        }
    }
}

/// How the server's application instance certificate comes to be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Pin the certificate seen at the first connection; refuse any other one until an
    /// integrator accepts it with `edgeproof trust accept`.
    FirstUse,
    /// Only certificates in `data_dir/pki/trusted/`; unknown ones are written to
    /// `data_dir/pki/rejected/` for an integrator to move.
    Pki,
}

impl Trust {
    /// The config spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Trust::FirstUse => "first-use",
            Trust::Pki => "pki",
        }
    }
}

/// Who the agent says it is when it activates the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAuth {
    /// No user.
    Anonymous,
    /// User name and password. The password comes from `password_file` or, without one,
    /// from the environment variable [`password_env_var`] names.
    Password {
        /// User name.
        user: String,
        /// File holding the password (trailing newline ignored).
        password_file: Option<PathBuf>,
    },
    /// An X.509 user certificate and its private key (PEM or DER).
    Certificate {
        /// Certificate file.
        cert_file: PathBuf,
        /// Private key file (PEM).
        key_file: PathBuf,
    },
}

/// The environment variable that holds a device's OPC UA password when it has no
/// `password_file`: `EDGEPROOF_OPCUA_PASSWORD_` and the device name in upper case, every
/// character other than a letter or digit replaced by `_` (`molder-07` →
/// `EDGEPROOF_OPCUA_PASSWORD_MOLDER_07`).
///
/// Not an `EDGEPROOF__…` override: that namespace maps onto config keys, and the `config`
/// crate cannot address one entry of `[[devices]]`.
pub fn password_env_var(device: &str) -> String {
    let suffix: String = device
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("EDGEPROOF_OPCUA_PASSWORD_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_env_var_is_the_device_name_in_shell_safe_upper_case() {
        let cases = [
            ("molder-07", "EDGEPROOF_OPCUA_PASSWORD_MOLDER_07"),
            ("press.1", "EDGEPROOF_OPCUA_PASSWORD_PRESS_1"),
            ("Line_2", "EDGEPROOF_OPCUA_PASSWORD_LINE_2"),
        ];
        for (device, want) in cases {
            assert_eq!(password_env_var(device), want, "{device}");
        }
    }
}
