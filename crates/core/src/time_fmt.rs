//! RFC 3339 formatting and parsing for the timestamps that cross Lambda boundaries.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `2026-11-26T05:31:43.123Z`: UTC, millisecond precision.
pub fn rfc3339(t: SystemTime) -> String {
    let dt = OffsetDateTime::from(t);
    let ms = dt.millisecond();
    let dt = dt.replace_nanosecond(ms as u32 * 1_000_000).unwrap_or(dt);
    dt.format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Parses an RFC 3339 timestamp.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| format!("`{s}` is not an RFC 3339 timestamp ({e})"))
}

/// `#[serde(serialize_with = "failover_core::time_fmt::serialize")]`: a time as RFC 3339 text.
pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// [`serialize`] for an optional time (`null` when absent).
pub fn serialize_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

/// An elapsed time as a person reads it: `45 s`, `4 min 05 s`, `2 h 03 min` (notifications,
/// the drill's progress lines). Whole seconds: a fraction is dropped.
pub fn elapsed(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trips_with_millisecond_precision() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_135_103_123);
        let s = rfc3339(t);
        assert_eq!(s, "2025-11-26T05:31:43.123Z");
        assert_eq!(parse_rfc3339(&s).unwrap(), t);
        assert!(parse_rfc3339("yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(elapsed(Duration::from_secs(45)), "45 s");
        assert_eq!(elapsed(Duration::from_secs(245)), "4 min 05 s");
        assert_eq!(elapsed(Duration::from_secs(7380)), "2 h 03 min");
    }
}
