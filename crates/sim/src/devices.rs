//! Device profiles for `edgeproof demo`: a CNC press, a three-phase power meter and a
//! temperature/humidity sensor, each with the device-map points an integrator would write
//! for it and values that move like the real thing.
//!
//! The points ([`Profile::points`]) are the single source of truth: [`SimDevice::advance`]
//! computes engineering values per point name and encodes them through the same point
//! definitions (type, order, scale, offset), so a demo config generated from the points
//! always reads back what the simulator meant. Together the three profiles use every data
//! type and every word order.
//!
//! The identity objects say "edgeproof simulator": evidence recorded against a simulated
//! device must never pass for a real machine.

use std::f64::consts::TAU;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::image::{RegisterImage, SimIdentity};
use edgeproof_modbus::{Area, DataType, ModbusPoint, Order};
use Area::{Coil, Discrete, Holding, Input};
use DataType::{Bit, Bool, F32, F64, I16, I32, I64, U16, U32, U64};

/// A kind of simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A hydraulic CNC press: cycles, part counter, force, oil temperature, program name.
    CncPress,
    /// A three-phase power meter: voltages, currents, power, energy counters.
    PowerMeter,
    /// A temperature and humidity sensor with a high-temperature alarm.
    TemperatureSensor,
}

/// One point of a profile, before compilation into a [`ModbusPoint`].
struct Spec {
    name: &'static str,
    area: Area,
    address: u16,
    dtype: DataType,
    order: Order,
    scale: f64,
    unit: Option<&'static str>,
    poll_secs: u64,
    deadband: Option<f64>,
}

const fn spec(name: &'static str, area: Area, address: u16, dtype: DataType) -> Spec {
    Spec {
        name,
        area,
        address,
        dtype,
        order: Order::Abcd,
        scale: 1.0,
        unit: None,
        poll_secs: 1,
        deadband: None,
    }
}

impl Spec {
    const fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
    const fn scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }
    const fn unit(mut self, unit: &'static str) -> Self {
        self.unit = Some(unit);
        self
    }
    const fn poll(mut self, secs: u64) -> Self {
        self.poll_secs = secs;
        self
    }
    const fn deadband(mut self, deadband: f64) -> Self {
        self.deadband = Some(deadband);
        self
    }
}

const PRESS: &[Spec] = &[
    spec("running", Coil, 0, Bool),
    spec("alarm_active", Coil, 1, Bool),
    spec("door_closed", Discrete, 0, Bool),
    spec("estop_released", Discrete, 1, Bool),
    spec("mode", Holding, 0, U16),
    spec("part_count", Holding, 1, U32).order(Order::Cdab).unit("pcs"),
    spec("spindle_speed", Holding, 3, F32).unit("rpm").deadband(5.0),
    spec("press_force", Holding, 5, F32).order(Order::Badc).unit("kN").deadband(1.0),
    spec("oil_temp", Holding, 7, I16).scale(0.1).unit("°C").deadband(0.2),
    spec("status_word", Holding, 8, U16),
    spec("lube_low", Holding, 8, Bit(3)),
    spec("cycles_total", Holding, 10, U64).order(Order::Cdab).unit("cycles").poll(5),
    spec("last_cycle_time", Holding, 14, F64).order(Order::Dcba).unit("s"),
    spec("program", Holding, 20, DataType::String(8)).poll(10),
    spec("ram_position", Holding, 30, I32).order(Order::Cdab).scale(0.001).unit("mm"),
    spec("motor_current", Input, 0, U16).scale(0.01).unit("A").deadband(0.1),
];

const METER: &[Spec] = &[
    spec("voltage_l1", Input, 0, F32).order(Order::Cdab).unit("V").deadband(0.5),
    spec("voltage_l2", Input, 2, F32).order(Order::Cdab).unit("V").deadband(0.5),
    spec("voltage_l3", Input, 4, F32).order(Order::Cdab).unit("V").deadband(0.5),
    spec("current_l1", Input, 6, F32).order(Order::Cdab).unit("A").deadband(0.1),
    spec("current_l2", Input, 8, F32).order(Order::Cdab).unit("A").deadband(0.1),
    spec("current_l3", Input, 10, F32).order(Order::Cdab).unit("A").deadband(0.1),
    spec("active_power", Input, 12, F32).order(Order::Cdab).unit("kW").deadband(0.1),
    spec("reactive_power", Input, 14, I32).scale(0.001).unit("kvar"),
    spec("power_factor", Input, 16, F32).order(Order::Cdab),
    spec("frequency", Input, 18, F32).order(Order::Cdab).unit("Hz"),
    spec("energy_import", Input, 20, F64).unit("kWh").poll(5),
    spec("energy_export", Input, 24, U64).order(Order::Badc).unit("Wh").poll(5),
    spec("energy_net", Input, 28, I64).order(Order::Dcba).unit("Wh").poll(5),
    spec("ct_ratio", Holding, 0, U16).poll(10),
];

const SENSOR: &[Spec] = &[
    spec("temperature", Input, 0, I16).scale(0.1).unit("°C").deadband(0.1),
    spec("humidity", Input, 1, U16).scale(0.1).unit("%RH").deadband(0.5),
    spec("dew_point", Input, 2, F32).order(Order::Dcba).unit("°C").deadband(0.1),
    spec("high_temp_alarm", Discrete, 0, Bool),
    spec("alarm_setpoint", Holding, 0, I16).scale(0.1).unit("°C").poll(10),
];

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] =
        [Profile::CncPress, Profile::PowerMeter, Profile::TemperatureSensor];

    /// A short stable name (`cnc-press`, `power-meter`, `temperature-sensor`).
    pub fn slug(&self) -> &'static str {
        match self {
            Profile::CncPress => "cnc-press",
            Profile::PowerMeter => "power-meter",
            Profile::TemperatureSensor => "temperature-sensor",
        }
    }

    /// The device name a demo config gives it.
    pub fn device_name(&self) -> &'static str {
        match self {
            Profile::CncPress => "press-01",
            Profile::PowerMeter => "meter-01",
            Profile::TemperatureSensor => "temp-01",
        }
    }

    /// What the device is, for people.
    pub fn description(&self) -> &'static str {
        match self {
            Profile::CncPress => "250 t hydraulic CNC press, stamping brackets",
            Profile::PowerMeter => "three-phase power meter on the press line feeder",
            Profile::TemperatureSensor => "workshop temperature and humidity sensor",
        }
    }

    /// What the device answers to Device Identification; says plainly it is simulated.
    pub fn identity(&self) -> SimIdentity {
        let product = match self {
            Profile::CncPress => "SIM-PRESS-250",
            Profile::PowerMeter => "SIM-METER-3P",
            Profile::TemperatureSensor => "SIM-TH-10",
        };
        SimIdentity::basic("edgeproof simulator", product, env!("CARGO_PKG_VERSION"))
    }

    /// The device-map points for this device, as the config compiler would produce them.
    pub fn points(&self) -> Vec<ModbusPoint> {
        self.specs()
            .iter()
            .map(|s| ModbusPoint {
                name: Arc::from(s.name),
                area: s.area,
                address: s.address,
                dtype: s.dtype,
                order: s.order,
                scale: s.scale,
                offset: 0.0,
                unit: s.unit.map(str::to_owned),
                poll: Duration::from_secs(s.poll_secs),
                deadband: s.deadband,
            })
            .collect()
    }

    fn specs(&self) -> &'static [Spec] {
        match self {
            Profile::CncPress => PRESS,
            Profile::PowerMeter => METER,
            Profile::TemperatureSensor => SENSOR,
        }
    }
}

/// A value in engineering units, before scale and encoding.
#[derive(Debug, Clone, PartialEq)]
enum Eng {
    Bool(bool),
    Num(f64),
    Int(i128),
    Text(&'static str),
}

/// Encode one point's value into the image exactly as its definition says.
fn write(image: &mut RegisterImage, point: &ModbusPoint, value: &Eng) {
    if let Some(bits) = image.bits_mut(point.area) {
        if let Eng::Bool(on) = value {
            bits.set(point.address, *on);
        }
        return;
    }
    let Some(table) = image.registers_mut(point.area) else { return };
    let raw = |x: f64| ((x - point.offset) / point.scale).round();
    // `as` saturates at the type's bounds, so no value can wrap or panic.
    let int = |v: &Eng| match v {
        Eng::Num(x) => raw(*x) as i128,
        Eng::Int(i) => *i,
        Eng::Bool(b) => i128::from(*b),
        Eng::Text(_) => 0,
    };
    let float = |v: &Eng| match v {
        Eng::Num(x) => (x - point.offset) / point.scale,
        Eng::Int(i) => *i as f64,
        Eng::Bool(b) => f64::from(u8::from(*b)),
        Eng::Text(_) => 0.0,
    };
    let (addr, order) = (point.address, point.order);
    match point.dtype {
        DataType::Bool => table.set_u16(addr, u16::from(int(value) != 0)),
        DataType::Bit(bit) => table.set_bit(addr, bit, int(value) != 0),
        DataType::U16 => table.set_u16(addr, int(value).clamp(0, u16::MAX.into()) as u16),
        DataType::I16 => {
            table.set_i16(addr, int(value).clamp(i16::MIN.into(), i16::MAX.into()) as i16)
        }
        DataType::U32 => table.set_u32(addr, int(value).clamp(0, u32::MAX.into()) as u32, order),
        DataType::I32 => {
            table.set_i32(addr, int(value).clamp(i32::MIN.into(), i32::MAX.into()) as i32, order)
        }
        DataType::U64 => table.set_u64(addr, int(value).clamp(0, u64::MAX.into()) as u64, order),
        DataType::I64 => {
            table.set_i64(addr, int(value).clamp(i64::MIN.into(), i64::MAX.into()) as i64, order)
        }
        DataType::F32 => table.set_f32(addr, float(value) as f32, order),
        DataType::F64 => table.set_f64(addr, float(value), order),
        DataType::String(registers) => match value {
            Eng::Text(text) => table.set_string(addr, text, registers),
            _ => table,
        },
    };
}

/// The moving state of one simulated device.
#[derive(Debug)]
pub struct SimDevice {
    profile: Profile,
    points: Vec<ModbusPoint>,
    rng: fastrand::Rng,
    /// Simulated seconds since start.
    t: f64,
    parts: u64,
    oil_temp: f64,
    energy_import_kwh: f64,
}

/// Seconds of a press cycle: ram down, dwell, up.
const PRESS_CYCLE: f64 = 6.0;
/// The press runs for this long, then stands for the rest of its 5-minute shift pattern.
const PRESS_RUN: f64 = 270.0;
const PRESS_PATTERN: f64 = 300.0;

impl SimDevice {
    /// A device of `profile` whose noise comes from `seed` (same seed, same values).
    pub fn new(profile: Profile, seed: u64) -> Self {
        SimDevice {
            profile,
            points: profile.points(),
            rng: fastrand::Rng::with_seed(seed),
            t: 0.0,
            parts: 0,
            oil_temp: 31.0,
            energy_import_kwh: 18_452.3,
        }
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The image at start: every point written, identity set.
    pub fn image(&mut self) -> RegisterImage {
        let mut image = RegisterImage::new();
        image.identity = self.profile.identity();
        self.advance(Duration::ZERO, &mut image);
        image
    }

    /// Move simulated time on by `dt` and write every point's new value into `image`.
    pub fn advance(&mut self, dt: Duration, image: &mut RegisterImage) {
        let dt = dt.as_secs_f64();
        self.t += dt;
        let values = match self.profile {
            Profile::CncPress => self.press(dt),
            Profile::PowerMeter => self.meter(dt),
            Profile::TemperatureSensor => self.sensor(),
        };
        for (name, value) in values {
            if let Some(point) = self.points.iter().find(|p| &*p.name == name) {
                write(image, point, &value);
            }
        }
    }

    /// Uniform noise in `-amplitude..amplitude`.
    fn noise(&mut self, amplitude: f64) -> f64 {
        (self.rng.f64() * 2.0 - 1.0) * amplitude
    }

    fn press(&mut self, dt: f64) -> Vec<(&'static str, Eng)> {
        let t = self.t;
        let running = t % PRESS_PATTERN < PRESS_RUN;
        // Parts finished so far: one per cycle while running.
        let shifts = (t / PRESS_PATTERN).floor();
        let run_time = shifts * PRESS_RUN + (t % PRESS_PATTERN).min(PRESS_RUN);
        self.parts = (run_time / PRESS_CYCLE) as u64;
        let phase = (run_time % PRESS_CYCLE) / PRESS_CYCLE;
        // The ram travels 120 mm down and back; force peaks at the bottom of the stroke.
        let stroke = if running { (phase * TAU).sin().max(0.0) } else { 0.0 };
        let target_oil = if running { 46.0 } else { 28.0 };
        // First-order approach, time constant ~10 minutes.
        self.oil_temp += (target_oil - self.oil_temp) * (dt / 600.0).min(1.0);
        let lube_low = (t / 1800.0).floor() as u64 % 4 == 3;
        let status = u16::from(running) | u16::from(lube_low) << 3;
        let oil = self.oil_temp + self.noise(0.05);
        let speed = if running { 1500.0 + self.noise(4.0) } else { 0.0 };
        let force = stroke * 250.0 + if running { self.noise(0.8) } else { 0.0 };
        let current = if running { 11.5 + stroke * 6.0 + self.noise(0.2) } else { 0.8 };
        let cycle_time = PRESS_CYCLE + self.noise(0.05);
        vec![
            ("running", Eng::Bool(running)),
            ("alarm_active", Eng::Bool(lube_low)),
            ("door_closed", Eng::Bool(running)),
            ("estop_released", Eng::Bool(true)),
            ("mode", Eng::Int(1)),
            ("part_count", Eng::Int(self.parts.into())),
            ("spindle_speed", Eng::Num(speed)),
            ("press_force", Eng::Num(force)),
            ("oil_temp", Eng::Num(oil)),
            ("status_word", Eng::Int(status.into())),
            ("cycles_total", Eng::Int(1_234_567 + i128::from(self.parts))),
            ("last_cycle_time", Eng::Num(cycle_time)),
            ("program", Eng::Text("O1234 BRACKET-A")),
            ("ram_position", Eng::Num(stroke * 120.0)),
            ("motor_current", Eng::Num(current)),
        ]
    }

    fn meter(&mut self, dt: f64) -> Vec<(&'static str, Eng)> {
        let t = self.t;
        // Load swings over ten minutes, like a line starting and stopping machines.
        let power_kw = 40.0 + 15.0 * (t * TAU / 600.0).sin() + self.noise(0.3);
        let pf = 0.92 + self.noise(0.01);
        let frequency = 50.0 + self.noise(0.02);
        self.energy_import_kwh += power_kw.max(0.0) * dt / 3600.0;
        let mut values = Vec::with_capacity(14);
        for (phase, name_v, name_i) in [
            (0.0, "voltage_l1", "current_l1"),
            (1.0, "voltage_l2", "current_l2"),
            (2.0, "voltage_l3", "current_l3"),
        ] {
            let volts = 230.0 + (phase - 1.0) * 0.8 + self.noise(0.6);
            let amps = power_kw * 1000.0 / (3.0 * volts * pf) + self.noise(0.2);
            values.push((name_v, Eng::Num(volts)));
            values.push((name_i, Eng::Num(amps)));
        }
        let reactive = power_kw * pf.acos().tan();
        let export_wh: i128 = 12_040;
        let import_wh = (self.energy_import_kwh * 1000.0) as i128;
        values.extend([
            ("active_power", Eng::Num(power_kw)),
            ("reactive_power", Eng::Num(reactive)),
            ("power_factor", Eng::Num(pf)),
            ("frequency", Eng::Num(frequency)),
            ("energy_import", Eng::Num(self.energy_import_kwh)),
            ("energy_export", Eng::Int(export_wh)),
            ("energy_net", Eng::Int(import_wh - export_wh)),
            ("ct_ratio", Eng::Int(40)),
        ]);
        values
    }

    fn sensor(&mut self) -> Vec<(&'static str, Eng)> {
        let day = (self.t * TAU / 3600.0).sin();
        let temperature = 24.0 + 3.0 * day + self.noise(0.05);
        let humidity = 55.0 - 6.0 * day + self.noise(0.3);
        // Magnus formula (Alduchov & Eskridge 1996 coefficients).
        let gamma = (humidity / 100.0).ln() + 17.625 * temperature / (243.04 + temperature);
        let dew_point = 243.04 * gamma / (17.625 - gamma);
        let setpoint = 35.0;
        vec![
            ("temperature", Eng::Num(temperature)),
            ("humidity", Eng::Num(humidity)),
            ("dew_point", Eng::Num(dew_point)),
            ("high_temp_alarm", Eng::Bool(temperature > setpoint)),
            ("alarm_setpoint", Eng::Num(setpoint)),
        ]
    }
}

/// Advance `device` every `period` and write into the served `image`, until the returned
/// task is aborted.
pub fn spawn_ticker(
    mut device: SimDevice,
    image: Arc<Mutex<RegisterImage>>,
    period: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = tokio::time::Instant::now();
        loop {
            ticker.tick().await;
            let now = tokio::time::Instant::now();
            let mut image = image.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            device.advance(now - last, &mut image);
            last = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn profiles_cover_every_type_and_order() {
        let points: Vec<_> = Profile::ALL.iter().flat_map(|p| p.points()).collect();
        let types: HashSet<_> = points.iter().map(|p| p.dtype.as_str()).collect();
        for t in ["bool", "bit", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "string"] {
            assert!(types.contains(t), "no point of type {t}");
        }
        for bytes in [4, 8] {
            let orders: HashSet<_> = points
                .iter()
                .filter(|p| p.dtype.order_bytes() == Some(bytes))
                .map(|p| p.order.name4())
                .collect();
            assert_eq!(orders.len(), 4, "{bytes}-byte types use only {orders:?}");
        }
    }

    #[test]
    fn every_point_is_readable_in_the_initial_image() {
        for profile in Profile::ALL {
            let mut device = SimDevice::new(profile, 7);
            let image = device.image();
            for p in profile.points() {
                let ok = match p.area {
                    Area::Coil => image.coils.read(p.address, 1).is_ok(),
                    Area::Discrete => image.discrete.read(p.address, 1).is_ok(),
                    Area::Input => image.input.read(p.address, p.width()).is_ok(),
                    Area::Holding => image.holding.read(p.address, p.width()).is_ok(),
                };
                assert!(ok, "{}: {} not in the image", profile.slug(), p.name);
            }
        }
    }

    #[test]
    fn point_names_are_unique_per_profile() {
        for profile in Profile::ALL {
            let points = profile.points();
            let names: HashSet<_> = points.iter().map(|p| p.name.clone()).collect();
            assert_eq!(names.len(), points.len(), "{}", profile.slug());
        }
    }

    #[test]
    fn values_encode_through_the_point_definitions() {
        let mut device = SimDevice::new(Profile::TemperatureSensor, 1);
        let image = device.image();
        // temperature is i16 × 0.1 °C: ~24.0 °C at t = 0 is ~240.
        let raw = image.input.get(0).unwrap() as i16;
        assert!((235..=245).contains(&raw), "{raw}");
        // dew_point is f32 DCBA: the words are the little-endian bytes, reversed.
        let w = image.input.read(2, 2).unwrap();
        let [a, b] = w[1].to_le_bytes();
        let [c, d] = w[0].to_le_bytes();
        let dew = f32::from_be_bytes([a, b, c, d]);
        assert!((10.0..20.0).contains(&dew), "{dew}");
    }

    #[test]
    fn press_counts_parts_and_cools_when_stopped() {
        let mut device = SimDevice::new(Profile::CncPress, 3);
        let mut image = device.image();
        for _ in 0..60 {
            device.advance(Duration::from_secs(1), &mut image);
        }
        let parts = |image: &RegisterImage| {
            let w = image.holding.read(1, 2).unwrap();
            (u32::from(w[1]) << 16) | u32::from(w[0])
        };
        assert_eq!(parts(&image), 10);
        assert_eq!(image.coils.get(0), Some(true));
        // Into the standstill part of the pattern: no new parts, the running coil drops.
        for _ in 0..230 {
            device.advance(Duration::from_secs(1), &mut image);
        }
        let at_stop = parts(&image);
        assert_eq!(image.coils.get(0), Some(false));
        device.advance(Duration::from_secs(5), &mut image);
        assert_eq!(parts(&image), at_stop);
        assert_eq!(image.holding.read(20, 8).unwrap()[0], u16::from_be_bytes(*b"O1"));
    }

    #[test]
    fn meter_energy_only_grows() {
        let mut device = SimDevice::new(Profile::PowerMeter, 9);
        let mut image = device.image();
        let energy = |image: &RegisterImage| {
            let w = image.input.read(20, 4).unwrap();
            let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_be_bytes()).collect();
            f64::from_be_bytes(bytes.try_into().unwrap())
        };
        let mut last = energy(&image);
        for _ in 0..100 {
            device.advance(Duration::from_secs(10), &mut image);
            let now = energy(&image);
            assert!(now > last, "{now} after {last}");
            last = now;
        }
    }

    #[test]
    fn same_seed_same_values() {
        let run = |seed| {
            let mut device = SimDevice::new(Profile::PowerMeter, seed);
            let mut image = device.image();
            device.advance(Duration::from_secs(3), &mut image);
            image
        };
        assert_eq!(run(5), run(5));
    }
}
