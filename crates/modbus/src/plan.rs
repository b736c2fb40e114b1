//! The read planner: which Modbus reads fetch a device's points each poll cycle, using as
//! few requests as the coalescing rules allow, and how a read the device rejects is split.
//!
//! Built once per device from its compiled points ([`plan`]). The device's poll loop walks
//! [`ReadPlan::groups`]; when the device answers a merged read with exception 02 (illegal
//! data address) or 03 (illegal data value) — typically because the read spans a register
//! the device does not implement — it calls [`ReadPlan::split`], which halves the read. Done
//! repeatedly this bisects down to the offending point, which alone cannot be split and is
//! marked bad by the caller.
//!
//! # Rules
//!
//! 1. **Groups**: one [`PlanGroup`] per distinct poll interval; within it, a read only holds
//!    points of one area. A read never mixes areas or intervals. (The unit id is fixed per
//!    device, so it plays no part here.)
//! 2. **Size**: a read covers the hull of its points: `start` = the lowest address, `count` =
//!    the furthest end − `start`. `count` never exceeds [`ReadLimits::max_for`] the area:
//!    registers for `input`/`holding` (FC 03/04 allow 125, Modbus Application Protocol
//!    §6.3/§6.4), bits for `coil`/`discrete` (FC 01/02 allow 2000, §6.1/§6.2).
//! 3. **Gaps**: walking a read's points by address, the registers skipped before the next
//!    point — its address − the furthest end seen so far in the read, when positive — never
//!    exceed `max_gap`. Points may overlap (two names for one register, the bits of a status
//!    word): an overlap is no gap, and the furthest end, not the previous point's end, counts.
//! 4. **Oversize**: a point wider than the maximum (the config rejects it; a point of width
//!    0 likewise) gets a read of its own and takes no part in merging.
//!
//! A set of points that satisfies 2 and 3 as one read is *feasible*. A *plan* is any
//! partition of each group's points into feasible sets (plus the oversize singletons); every
//! point is fetched by exactly one read.
//!
//! Ends are computed as `u32` ([`ModbusPoint::end`]), so a point at 65535 cannot overflow.
//!
//! # Algorithm
//!
//! Sort a group's points by address (ties by end) and walk them, adding each point to the
//! current read while the read stays feasible and opening a new read otherwise — the longest
//! feasible run from each start. Checking the new point alone suffices: adding `p` to a read
//! whose points all start at or before it changes the span to `max(hi, end(p)) − start` and
//! adds exactly one gap, `address(p) − hi`, where `hi` is the furthest end so far. This is
//! O(n log n) for the sort and O(n) for the walk.
//!
//! # Why the number of reads is minimal
//!
//! Claim: no plan uses fewer reads than the greedy one — not only among plans whose reads
//! are runs of consecutive points in address order, but among all partitions into feasible
//! sets. Oversize points are singletons in every plan (any set holding one exceeds the
//! maximum), so it suffices to look at the others, each of width ≥ 1.
//!
//! Let the greedy reads of a group be `R_1 … R_k`, let `s_t` be the first point of `R_t` and
//! `hi_t` the furthest end in `R_t`. We show that **no feasible set holds two first points**
//! `s_u`, `s_t` (`u < t`). Every read of any plan then holds at most one of the `k` first
//! points, so any plan has at least `k` reads.
//!
//! Greedy closed `R_{t−1}` because adding `s_t` broke a rule. `R_{t−1}` itself was feasible,
//! so either (*span*) `end(s_t) − addr(s_{t−1}) > max`, or (*gap*)
//! `addr(s_t) − hi_{t−1} > max_gap`.
//!
//! *Lemma.* If `hi_r > addr(s_{r+1})`, then `hi_{r+1} > hi_r`. Indeed `s_{r+1}` then starts
//! inside `R_r`'s hull, so adding it made no gap; the break was a span one:
//! `end(s_{r+1}) > addr(s_r) + max ≥ hi_r`, and `hi_{r+1} ≥ end(s_{r+1})`.
//!
//! Now suppose a feasible set `S` holds `s_u` and `s_t`, `u < t`.
//! - *Span case*: `S` spans at least `end(s_t) − addr(s_u) ≥ end(s_t) − addr(s_{t−1}) > max`
//!   (points are sorted, so `addr(s_u) ≤ addr(s_{t−1})`). Not feasible.
//! - *Gap case*: `addr(s_u) ≤ addr(s_{t−1}) < end(s_{t−1}) ≤ hi_{t−1} < addr(s_t)`, so `S`
//!   has points before `addr(s_t)`. As `S` skips at most `max_gap` registers before
//!   `addr(s_t)`, some `z ∈ S` with `addr(z) < addr(s_t)` ends at
//!   `end(z) ≥ addr(s_t) − max_gap > hi_{t−1}`. Being before `s_t` in address order, `z` is
//!   in some `R_r` with `r ≤ t−1`, and its end rules out `R_{t−1}`: `r ≤ t−2` and
//!   `hi_r > hi_{t−1}`. For `r ≤ q ≤ t−2`, if `hi_q ≥ hi_r` then
//!   `hi_q > hi_{t−1} > addr(s_{t−1}) ≥ addr(s_{q+1})`, so the lemma gives
//!   `hi_{q+1} > hi_q ≥ hi_r`. By induction `hi_{t−1} > hi_r`, contradicting
//!   `hi_r > hi_{t−1}`.
//!
//! Note what does *not* hold: a sub-run of a feasible read need not be feasible. `[0,10)`,
//! `[1,2)` and `[9,10)` make one read without a gap, but `[1,2)` with `[9,10)` skips 7
//! registers. An exchange argument over sub-runs therefore needs care; the argument above
//! avoids it. The unit tests check the claim against an exhaustive search over all
//! partitions on thousands of random maps.

use std::time::Duration;

use super::point::{Area, ModbusPoint, ReadLimits};

/// One Modbus read request: `count` registers (or bits) of `area` from `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// The table read (decides the function code).
    pub area: Area,
    /// First register (or bit), 0-based.
    pub start: u16,
    /// Registers (or bits) read.
    pub count: u16,
    /// Indices into the device's points of the points this read fetches, by address. Each
    /// lies inside `[start, start + count)`.
    pub points: Vec<usize>,
}

impl ReadRequest {
    /// One past the last register (or bit) read, as u32 so a read ending at 65535 fits.
    pub fn end(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count)
    }
}

/// The reads for all points that share one poll interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanGroup {
    /// How often these reads run.
    pub poll: Duration,
    /// The reads, by area then start.
    pub reads: Vec<ReadRequest>,
}

/// Every read one device needs, grouped by poll interval (shortest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    /// One group per distinct poll interval.
    pub groups: Vec<PlanGroup>,
    /// `(address, end)` of every point, by point index, so that [`ReadPlan::split`] can
    /// re-tighten reads without the points.
    spans: Vec<(u16, u32)>,
}

/// Plans the reads for one device's points under its limits. Indices in the plan refer to
/// `points`. The number of reads is the minimum the rules allow (see the module docs).
pub fn plan(points: &[ModbusPoint], limits: &ReadLimits) -> ReadPlan {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_unstable_by_key(|&i| {
        let p = &points[i];
        (p.poll, p.area, p.address, p.end(), i)
    });

    let mut groups: Vec<PlanGroup> = Vec::new();
    let mut open: Option<OpenRead> = None;
    for i in order {
        let p = &points[i];
        let max = u32::from(limits.max_for(p.area));
        if groups.last().map(|g| g.poll) != Some(p.poll) {
            close(&mut groups, open.take());
            groups.push(PlanGroup { poll: p.poll, reads: Vec::new() });
        }
        let width = u32::from(p.width());
        if width == 0 || width > max {
            // Rule 4: alone, and without closing the open read (it may still merge with
            // points beyond this one).
            if let Some(g) = groups.last_mut() {
                g.reads.push(OpenRead::new(i, p).into_request());
            }
            continue;
        }
        match open.as_mut() {
            Some(r) if r.accepts(p, max, u32::from(limits.max_gap)) => r.push(i, p),
            _ => {
                close(&mut groups, open.take());
                open = Some(OpenRead::new(i, p));
            }
        }
    }
    close(&mut groups, open);
    for g in &mut groups {
        // Oversize reads were pushed out of address order.
        g.reads.sort_by_key(|r| (r.area, r.start, r.end()));
    }
    ReadPlan { groups, spans: points.iter().map(|p| (p.address, p.end())).collect() }
}

/// The read being extended by the walk in [`plan`].
struct OpenRead {
    area: Area,
    start: u16,
    /// Furthest end of any point so far.
    hi: u32,
    points: Vec<usize>,
}

impl OpenRead {
    fn new(i: usize, p: &ModbusPoint) -> Self {
        OpenRead { area: p.area, start: p.address, hi: p.end(), points: vec![i] }
    }

    /// Whether adding `p` (at or after every point so far) keeps the read feasible.
    fn accepts(&self, p: &ModbusPoint, max: u32, max_gap: u32) -> bool {
        let gap = u32::from(p.address).saturating_sub(self.hi);
        let span = self.hi.max(p.end()) - u32::from(self.start);
        p.area == self.area && gap <= max_gap && span <= max
    }

    fn push(&mut self, i: usize, p: &ModbusPoint) {
        self.hi = self.hi.max(p.end());
        self.points.push(i);
    }

    fn into_request(self) -> ReadRequest {
        ReadRequest {
            area: self.area,
            start: self.start,
            count: count(self.start, self.hi),
            points: self.points,
        }
    }
}

fn close(groups: &mut [PlanGroup], open: Option<OpenRead>) {
    if let (Some(g), Some(r)) = (groups.last_mut(), open) {
        g.reads.push(r.into_request());
    }
}

/// `end − start` as a register count. A point's end is at most 65536 and its width fits a
/// u16, so a read's count does too; saturating is a guard, not a case.
fn count(start: u16, end: u32) -> u16 {
    u16::try_from(end.saturating_sub(u32::from(start))).unwrap_or(u16::MAX)
}

impl ReadPlan {
    /// Reads issued if every group runs once: the total over all groups.
    pub fn requests_per_cycle(&self) -> usize {
        self.groups.iter().map(|g| g.reads.len()).sum()
    }

    /// The device answered exception 02 or 03 to read `read` of group `group`: replace it by
    /// two reads, the first and second half of its points (by address), each re-tightened to
    /// its points' hull, and return true. Returns false, changing nothing, if the read holds
    /// a single point (the caller marks that point bad) or does not exist.
    pub fn split(&mut self, group: usize, read: usize) -> bool {
        let Some(reads) = self.groups.get_mut(group).map(|g| &mut g.reads) else {
            return false;
        };
        let Some(first) = reads.get_mut(read) else {
            return false;
        };
        if first.points.len() < 2 {
            return false;
        }
        let back = first.points.split_off(first.points.len() / 2);
        let mut second = ReadRequest { area: first.area, start: 0, count: 0, points: back };
        tighten(first, &self.spans);
        tighten(&mut second, &self.spans);
        reads.insert(read + 1, second);
        true
    }
}

/// Sets `start` and `count` to the hull of the read's points.
fn tighten(r: &mut ReadRequest, spans: &[(u16, u32)]) {
    let mut hull: Option<(u16, u32)> = None;
    for &(a, e) in r.points.iter().filter_map(|&i| spans.get(i)) {
        hull = Some(hull.map_or((a, e), |(s, h)| (s.min(a), h.max(e))));
    }
    if let Some((s, h)) = hull {
        r.start = s;
        r.count = count(s, h);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::point::DataType;

    const SEC: Duration = Duration::from_secs(1);

    fn pt(area: Area, address: u16, dtype: DataType, poll: Duration) -> ModbusPoint {
        ModbusPoint {
            name: Arc::from(format!("{area}_{address}")),
            area,
            address,
            dtype,
            order: crate::point::Order::Abcd,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            poll,
            deadband: None,
        }
    }

    /// A holding point of `width` registers (types of width 1, 2, 4, else a string).
    fn hold(address: u16, width: u16) -> ModbusPoint {
        let dtype = match width {
            1 => DataType::U16,
            2 => DataType::F32,
            4 => DataType::F64,
            n => DataType::String(n),
        };
        pt(Area::Holding, address, dtype, SEC)
    }

    fn limits(max_gap: u16, max_registers: u16, max_bits: u16) -> ReadLimits {
        ReadLimits { max_gap, max_registers, max_bits }
    }

    /// `(poll, area, start, count, points)` of a read.
    type Shape = (Duration, Area, u16, u16, Vec<usize>);

    /// The shape of every read, group by group.
    fn shape(plan: &ReadPlan) -> Vec<Shape> {
        let mut out = Vec::new();
        for g in &plan.groups {
            for r in &g.reads {
                out.push((g.poll, r.area, r.start, r.count, r.points.clone()));
            }
        }
        out
    }

    /// Checks every rule of the module docs; panics with `case` on the first violation.
    fn assert_valid(case: &str, points: &[ModbusPoint], limits: &ReadLimits, plan: &ReadPlan) {
        let mut seen = vec![0usize; points.len()];
        let mut polls: Vec<Duration> = plan.groups.iter().map(|g| g.poll).collect();
        polls.dedup();
        assert_eq!(polls.len(), plan.groups.len(), "{case}: one group per poll interval");
        for g in &plan.groups {
            for r in &g.reads {
                assert!(!r.points.is_empty(), "{case}: empty read {r:?}");
                let max = u32::from(limits.max_for(r.area));
                let mut sorted = r.points.clone();
                sorted.sort_by_key(|&i| (points[i].address, points[i].end()));
                let lo = points[sorted[0]].address;
                let hi = sorted.iter().map(|&i| points[i].end()).max().unwrap();
                assert_eq!((r.start, r.end()), (lo, hi), "{case}: read {r:?} is its hull");
                if r.points.len() > 1 {
                    assert!(r.end() - u32::from(r.start) <= max, "{case}: {r:?} over {max}");
                }
                let mut furthest = u32::from(lo);
                for &i in &sorted {
                    let p = &points[i];
                    seen[i] += 1;
                    assert_eq!((p.area, p.poll), (r.area, g.poll), "{case}: point {i} in {r:?}");
                    let gap = u32::from(p.address).saturating_sub(furthest);
                    assert!(gap <= u32::from(limits.max_gap), "{case}: gap {gap} before {i}");
                    furthest = furthest.max(p.end());
                }
            }
        }
        for (i, n) in seen.iter().enumerate() {
            assert_eq!(*n, 1, "{case}: point {i} is in {n} reads, expected exactly one");
        }
    }

    #[test]
    fn table() {
        let l = ReadLimits::default(); // max_gap 8, 125 registers, 2000 bits
        let min = Duration::from_secs(60);
        let cases: Vec<(&str, Vec<ModbusPoint>, ReadLimits, Vec<Shape>)> = vec![
            ("no points, no reads", vec![], l, vec![]),
            (
                "adjacent points merge",
                vec![hold(0, 1), hold(1, 2), hold(3, 4)],
                l,
                vec![(SEC, Area::Holding, 0, 7, vec![0, 1, 2])],
            ),
            (
                "a gap of exactly max_gap merges",
                vec![hold(0, 2), hold(10, 1)],
                l,
                vec![(SEC, Area::Holding, 0, 11, vec![0, 1])],
            ),
            (
                "a gap of max_gap + 1 splits",
                vec![hold(0, 2), hold(11, 1)],
                l,
                vec![(SEC, Area::Holding, 0, 2, vec![0]), (SEC, Area::Holding, 11, 1, vec![1])],
            ),
            (
                "max_gap 0 merges only touching points",
                vec![hold(0, 2), hold(2, 2), hold(5, 1)],
                limits(0, 125, 2000),
                vec![(SEC, Area::Holding, 0, 4, vec![0, 1]), (SEC, Area::Holding, 5, 1, vec![2])],
            ),
            (
                "125 registers fit one read, 126 do not",
                vec![hold(0, 4), hold(121, 4), hold(125, 1)],
                limits(200, 125, 2000),
                vec![
                    (SEC, Area::Holding, 0, 125, vec![0, 1]),
                    (SEC, Area::Holding, 125, 1, vec![2]),
                ],
            ),
            (
                "a 125-register string fills a read alone",
                vec![hold(0, 125), hold(125, 1)],
                l,
                vec![(SEC, Area::Holding, 0, 125, vec![0]), (SEC, Area::Holding, 125, 1, vec![1])],
            ),
            (
                "bit areas use max_bits, not max_registers",
                (0..300).map(|a| pt(Area::Coil, a * 5, DataType::Bool, SEC)).collect(),
                limits(8, 125, 2000),
                vec![(SEC, Area::Coil, 0, 1496, (0..300).collect())],
            ),
            (
                "max_bits splits bit reads",
                (0..4).map(|a| pt(Area::Discrete, a, DataType::Bool, SEC)).collect(),
                limits(8, 125, 3),
                vec![
                    (SEC, Area::Discrete, 0, 3, vec![0, 1, 2]),
                    (SEC, Area::Discrete, 3, 1, vec![3]),
                ],
            ),
            (
                "areas never share a read",
                vec![
                    hold(0, 1),
                    pt(Area::Input, 1, DataType::U16, SEC),
                    pt(Area::Coil, 2, DataType::Bool, SEC),
                ],
                l,
                vec![
                    (SEC, Area::Coil, 2, 1, vec![2]),
                    (SEC, Area::Input, 1, 1, vec![1]),
                    (SEC, Area::Holding, 0, 1, vec![0]),
                ],
            ),
            (
                "different poll intervals never share a read",
                vec![hold(0, 1), pt(Area::Holding, 1, DataType::U16, min), hold(2, 1)],
                l,
                vec![(SEC, Area::Holding, 0, 3, vec![0, 2]), (min, Area::Holding, 1, 1, vec![1])],
            ),
            (
                "aliases and the bits of a status word share one read",
                vec![
                    pt(Area::Holding, 7, DataType::Bit(3), SEC),
                    hold(7, 1),
                    pt(Area::Holding, 7, DataType::Bit(0), SEC),
                    hold(5, 2),
                    hold(5, 2),
                ],
                l,
                vec![(SEC, Area::Holding, 5, 3, vec![3, 4, 0, 1, 2])],
            ),
            (
                "the gap counts from the furthest end, not the previous point",
                vec![hold(0, 10), hold(1, 1), hold(12, 1)],
                limits(2, 125, 2000),
                vec![(SEC, Area::Holding, 0, 13, vec![0, 1, 2])],
            ),
            (
                "an overlapping point that would stretch the read past the limit starts the next one",
                vec![hold(0, 4), hold(2, 4), hold(3, 1)],
                limits(8, 5, 2000),
                vec![(SEC, Area::Holding, 0, 4, vec![0]), (SEC, Area::Holding, 2, 4, vec![1, 2])],
            ),
            (
                "an oversize point reads alone and does not split its neighbours",
                vec![hold(0, 1), hold(1, 20), hold(2, 1)],
                limits(8, 10, 2000),
                vec![(SEC, Area::Holding, 0, 3, vec![0, 2]), (SEC, Area::Holding, 1, 20, vec![1])],
            ),
            (
                "points ending at 65535 do not overflow",
                vec![hold(65532, 4), hold(65535, 1), hold(65530, 2)],
                l,
                vec![(SEC, Area::Holding, 65530, 6, vec![2, 0, 1])],
            ),
        ];
        for (case, points, limits, want) in cases {
            let plan = plan(&points, &limits);
            assert_valid(case, &points, &limits, &plan);
            assert_eq!(shape(&plan), want, "case {case:?}");
            assert_eq!(plan.requests_per_cycle(), want.len(), "case {case:?}");
        }
    }

    #[test]
    fn split_halves_and_retightens() {
        // Four points with gaps, one read: [0,2) [5,6) [9,13) [20,21).
        let points = vec![hold(0, 2), hold(5, 1), hold(9, 4), hold(20, 1)];
        let mut plan = plan(&points, &limits(8, 125, 2000));
        assert_eq!(shape(&plan), vec![(SEC, Area::Holding, 0, 21, vec![0, 1, 2, 3])]);

        assert!(plan.split(0, 0), "four points split");
        assert_eq!(
            shape(&plan),
            vec![(SEC, Area::Holding, 0, 6, vec![0, 1]), (SEC, Area::Holding, 9, 12, vec![2, 3])]
        );
        assert!(plan.split(0, 1), "second half splits again");
        assert_eq!(
            shape(&plan),
            vec![
                (SEC, Area::Holding, 0, 6, vec![0, 1]),
                (SEC, Area::Holding, 9, 4, vec![2]),
                (SEC, Area::Holding, 20, 1, vec![3]),
            ]
        );
        assert_eq!(plan.requests_per_cycle(), 3);
    }

    #[test]
    fn split_of_odd_read_puts_the_extra_point_second() {
        let points = vec![hold(0, 1), hold(1, 1), hold(2, 1)];
        let mut plan = plan(&points, &ReadLimits::default());
        assert!(plan.split(0, 0));
        assert_eq!(
            shape(&plan),
            vec![(SEC, Area::Holding, 0, 1, vec![0]), (SEC, Area::Holding, 1, 2, vec![1, 2])]
        );
    }

    #[test]
    fn split_refuses_a_single_point_and_missing_reads() {
        let points = vec![hold(0, 2), pt(Area::Coil, 0, DataType::Bool, SEC)];
        let mut plan = plan(&points, &ReadLimits::default());
        let before = plan.clone();
        for (case, group, read) in [
            ("single-point read", 0, 0),
            ("other single-point read", 0, 1),
            ("no such read", 0, 2),
            ("no such group", 1, 0),
        ] {
            assert!(!plan.split(group, read), "case {case:?}");
            assert_eq!(plan, before, "case {case:?} changed the plan");
        }
    }

    #[test]
    fn split_of_overlapping_points_keeps_each_half_covering_its_points() {
        // The status word and its bits: halves may overlap, each must still cover its points.
        let points = vec![
            hold(3, 1),
            pt(Area::Holding, 3, DataType::Bit(0), SEC),
            hold(0, 4),
            pt(Area::Holding, 3, DataType::Bit(15), SEC),
        ];
        let mut plan = plan(&points, &ReadLimits::default());
        assert!(plan.split(0, 0));
        for r in &plan.groups[0].reads {
            for &i in &r.points {
                let p = &points[i];
                assert!(r.start <= p.address && p.end() <= r.end(), "{i} in {r:?}");
            }
        }
        assert_eq!(plan.requests_per_cycle(), 2);
    }

    // ----- Minimality against an exhaustive search ---------------------------------------

    /// Whether `set` can be one read, straight from the rules: hull within `max`, and no run
    /// of registers inside the hull that none of the points covers longer than `max_gap`.
    /// Deliberately written without the planner's incremental walk.
    fn feasible(set: &[(u32, u32)], max: u32, max_gap: u32) -> bool {
        if set.len() == 1 {
            return true; // any point can be read alone (rule 4 for oversize ones)
        }
        let lo = set.iter().map(|s| s.0).min().unwrap();
        let hi = set.iter().map(|s| s.1).max().unwrap();
        if hi - lo > max {
            return false;
        }
        let mut covered = vec![false; (hi - lo) as usize];
        for &(a, e) in set {
            for r in a..e {
                covered[(r - lo) as usize] = true;
            }
        }
        covered.split(|&c| c).all(|hole| hole.len() as u32 <= max_gap)
    }

    /// Fewest feasible sets that partition `spans`, by dynamic programming over subsets.
    fn fewest_reads(spans: &[(u32, u32)], max: u32, max_gap: u32) -> usize {
        let n = spans.len();
        let full = (1usize << n) - 1;
        let ok: Vec<bool> = (0..=full)
            .map(|m| {
                let set: Vec<_> = (0..n).filter(|i| m >> i & 1 == 1).map(|i| spans[i]).collect();
                !set.is_empty() && feasible(&set, max, max_gap)
            })
            .collect();
        let mut best = vec![usize::MAX; full + 1];
        best[0] = 0;
        for m in 1..=full {
            let low = m & m.wrapping_neg(); // the set holding the lowest point, by index
            let mut sub = m;
            while sub > 0 {
                if sub & low != 0 && ok[sub] && best[m ^ sub] != usize::MAX {
                    best[m] = best[m].min(best[m ^ sub] + 1);
                }
                sub = (sub - 1) & m;
            }
        }
        best[full]
    }

    fn optimum(points: &[ModbusPoint], limits: &ReadLimits) -> usize {
        let mut groups: HashMap<(Duration, Area), Vec<(u32, u32)>> = HashMap::new();
        for p in points {
            groups.entry((p.poll, p.area)).or_default().push((u32::from(p.address), p.end()));
        }
        groups
            .iter()
            .map(|((_, area), spans)| {
                fewest_reads(spans, u32::from(limits.max_for(*area)), u32::from(limits.max_gap))
            })
            .sum()
    }

    fn random_map(rng: &mut fastrand::Rng) -> (Vec<ModbusPoint>, ReadLimits) {
        let limits = limits(rng.u16(0..=4), rng.u16(1..=12), rng.u16(1..=12));
        // Near 0 or near the top of the address space; a small window forces overlaps.
        let base: u32 = if rng.bool() { 0 } else { 65536 - 24 };
        let n = rng.usize(1..=10);
        let points = (0..n)
            .map(|_| {
                let poll = if rng.u8(0..4) == 0 { Duration::from_secs(5) } else { SEC };
                let (area, dtype) = match rng.u8(0..8) {
                    0 => (Area::Coil, DataType::Bool),
                    1 => (Area::Input, DataType::U32),
                    2 => (Area::Holding, DataType::String(rng.u16(3..=14))),
                    3 => (Area::Holding, DataType::Bit(rng.u8(0..16))),
                    _ => (
                        Area::Holding,
                        [DataType::U16, DataType::I32, DataType::F64][rng.usize(0..3)],
                    ),
                };
                let width = u32::from(dtype.width());
                let address = (base + rng.u32(0..24)).min(65536 - width) as u16;
                pt(area, address, dtype, poll)
            })
            .collect();
        (points, limits)
    }

    #[test]
    fn request_count_equals_exhaustive_optimum_on_random_maps() {
        let mut rng = fastrand::Rng::with_seed(0x0EDC_E9F0);
        for case in 0..3000 {
            let (points, limits) = random_map(&mut rng);
            let plan = plan(&points, &limits);
            let name = format!("random map {case}: {limits:?} {:?}", summary(&points));
            assert_valid(&name, &points, &limits, &plan);
            assert_eq!(plan.requests_per_cycle(), optimum(&points, &limits), "{name}");
        }
    }

    #[test]
    fn split_keeps_random_plans_covering_every_point_once() {
        let mut rng = fastrand::Rng::with_seed(0x5B11_7000);
        for case in 0..500 {
            let (points, limits) = random_map(&mut rng);
            let mut plan = plan(&points, &limits);
            let before = plan.requests_per_cycle();
            let mut splits = 0;
            while plan.split(0, rng.usize(0..plan.groups[0].reads.len())) {
                splits += 1;
            }
            assert_eq!(plan.requests_per_cycle(), before + splits, "random map {case}");
            let mut seen = vec![0; points.len()];
            for g in &plan.groups {
                for r in &g.reads {
                    let lo = r.points.iter().map(|&i| points[i].address).min().unwrap();
                    let hi = r.points.iter().map(|&i| points[i].end()).max().unwrap();
                    assert_eq!((r.start, r.end()), (lo, hi), "random map {case}: {r:?} tight");
                    r.points.iter().for_each(|&i| seen[i] += 1);
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "random map {case}: {seen:?}");
        }
    }

    fn summary(points: &[ModbusPoint]) -> Vec<String> {
        points
            .iter()
            .map(|p| format!("{}@{}+{}/{:?}", p.area, p.address, p.width(), p.poll))
            .collect()
    }
}
