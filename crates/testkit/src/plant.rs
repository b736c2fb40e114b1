//! A small simulated plant: several in-process Modbus devices with known register values,
//! the `[[devices]]` TOML that reads them, and the check that a data message carries exactly
//! those values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use edgeproof_sim::{RegisterImage, SimServer};
use serde_json::{json, Value};

/// What points a simulated device has, all holding registers from address 0.
#[derive(Debug, Clone, Copy)]
pub enum Points {
    /// `n` `u16` points, all in one read request per cycle (n ≤ 125).
    U16(u16),
    /// `n` `string` points of `regs` registers each, with long names: big journal entries.
    Text {
        /// Points.
        n: u16,
        /// Registers per point.
        regs: u16,
    },
}

/// One simulated device.
pub struct PlantDevice {
    /// Device name in the config and the topics.
    pub name: String,
    /// The simulator serving it.
    pub sim: SimServer,
    /// Its points.
    pub points: Points,
    /// Poll interval as written in the config, e.g. `"100ms"`.
    pub poll: String,
    /// Point name → the value every good sample must carry.
    pub expect: BTreeMap<String, Value>,
}

/// Several devices.
pub struct Plant {
    /// In config order.
    pub devices: Vec<PlantDevice>,
}

fn text_value(d: usize, i: u16, regs: u16) -> String {
    let mut t = format!("dev{d}-pt{i}-");
    while t.len() < usize::from(regs) * 2 {
        t.push('x');
    }
    t.truncate(usize::from(regs) * 2);
    t
}

impl Plant {
    /// Starts one simulator per `(name, points, poll)`.
    pub async fn start(specs: &[(&str, Points, &str)]) -> Plant {
        let mut devices = Vec::new();
        for (d, (name, points, poll)) in specs.iter().enumerate() {
            let mut image = RegisterImage::new();
            let mut expect = BTreeMap::new();
            match *points {
                Points::U16(n) => {
                    for i in 0..n {
                        let v = (d as u16 + 1) * 1000 + i;
                        image.holding.set_u16(i, v);
                        expect.insert(format!("p{i:03}"), json!(v));
                    }
                }
                Points::Text { n, regs } => {
                    for i in 0..n {
                        let t = text_value(d, i, regs);
                        image.holding.set_string(i * regs, &t, regs);
                        expect.insert(format!("serial_number_of_part_{i:03}"), json!(t));
                    }
                }
            }
            let sim = SimServer::start("127.0.0.1:0".parse().unwrap(), Arc::new(Mutex::new(image)))
                .await
                .expect("start simulator");
            devices.push(PlantDevice {
                name: name.to_string(),
                sim,
                points: *points,
                poll: poll.to_string(),
                expect,
            });
        }
        Plant { devices }
    }

    /// The `[[devices]]` sections. A generous timeout: a loaded CI machine must not turn a
    /// slow answer into a bad sample.
    pub fn toml(&self) -> String {
        let mut t = String::new();
        for d in &self.devices {
            let _ = write!(
                t,
                "[[devices]]\nname = \"{}\"\nprotocol = \"modbus-tcp\"\naddress = \"{}\"\n\
                 poll = \"{}\"\ntimeout = \"5s\"\n",
                d.name,
                d.sim.local_addr(),
                d.poll
            );
            match d.points {
                Points::U16(n) => {
                    for i in 0..n {
                        let _ = write!(
                            t,
                            "  [[devices.points]]\n  name = \"p{i:03}\"\n  area = \"holding\"\n  \
                             address = {i}\n  type = \"u16\"\n"
                        );
                    }
                }
                Points::Text { n, regs } => {
                    for i in 0..n {
                        let _ = write!(
                            t,
                            "  [[devices.points]]\n  name = \"serial_number_of_part_{i:03}\"\n  \
                             area = \"holding\"\n  address = {}\n  type = \"string\"\n  \
                             length = {regs}\n",
                            i * regs
                        );
                    }
                }
            }
        }
        t
    }

    /// The device named `name`.
    pub fn device(&self, name: &str) -> &PlantDevice {
        self.devices.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("no device {name}"))
    }

    /// Checks a data message: a known device, every point good, every value exact.
    pub fn check_message(&self, msg: &Value) -> Result<(), String> {
        let name = msg["device"].as_str().ok_or_else(|| format!("no device: {msg}"))?;
        let d = self
            .devices
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| format!("unknown device {name}: {msg}"))?;
        if msg["bad"] != json!({}) {
            return Err(format!("bad samples: {msg}"));
        }
        let values = msg["values"].as_object().ok_or_else(|| format!("no values: {msg}"))?;
        if values.len() != d.expect.len() {
            return Err(format!("{} values, expected {}: {msg}", values.len(), d.expect.len()));
        }
        for (point, want) in &d.expect {
            if values.get(point) != Some(want) {
                return Err(format!(
                    "{name}.{point}: expected {want}, got {:?}",
                    values.get(point)
                ));
            }
        }
        Ok(())
    }

    /// Data read requests each simulator has answered so far.
    pub fn reads(&self) -> BTreeMap<String, u64> {
        self.devices.iter().map(|d| (d.name.clone(), d.sim.request_count())).collect()
    }
}
