//! What the catalog says about a table, and the per-engine SQL pieces ([`Dialect`]) the
//! bisection is built from.
//!
//! Soundness rests on two rules every dialect keeps:
//! * the row hash covers exactly the canonical text (or typed value) that the leaf fetch
//!   returns, so two rows hash alike exactly when the client compares them equal;
//! * the leaf fetch orders rows by exactly the identity values it returns, in a byte or
//!   integer order the client reproduces, so the merge can never misalign.

use crate::model::DiffError;

/// How the client decodes one key identity column, and so how it orders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyDecode {
    Int,
    UInt,
    Bytes,
    /// SQLite: the stored value, ordered as SQLite orders storage classes.
    Lite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: String,
    /// The full type as the catalog prints it, with the collation: what must match.
    pub type_name: String,
    /// The short type name (`int8`, `varchar`, ...), lower case.
    pub base: String,
    pub nullable: bool,
    pub collation: Option<String>,
    /// PostgreSQL: the collation is nondeterministic.
    pub nondeterministic: bool,
    /// MySQL: the collation pads with spaces (trailing spaces do not count).
    pub pad_space: bool,
    pub unsigned: bool,
}

impl Column {
    pub(crate) fn signature(&self) -> String {
        match &self.collation {
            Some(c) => format!("{} collate {c}", self.type_name),
            None => self.type_name.clone(),
        }
    }
}

/// A table resolved against both catalogs.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub table: String,
    /// Quoted table reference for SQL.
    pub from: String,
    /// The compared columns, key columns first.
    pub cols: Vec<Column>,
    pub nkey: usize,
    /// The row's last-write time.
    pub time: Option<Column>,
    /// The row's creation time (only with `time`).
    pub created: Option<Column>,
    /// The failover point as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    pub after: Option<String>,
    /// SQL predicate of the key range, already rendered; `TRUE`-like when absent.
    pub range_sql: Option<String>,
    /// Set when buckets are slices of a single integer key rather than hash classes.
    pub int_range: Option<IntRange>,
}

/// Buckets as key slices: bucket `b` of a level with `bits` bits holds the keys `k` with
/// `(k - lo) >> (total_bits - bits) == b`, so a bucket of one level is the union of
/// consecutive buckets of the next, and restricting a query to some buckets is a set of key
/// ranges the primary key index serves.
#[derive(Debug, Clone)]
pub(crate) struct IntRange {
    /// The quoted key column.
    pub col: String,
    /// The key as a 64-bit integer, for the arithmetic (`int4` would overflow).
    pub wide: String,
    pub lo: i64,
    pub hi: i64,
    pub total_bits: u32,
}

/// Above this many key ranges, a restriction tests the bucket expression instead.
const MAX_RANGES: usize = 256;

impl IntRange {
    pub(crate) fn bucket(&self, bits: u32) -> String {
        format!("(({} - ({})) >> {})", self.wide, self.lo, self.total_bits.saturating_sub(bits))
    }
    /// The key ranges of the given buckets, adjacent ones merged.
    pub(crate) fn ranges(&self, bits: u32, list: &[u64]) -> String {
        let shift = self.total_bits.saturating_sub(bits);
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for b in sorted {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == b => *end = b,
                _ => runs.push((b, b)),
            }
        }
        // Many disjoint ranges cost the planner more than they save: test the bucket instead.
        if runs.len() > MAX_RANGES {
            return format!("{} IN ({})", self.bucket(bits), join_u64(list));
        }
        let parts: Vec<String> = runs
            .iter()
            .map(|&(a, z)| {
                let from = self.lo as i128 + ((a as i128) << shift);
                let to = (self.lo as i128 + (((z as i128) + 1) << shift) - 1).min(self.hi as i128);
                format!("{} BETWEEN {from} AND {to}", self.col)
            })
            .collect();
        if parts.is_empty() { "1 = 0".into() } else { format!("({})", parts.join(" OR ")) }
    }
}

impl Plan {
    pub(crate) fn key(&self) -> &[Column] {
        &self.cols[..self.nkey]
    }
    /// How many flags the fetch appends after the values: the time column later than the
    /// failover point, then the creation column later than it.
    pub(crate) fn flags(&self) -> usize {
        match (&self.time, &self.created, &self.after) {
            (Some(_), Some(_), Some(_)) => 2,
            (Some(_), None, Some(_)) => 1,
            _ => 0,
        }
    }
    pub(crate) fn where_range(&self) -> String {
        match &self.range_sql {
            Some(r) => format!(" WHERE {r}"),
            None => String::new(),
        }
    }
}

/// The SQL an engine contributes. Implemented by each engine module.
pub(crate) trait Dialect: Sync {
    fn quote(&self, ident: &str) -> String;
    /// A table name (`t` or `schema.t`) as a quoted reference.
    fn table_ref(&self, name: &str) -> String {
        name.split('.').map(|p| self.quote(p)).collect::<Vec<_>>().join(".")
    }
    /// The key identity of a column and how the client decodes it. The fetch orders by it.
    fn identity(&self, table: &str, c: &Column) -> Result<(String, KeyDecode), DiffError>;
    /// An unsigned-able 64-bit (or 32-bit) hash of the key identity, for bucketing.
    fn key_hash(&self, plan: &Plan) -> Result<String, DiffError>;
    /// Bits the key hash offers.
    fn key_hash_bits(&self) -> u32;
    /// The column is an integer key that buckets may slice by value.
    fn int_key(&self, c: &Column) -> bool;
    /// The integer key widened to 64 bits.
    fn wide(&self, c: &Column) -> String {
        self.quote(&c.name)
    }
    /// The 64-bit row hash over the compared columns' canonical values, NULL-aware.
    fn row_hash(&self, plan: &Plan) -> String;
    fn xor_agg(&self, expr: &str) -> String;
    /// The canonical value of a column as the fetch returns it.
    fn canon(&self, c: &Column) -> String;
    /// A boolean-ish expression: the time column is later than the failover point.
    fn after(&self, c: &Column, utc: &str) -> String;
    /// One row, one cell: the latest value of time column `col` of `from` not later than
    /// `utc`, as UTC text `YYYY-MM-DD HH:MM:SS[.f]` (NULL when there is none).
    fn latest_not_after(&self, col: &str, from: &str, utc: &str) -> String;
    /// A literal of the column's type from its printed text, for key-range bounds.
    fn literal(&self, table: &str, c: &Column, text: &str) -> Result<String, DiffError>;
    /// The column as the quantile query prints it (round-trips through `literal`).
    fn print(&self, c: &Column) -> String;
}

/// `lower <= key < upper` as SQL, lexicographic over the key columns.
pub(crate) fn range_sql(
    d: &dyn Dialect,
    table: &str,
    key: &[Column],
    range: &crate::model::KeyRange,
) -> Result<Option<String>, DiffError> {
    let mut parts = Vec::new();
    for (bound, strict_last, op) in [(&range.lower, false, ">"), (&range.upper, true, "<")] {
        let Some(vals) = bound else { continue };
        if vals.len() != key.len() {
            return Err(DiffError::BadSpec {
                table: table.into(),
                message: format!("key range bound has {} values for {} key columns", vals.len(), key.len()),
            });
        }
        let lits: Vec<String> = key.iter().zip(vals).map(|(c, v)| d.literal(table, c, v)).collect::<Result<_, _>>()?;
        let cols: Vec<String> = key.iter().map(|c| d.quote(&c.name)).collect();
        let mut ors = Vec::new();
        for i in 0..key.len() {
            let mut ands: Vec<String> = (0..i).map(|j| format!("{} = {}", cols[j], lits[j])).collect();
            let last = i + 1 == key.len();
            let o = if last && !strict_last { format!("{op}=") } else { op.to_string() };
            ands.push(format!("{} {o} {}", cols[i], lits[i]));
            ors.push(format!("({})", ands.join(" AND ")));
        }
        parts.push(format!("({})", ors.join(" OR ")));
    }
    Ok(if parts.is_empty() { None } else { Some(parts.join(" AND ")) })
}

/// Builds the grouped checksum query of one level.
pub(crate) fn bucket_sql(
    d: &dyn Dialect,
    plan: &Plan,
    bits: u32,
    prev: Option<(u32, &[u64])>,
) -> Result<String, DiffError> {
    let rh = d.row_hash(plan);
    let xor = d.xor_agg("rh");
    if let Some(r) = &plan.int_range {
        let mut conds: Vec<String> = plan.range_sql.iter().cloned().collect();
        if let Some((pbits, list)) = prev {
            conds.push(r.ranges(pbits, list));
        }
        let w = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        return Ok(format!(
            "SELECT b, COUNT(*), {xor} FROM (SELECT {} AS b, {rh} AS rh FROM {}{w}) s GROUP BY b",
            r.bucket(bits),
            plan.from
        ));
    }
    let mask = (1u64 << bits) - 1;
    let kh = d.key_hash(plan)?;
    let mut sql = format!(
        "SELECT b, COUNT(*), {xor} FROM (SELECT ({kh}) & {mask} AS b, {rh} AS rh FROM {}{}) s",
        plan.from,
        plan.where_range()
    );
    if let Some((pbits, list)) = prev {
        let pmask = (1u64 << pbits) - 1;
        sql.push_str(&format!(" WHERE (b & {pmask}) IN ({})", join_u64(list)));
    }
    sql.push_str(" GROUP BY b");
    Ok(sql)
}

/// Builds the leaf fetch: identity columns, canonical values, the after flag, in identity order.
pub(crate) fn fetch_sql(
    d: &dyn Dialect,
    plan: &Plan,
    filter: Option<(u32, &[u64])>,
) -> Result<(String, Vec<KeyDecode>), DiffError> {
    let mut sel = Vec::new();
    let mut dec = Vec::new();
    for c in plan.key() {
        let (e, k) = d.identity(&plan.table, c)?;
        sel.push(e);
        dec.push(k);
    }
    for c in &plan.cols {
        sel.push(d.canon(c));
    }
    // Both sides: the old side's time column tells a lost write from one replicated.
    if let (Some(t), Some(a)) = (&plan.time, &plan.after) {
        sel.push(d.after(t, a));
        if let Some(c) = &plan.created {
            sel.push(d.after(c, a));
        }
    }
    let mut conds = Vec::new();
    if let Some(r) = &plan.range_sql {
        conds.push(r.clone());
    }
    if let Some((bits, list)) = filter {
        match &plan.int_range {
            Some(r) => conds.push(r.ranges(bits, list)),
            None => {
                let mask = (1u64 << bits) - 1;
                conds.push(format!("(({}) & {mask}) IN ({})", d.key_hash(plan)?, join_u64(list)));
            }
        }
    }
    let mut sql = format!("SELECT {} FROM {}", sel.join(", "), plan.from);
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    let order: Vec<String> = (1..=plan.nkey).map(|i| i.to_string()).collect();
    sql.push_str(" ORDER BY ");
    sql.push_str(&order.join(", "));
    Ok((sql, dec))
}

fn join_u64(list: &[u64]) -> String {
    let mut s = String::with_capacity(list.len() * 6);
    for (i, x) in list.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s
}

/// Parses an RFC 3339 time into the UTC text every engine compares with.
pub(crate) fn utc_text(s: &str) -> Result<String, DiffError> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| DiffError::BadSource(format!("failover time {s:?} is not RFC 3339: {e}")))?;
    let t = t.to_offset(time::UtcOffset::UTC);
    Ok(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    ))
}

/// A date and time as a database printed it (`2026-01-01 00:05:00.123456`, a `T`, fewer or no
/// fraction digits, a trailing `Z` or `+00`, or a date alone) as `YYYY-MM-DD HH:MM:SS.ffffff`,
/// the UTC text every engine compares with. The sessions print UTC, so a zone is dropped.
pub(crate) fn normalize_time(s: &str) -> Option<String> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if !(digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7) && b.get(7) == Some(&b'-') && digits(8..10)) {
        return None;
    }
    let date = &s[..10];
    if b.len() == 10 {
        return Some(format!("{date} 00:00:00.000000"));
    }
    if !(matches!(b.get(10), Some(b' ' | b'T'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return None;
    }
    let mut frac = String::new();
    if b.get(19) == Some(&b'.') {
        frac = s[20..].chars().take_while(char::is_ascii_digit).collect();
    }
    frac.truncate(6);
    Some(format!("{date} {}.{frac:0<6}", &s[11..19]))
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push_str(&format!("{x:02X}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::normalize_time;

    #[test]
    fn printed_times_normalise_to_one_utc_text() {
        let want = Some("2026-01-01 00:05:00.123000".to_string());
        assert_eq!(normalize_time("2026-01-01 00:05:00.123"), want);
        assert_eq!(normalize_time("2026-01-01T00:05:00.123Z"), want);
        assert_eq!(normalize_time("2026-01-01 00:05:00.123+00"), want);
        assert_eq!(normalize_time("2026-01-01 00:05:00.1234567"), Some("2026-01-01 00:05:00.123456".into()));
        assert_eq!(normalize_time("2026-01-01 00:05:00"), Some("2026-01-01 00:05:00.000000".into()));
        assert_eq!(normalize_time("2026-01-01"), Some("2026-01-01 00:00:00.000000".into()));
        for bad in ["", "yesterday", "2026-1-01", "2026-01-01 0:05:00", "1767225600"] {
            assert_eq!(normalize_time(bad), None, "{bad}");
        }
    }
}
