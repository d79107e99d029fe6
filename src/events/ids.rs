//! Event identifiers: ULIDs we mint, and the id forms upstream's validator accepts when reading.

use std::cell::Cell;
use std::fmt;
use ulid::Ulid;

/// Crockford base32 as used by ULIDs (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// An event id, normalised as upstream's `normalize_event_id` does: ULIDs upper-case, UUIDs
/// hyphenated lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventId {
    Ulid(u128),
    Uuid(u128),
    /// 26 Crockford characters whose value exceeds 128 bits (first char above `7`): not a real ULID,
    /// but upstream accepts it, so it is kept verbatim (upper-cased).
    Wide(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event id {0:?}: expected a 26-character ULID or a UUID")]
pub struct EventIdError(pub String);

impl EventId {
    pub fn parse(s: &str) -> Result<Self, EventIdError> {
        let err = || EventIdError(s.to_owned());
        match s.len() {
            26 => {
                let mut value: u128 = 0;
                let mut wide = false;
                for &byte in s.as_bytes() {
                    let digit = crockford_value(byte).ok_or_else(err)?;
                    wide |= value >> 123 != 0;
                    value = value.wrapping_shl(5) | u128::from(digit);
                }
                if wide { Ok(EventId::Wide(s.to_ascii_uppercase())) } else { Ok(EventId::Ulid(value)) }
            }
            36 => {
                let b = s.as_bytes();
                if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                    return Err(err());
                }
                let hex: String = s.chars().filter(|c| *c != '-').collect();
                parse_hex(&hex).map(EventId::Uuid).ok_or_else(err)
            }
            32 => parse_hex(s).map(EventId::Uuid).ok_or_else(err),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventId::Ulid(value) => {
                let mut text = [0u8; 26];
                for (i, slot) in text.iter_mut().enumerate() {
                    let shift = 5 * (25 - i);
                    *slot = CROCKFORD[((value >> shift) & 31) as usize];
                }
                f.write_str(std::str::from_utf8(&text).expect("alphabet is ASCII"))
            }
            EventId::Uuid(value) => {
                let hex = format!("{value:032x}");
                write!(f, "{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
            }
            EventId::Wide(text) => f.write_str(text),
        }
    }
}

/// Crockford digit values by byte (either case); 0xFF marks bytes outside the alphabet.
const CROCKFORD_VALUES: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 32 {
        table[CROCKFORD[i] as usize] = i as u8;
        table[CROCKFORD[i].to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    table
};

fn crockford_value(byte: u8) -> Option<u8> {
    Some(CROCKFORD_VALUES[byte as usize]).filter(|&v| v != 0xFF)
}

fn parse_hex(s: &str) -> Option<u128> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// Mints ULIDs. With a seed (`SPEC_KITTY_ID_SEED`) the random part is a deterministic sequence, so tests
/// and snapshots get stable ids; otherwise it comes from the OS generator.
///
/// Ids minted by one generator strictly increase (the ULID spec's monotonic mode): events created in the
/// same millisecond (e.g. the hops of one lane move) must sort in creation order, because status logs
/// order equal timestamps by event id.
#[derive(Debug)]
pub struct IdGenerator {
    seeded_state: Option<Cell<u64>>,
    last: Cell<u128>,
}

impl IdGenerator {
    pub fn random() -> Self {
        IdGenerator { seeded_state: None, last: Cell::new(0) }
    }

    pub fn seeded(seed: u64) -> Self {
        IdGenerator { seeded_state: Some(Cell::new(seed)), last: Cell::new(0) }
    }

    /// A new ULID whose time part is `unix_ms` (or, within one millisecond, one more than the last).
    pub fn ulid(&self, unix_ms: u64) -> Ulid {
        let random = match &self.seeded_state {
            Some(state) => {
                let high = splitmix64(state);
                let low = splitmix64(state);
                ((u128::from(high) << 64) | u128::from(low)) & ((1u128 << 80) - 1)
            }
            None => Ulid::generate().random(),
        };
        let mut id = Ulid::from_parts(unix_ms, random).0;
        if id <= self.last.get() {
            id = self.last.get() + 1;
        }
        self.last.set(id);
        Ulid(id)
    }
}

fn splitmix64(state: &Cell<u64>) -> u64 {
    let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
    state.set(next);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_uppercased() {
        let id = EventId::parse("01khk2dvhcvjfxtv0hh3qmbsyt").unwrap();
        assert_eq!(id.to_string(), "01KHK2DVHCVJFXTV0HH3QMBSYT");
        assert!(matches!(id, EventId::Ulid(_)));
    }

    #[test]
    fn uuids_are_hyphenated_lowercase() {
        let hyphenated = EventId::parse("8A4A7DA6-A97C-4BB4-893A-B31664ABFEE4").unwrap();
        let bare = EventId::parse("8a4a7da6a97c4bb4893ab31664abfee4").unwrap();
        assert_eq!(hyphenated, bare);
        assert_eq!(bare.to_string(), "8a4a7da6-a97c-4bb4-893a-b31664abfee4");
    }

    #[test]
    fn wide_crockford_ids_are_kept() {
        let id = EventId::parse("zzzzzzzzzzzzzzzzzzzzzzzzzz").unwrap();
        assert_eq!(id, EventId::Wide("ZZZZZZZZZZZZZZZZZZZZZZZZZZ".into()));
        assert_eq!(id.to_string(), "ZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    }

    #[test]
    fn rejects_invalid_ids() {
        for bad in ["", "123", "01KHK2DVHCVJFXTV0HH3QMBSYI", "01KHK2DVHCVJFXTV0HH3QMBSY", "g".repeat(32).as_str()] {
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_increase_within_a_millisecond() {
        let ids = IdGenerator::random();
        let minted: Vec<Ulid> = (0..100).map(|_| ids.ulid(1_700_000_000_000)).collect();
        assert!(minted.windows(2).all(|w| w[0] < w[1]));
        assert!(minted.iter().all(|u| u.timestamp_ms() == 1_700_000_000_000));
    }

    #[test]
    fn seeded_generator_is_deterministic_and_distinct() {
        let a = IdGenerator::seeded(7);
        let b = IdGenerator::seeded(7);
        let first = a.ulid(1_700_000_000_000);
        assert_eq!(first, b.ulid(1_700_000_000_000));
        assert_ne!(first, a.ulid(1_700_000_000_000));
        assert_eq!(first.timestamp_ms(), 1_700_000_000_000);
        let parsed = EventId::parse(&first.to_string()).unwrap();
        assert_eq!(parsed.to_string(), first.to_string());
    }
}
