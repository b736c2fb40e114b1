//! Who the server says it is, for the evidence log: a reviewer can tell a real moulding
//! machine from a simulator or a swapped PLC months later.
//!
//! The device task records one [`DeviceFingerprint`] per device each time a session comes
//! up, in [`FingerprintBoard::global`]; the evidence recorder reads it with
//! [`FingerprintBoard::get`] (or [`FingerprintBoard::all`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use opcua::client::Session;
use opcua::types::{
    AttributeId, BuildInfo, DataValue, EndpointDescription, ReadValueId, TimestampsToReturn,
    VariableId, Variant,
};

use super::identity::sha256_hex;
use super::security::Mode;
use super::value::unix_ms;

/// What identifies an OPC UA server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceFingerprint {
    /// The server's ApplicationUri (endpoint description).
    pub application_uri: String,
    /// The server's ProductUri (endpoint description).
    pub product_uri: String,
    /// SHA-256 of the server's DER application instance certificate, lower-case hex; `None`
    /// when the server publishes none.
    pub certificate_sha256: Option<String>,
    /// `Server.ServerStatus.BuildInfo`.
    pub build: Option<BuildSummary>,
    /// `Server.ServerStatus.StartTime` (Unix ms): changes when the server restarts.
    pub start_time_ms: Option<u64>,
    /// The security the session uses, e.g. `Basic256Sha256/SignAndEncrypt`.
    pub security: String,
    /// When this fingerprint was taken (Unix ms).
    pub observed_ms: u64,
}

/// `BuildInfo` (OPC UA Part 5 §12.4) as text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSummary {
    /// ProductUri.
    pub product_uri: String,
    /// ManufacturerName.
    pub manufacturer_name: String,
    /// ProductName.
    pub product_name: String,
    /// SoftwareVersion.
    pub software_version: String,
    /// BuildNumber.
    pub build_number: String,
    /// BuildDate (Unix ms).
    pub build_date_ms: Option<u64>,
}

/// The latest fingerprint of every OPC UA device, by device name.
#[derive(Debug, Default)]
pub struct FingerprintBoard(RwLock<HashMap<Arc<str>, DeviceFingerprint>>);

impl FingerprintBoard {
    /// The process-wide board the device tasks write to.
    pub fn global() -> &'static FingerprintBoard {
        static BOARD: OnceLock<FingerprintBoard> = OnceLock::new();
        BOARD.get_or_init(FingerprintBoard::default)
    }

    /// Records `device`'s fingerprint; returns the previous one.
    pub fn set(&self, device: Arc<str>, fp: DeviceFingerprint) -> Option<DeviceFingerprint> {
        self.0.write().unwrap_or_else(|p| p.into_inner()).insert(device, fp)
    }

    /// `device`'s latest fingerprint, once a session has come up.
    pub fn get(&self, device: &str) -> Option<DeviceFingerprint> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(device).cloned()
    }

    /// Every device's latest fingerprint.
    pub fn all(&self) -> Vec<(Arc<str>, DeviceFingerprint)> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

fn read_id(id: VariableId) -> ReadValueId {
    ReadValueId {
        node_id: id.into(),
        attribute_id: AttributeId::Value as u32,
        ..Default::default()
    }
}

/// Takes the fingerprint of the server behind `session`. Fields the server does not answer
/// stay empty: a fingerprint is evidence, not a precondition.
pub async fn take(session: &Session, endpoint: &EndpointDescription) -> DeviceFingerprint {
    let ids = [
        read_id(VariableId::Server_ServerStatus_BuildInfo),
        read_id(VariableId::Server_ServerStatus_StartTime),
    ];
    let values = session.read(&ids, TimestampsToReturn::Neither, 0.0).await.unwrap_or_default();
    let build = values.first().and_then(build_of);
    let start_time_ms = values.get(1).and_then(|dv| match &dv.value {
        Some(Variant::DateTime(t)) => unix_ms(t),
        _ => None,
    });
    let cert = endpoint.server_certificate.as_ref();
    DeviceFingerprint {
        application_uri: endpoint.server.application_uri.as_ref().to_string(),
        product_uri: endpoint.server.product_uri.as_ref().to_string(),
        certificate_sha256: (!cert.is_empty()).then(|| sha256_hex(cert)),
        build,
        start_time_ms,
        security: format!(
            "{}/{}",
            endpoint.security_policy_uri.as_ref().rsplit('#').next().unwrap_or(""),
            Mode::name_of(endpoint.security_mode)
        ),
        observed_ms: crate::model::now_ms(),
    }
}

fn build_of(dv: &DataValue) -> Option<BuildSummary> {
    let Some(Variant::ExtensionObject(obj)) = &dv.value else { return None };
    let b = obj.inner_as::<BuildInfo>()?;
    Some(BuildSummary {
        product_uri: b.product_uri.as_ref().to_string(),
        manufacturer_name: b.manufacturer_name.as_ref().to_string(),
        product_name: b.product_name.as_ref().to_string(),
        software_version: b.software_version.as_ref().to_string(),
        build_number: b.build_number.as_ref().to_string(),
        build_date_ms: unix_ms(&b.build_date),
    })
}
