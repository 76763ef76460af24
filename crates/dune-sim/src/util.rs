//! Small pure helpers: RFC 3339 formatting, calendar arithmetic, ULIDs, hashing.

use rand::Rng as _;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) -> days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats nanoseconds since the Unix epoch as `2026-01-01T00:00:20.000000000Z`.
pub(crate) fn format_timestamp(nanos: i128) -> String {
    let secs = nanos.div_euclid(NANOS_PER_SEC);
    let frac = nanos.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let days = i64::try_from(days).unwrap_or(i64::MAX / 2);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new ULID for `unix_millis`. The timestamp is clamped into 2004..2039 so that every id starts with
/// `01`, as Dune's do (the Go SDK checks that prefix).
pub(crate) fn new_ulid(unix_millis: i128) -> String {
    let ts = unix_millis.clamp(1 << 40, (1 << 41) - 1) as u128;
    let random: u128 = rand::rng().random::<u128>() & ((1u128 << 80) - 1);
    let value = (ts << 80) | random;
    (0..26)
        .map(|i| {
            let shift = 5 * (25 - i);
            char::from(CROCKFORD[((value >> shift) & 31) as usize])
        })
        .collect()
}

/// Whether `s` is shaped like a ULID (26 Crockford base32 characters, case-insensitive).
pub(crate) fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| CROCKFORD.contains(&b.to_ascii_uppercase()))
        && s.as_bytes()[0] <= b'7'
}

/// FNV-1a, 64 bit: a stable seed from a string.
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64 finaliser: a well-mixed 64-bit value from any input.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Number of decimal digits of `v`.
pub(crate) fn digits(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000000Z");
        let epoch = i128::from(days_from_civil(2026, 1, 1)) * 86_400 * NANOS_PER_SEC;
        assert_eq!(
            format_timestamp(epoch + 20 * NANOS_PER_SEC + 5),
            "2026-01-01T00:00:20.000000005Z"
        );
        assert_eq!(
            format_timestamp(epoch - NANOS_PER_SEC),
            "2025-12-31T23:59:59.000000000Z"
        );
        for days in [-800_000, -1, 0, 59, 365, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn ulids() {
        let a = new_ulid(1_767_225_600_000);
        let b = new_ulid(0);
        assert_eq!(a.len(), 26);
        assert!(a.starts_with("01"), "{a}");
        assert!(b.starts_with("01"), "{b}");
        assert!(is_ulid(&a) && is_ulid(&a.to_lowercase()));
        assert_ne!(a, new_ulid(1_767_225_600_000));
        assert!(!is_ulid("Wonky Job ID"));
        assert!(!is_ulid("01HKZJ2683PHF9Q9PHHQ8FW4QI"));
        assert!(is_ulid("01HKZJ2683PHF9Q9PHHQ8FW4Q1"));
    }

    #[test]
    fn misc() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(u64::MAX), 20);
        assert_ne!(mix(1), mix(2));
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
    }
}
