//! Prod tag names (SPEC §1): `prod-YYYY-MM-DD`, then `.2`, `.3` … for more
//! releases the same day.
use chrono::NaiveDate;

/// Reads a prod tag name: `prod-2025-11-14` → (date, 1),
/// `prod-2025-11-14.2` → (date, 2). Rejects `.0`, `.1`, leading zeros and
/// impossible dates.
pub fn parse_prod_tag(prefix: &str, name: &str) -> Option<(NaiveDate, u32)> {
    let rest = name.strip_prefix(prefix)?;
    let (date, n) = match rest.split_once('.') {
        Some((d, n)) => (d, Some(n)),
        None => (rest, None),
    };
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return None;
    }
    let y: i32 = date[0..4].parse().ok()?;
    let m: u32 = date[5..7].parse().ok()?;
    let d: u32 = date[8..10].parse().ok()?;
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    let n = match n {
        None => 1,
        Some(n) => {
            if n.is_empty()
                || n.len() > 6
                || n.starts_with('0')
                || !n.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let n: u32 = n.parse().ok()?;
            if n < 2 {
                return None;
            }
            n
        }
    };
    Some((date, n))
}

/// The tag name for `(date, n)`: no suffix for the first of the day.
pub fn prod_tag_name(prefix: &str, date: NaiveDate, n: u32) -> String {
    let base = format!("{prefix}{}", date.format("%Y-%m-%d"));
    if n <= 1 {
        base
    } else {
        format!("{base}.{n}")
    }
}

/// The next free prod tag for `date`: the bare date when that day has no
/// tag yet, else one past the highest number used that day.
pub fn next_free_tag(prefix: &str, date: NaiveDate, existing: &[String]) -> String {
    let highest = existing
        .iter()
        .filter_map(|t| parse_prod_tag(prefix, t))
        .filter(|(d, _)| *d == date)
        .map(|(_, n)| n)
        .max();
    match highest {
        None => prod_tag_name(prefix, date, 1),
        Some(n) => prod_tag_name(prefix, date, n + 1),
    }
}
