//! Qdrant point ids for document ids.
//!
//! Qdrant (server and edge) takes an unsigned integer or a UUID as a point
//! id and refuses any other string. The mapping is a pure function of the
//! document id, so that shards encoded on different machines, re-exports
//! and updates give every document the same point:
//!
//! - a decimal integer without leading zeros that fits in u64 (`"0"`,
//!   `"1234"`) is that number;
//! - a UUID (`8-4-4-4-12` hex digits, any case) is that UUID, lower-cased;
//! - anything else is the name-based UUID of RFC 4122 version 5 in the OID
//!   namespace: Python's `uuid.uuid5(uuid.NAMESPACE_OID, id)`.
//!
//! Integers and UUIDs are separate id spaces in Qdrant, so `"7"` and a
//! UUID never collide; `"007"` is hashed rather than read as 7. The
//! original id travels in the payload as `doc_id`.

use std::fmt;

/// A Qdrant point id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointId {
    /// An unsigned integer id.
    Num(u64),
    /// A UUID, lower-case hyphenated.
    Uuid(String),
}

impl fmt::Display for PointId {
    /// The id as a JSON value: a bare number or a quoted UUID.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointId::Num(n) => write!(f, "{n}"),
            PointId::Uuid(u) => write!(f, "\"{u}\""),
        }
    }
}

/// The namespace of `uuid.NAMESPACE_OID` (RFC 4122 appendix C).
const NAMESPACE_OID: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x12, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// The point id of a document id (see the module docs).
pub fn point_id(id: &str) -> PointId {
    let canonical_int = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    if canonical_int && let Ok(n) = id.parse::<u64>() {
        return PointId::Num(n);
    }
    if is_uuid(id) {
        return PointId::Uuid(id.to_ascii_lowercase());
    }
    PointId::Uuid(uuid5(&NAMESPACE_OID, id.as_bytes()))
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// RFC 4122 version-5 UUID: SHA-1 of namespace + name, version and variant
/// bits set.
fn uuid5(namespace: &[u8; 16], name: &[u8]) -> String {
    let mut data = namespace.to_vec();
    data.extend_from_slice(name);
    let hash = sha1(&data);
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// SHA-1 (FIPS 180-4), used only for UUIDv5 ids, not for security.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_like_pythons_uuid5_and_keep_integers() {
        assert_eq!(point_id("0"), PointId::Num(0));
        assert_eq!(point_id("1234"), PointId::Num(1234));
        assert_eq!(point_id("18446744073709551615"), PointId::Num(u64::MAX));
        // uuid.uuid5(uuid.NAMESPACE_OID, s) in Python:
        for (s, want) in [
            ("d1", "cbca1785-765f-58e2-88eb-d1725e16827a"),
            ("7a", "1037313b-2d55-5c48-a18d-71f4e0aa69e6"),
            ("", "0a68eb57-c88a-5f34-9e9d-27f85e68af4f"),
            ("héllo", "0b29578e-6727-587a-97bc-9652153ea05c"),
            (&"a".repeat(100), "3d1238fe-70a8-5218-80d2-a6b6ac22dfb5"),
        ] {
            assert_eq!(point_id(s), PointId::Uuid(want.into()), "{s}");
        }
        // Leading zeros and overflow are hashed, not read as numbers.
        assert!(matches!(point_id("007"), PointId::Uuid(_)));
        assert!(matches!(point_id("18446744073709551616"), PointId::Uuid(_)));
        assert_eq!(
            point_id("CBCA1785-765F-58E2-88EB-D1725E16827A"),
            PointId::Uuid("cbca1785-765f-58e2-88eb-d1725e16827a".into())
        );
        assert_eq!(point_id("12").to_string(), "12");
        assert_eq!(
            point_id("d1").to_string(),
            "\"cbca1785-765f-58e2-88eb-d1725e16827a\""
        );
    }
}
