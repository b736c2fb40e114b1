//! Commissioning: the tools an integrator uses before there is a device map — read a device
//! without a config ([`span`] over a [`target`]), find which units answer and which registers
//! they let us read ([`scan`]), and turn a vendor's point table into `[[devices.points]]` and
//! back ([`points_table`]).
//!
//! Everything here reads only (function codes 01-04, plus the FC 43 identity the TCP
//! transport asks once per connection); nothing writes to a device.

pub mod cause;
pub mod draft;
pub mod points_table;
pub mod scan;
pub mod span;
pub mod target;

pub use scan::{scan_area, AreaScan, ScanLimits};
pub use span::{read_span, Span, SpanValue};
pub use target::{Links, Target, UnitLink};
