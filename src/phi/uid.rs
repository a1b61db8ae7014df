//! Consistent replacement of UIDs and dates from a per-project secret.
//!
//! A UID is replaced by `2.25.<decimal>` of the first 128 bits of HMAC-SHA256(secret, UID)
//! (PS3.5 §B.2 form), so the same UID becomes the same replacement in every file and
//! references between instances stay intact. Dates are shifted by a per-patient offset
//! derived the same way, so intervals are kept.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The secret all replacements derive from.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret (from the operating system).
    pub fn random() -> std::io::Result<Secret> {
        use std::io::Read;
        let mut b = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
        Ok(Secret(b))
    }

    pub fn from_hex(s: &str) -> Option<Secret> {
        let s = s.trim();
        if s.len() != 64 {
            return None;
        }
        let mut b = [0u8; 32];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Secret(b))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// HMAC-SHA256 of `domain` and `data`.
    pub fn mac(&self, domain: &str, data: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        m.update(domain.as_bytes());
        m.update(&[0]);
        m.update(data.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// The replacement of a UID: `2.25.` and a decimal of at most 39 digits.
    pub fn uid(&self, uid: &str) -> String {
        let uid = uid.trim_end_matches(['\0', ' ']);
        let h = self.mac("uid", uid);
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        format!("2.25.{}", u128::from_be_bytes(b))
    }

    /// Hex digits identifying `data` in `domain` (folder names, pseudonyms).
    pub fn token(&self, domain: &str, data: &str, len: usize) -> String {
        self.mac(domain, data)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
            .chars()
            .take(len)
            .collect()
    }

    /// A per-patient date shift in days, between -3650 and -365 (always into the past).
    pub fn date_shift_days(&self, patient_id: &str) -> i64 {
        let h = self.mac("date-shift", patient_id);
        let v = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as i64;
        -(365 + v % (3650 - 365 + 1))
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Shifts a DA value (`YYYYMMDD`, or the date part of a DT) by `days`. Values that are not
/// a valid date are returned as None (the caller empties them).
pub fn shift_date(value: &str, days: i64) -> Option<String> {
    let v = value.trim();
    if v.len() < 8 || !v.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let y: i64 = v[..4].parse().ok()?;
    let m: i64 = v[4..6].parse().ok()?;
    let d: i64 = v[6..8].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (y2, m2, d2) = civil_from_days(days_from_civil(y, m, d) + days);
    Some(format!("{y2:04}{m2:02}{d2:02}{}", &v[8..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_consistent_valid_and_secret_dependent() {
        let s = Secret::from_hex(&"11".repeat(32)).unwrap_or(Secret([1; 32]));
        let a = s.uid("1.2.840.113619.2.55.3");
        assert_eq!(a, s.uid("1.2.840.113619.2.55.3\0"));
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(crate::synth::is_valid_uid(&a));
        let other = Secret([2; 32]);
        assert_ne!(a, other.uid("1.2.840.113619.2.55.3"));
        assert_eq!(
            Secret::from_hex(&s.to_hex()).map(|x| x.uid("1.2")),
            Some(s.uid("1.2"))
        );
        let shift = s.date_shift_days("PAT1");
        assert!((-3650..=-365).contains(&shift));
    }

    #[test]
    fn dates_shift_across_months_and_leap_years() {
        assert_eq!(shift_date("20240301", -1).as_deref(), Some("20240229"));
        assert_eq!(shift_date("20230101", -365).as_deref(), Some("20220101"));
        assert_eq!(
            shift_date("20210615120000", 10).as_deref(),
            Some("20210625120000")
        );
        assert_eq!(shift_date("2021", 10), None);
        assert_eq!(shift_date("20211341", 1), None);
    }
}
