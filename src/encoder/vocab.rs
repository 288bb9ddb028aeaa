//! A model's vocabulary as one flat table of bytes: id to token and token
//! to id without a hash map.
//!
//! Building a hash map of BERT's 30,522 tokens, and a `String` per token,
//! cost a process ~20 ms of its start-up on a small machine (README "Cold
//! start"), more than the rest of a search. The table is a single buffer,
//! so it can be read in place from the tokenizer cache's memory map
//! (`tokenizer.rs`) or built once in memory; lookups are a binary search
//! over the tokens in byte order.
//!
//! Layout (little-endian `u32`s): `count`, then `count + 1` offsets of each
//! id's token in the string area, then the `count` ids sorted by token
//! bytes, then the string area (UTF-8).

use std::sync::Arc;

use memmap2::Mmap;

/// The bytes a table lives in.
#[derive(Clone)]
enum Buffer {
    Owned(Arc<Vec<u8>>),
    /// A range of a memory map.
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    },
}

impl Buffer {
    fn bytes(&self) -> &[u8] {
        match self {
            Buffer::Owned(v) => v,
            Buffer::Mapped { map, start, len } => &map[*start..*start + *len],
        }
    }
}

/// A model's vocabulary: the token of every id, and the id of a token.
#[derive(Clone)]
pub struct Vocab {
    buffer: Buffer,
    /// Entries of the table.
    count: usize,
    /// Ids visible: `0..len` ([`truncate`](Self::truncate)).
    len: usize,
}

/// Why bytes are not a vocabulary table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a vocabulary table: {0}")]
pub struct BadTable(&'static str);

impl Vocab {
    /// The table of `tokens`, where token `i` has id `i`.
    pub fn from_tokens<S: AsRef<str>>(tokens: &[S]) -> Vocab {
        let bytes = encode(tokens);
        let count = tokens.len();
        Vocab {
            buffer: Buffer::Owned(Arc::new(bytes)),
            count,
            len: count,
        }
    }

    /// The table at `map[start..start + len]` (written by [`encode`]),
    /// checked for what lookups rely on: offsets that increase and stay in
    /// bounds, UTF-8 tokens. The order of the sorted ids is not checked
    /// again (a table with a wrong order finds wrong ids, never reads out
    /// of bounds): the cache file's CRC32 stands for it, and checking it
    /// cost as much as the rest of the load.
    pub(crate) fn mapped(map: Arc<Mmap>, start: usize, len: usize) -> Result<Vocab, BadTable> {
        let buffer = Buffer::Mapped { map, start, len };
        let count = check_layout(buffer.bytes())?;
        Ok(Vocab {
            buffer,
            count,
            len: count,
        })
    }

    /// Keeps the ids below `len` only (a tokenizer's entries beyond the
    /// model's `vocab_size` name no term).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Where the table lives (tests).
    #[cfg(test)]
    pub(crate) fn buffer_kind(&self) -> &'static str {
        match self.buffer {
            Buffer::Owned(_) => "owned",
            Buffer::Mapped { .. } => "mapped",
        }
    }

    /// The number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vocabulary has no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The token of `id`, `None` past the end.
    pub fn get(&self, id: usize) -> Option<&str> {
        (id < self.len).then(|| self.token(id))
    }

    /// The id of `token`, if it is one.
    pub fn id(&self, token: &str) -> Option<u32> {
        let b = self.buffer.bytes();
        let sorted = 4 + (self.count + 1) * 4;
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let id = u32_at(b, sorted + mid * 4) as usize;
            match self.token_bytes(id).cmp(token.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return (id < self.len).then_some(id as u32),
            }
        }
        None
    }

    /// Every token, by id.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len).map(|id| self.token(id))
    }

    /// The token of `id < count`.
    fn token(&self, id: usize) -> &str {
        // Checked UTF-8 when the table was built or mapped.
        std::str::from_utf8(self.token_bytes(id)).unwrap_or_default()
    }

    fn token_bytes(&self, id: usize) -> &[u8] {
        let b = self.buffer.bytes();
        let strings = 4 + (self.count + 1) * 4 + self.count * 4;
        let a = u32_at(b, 4 + id * 4) as usize;
        let z = u32_at(b, 4 + (id + 1) * 4) as usize;
        &b[strings + a..strings + z]
    }
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocab").field("len", &self.len).finish()
    }
}

/// The table bytes of `tokens` (token `i` has id `i`).
pub(crate) fn encode<S: AsRef<str>>(tokens: &[S]) -> Vec<u8> {
    let total: usize = tokens.iter().map(|t| t.as_ref().len()).sum();
    let mut out = Vec::with_capacity(4 + (2 * tokens.len() + 1) * 4 + total);
    out.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
    let mut at = 0u32;
    out.extend_from_slice(&at.to_le_bytes());
    for t in tokens {
        at += t.as_ref().len() as u32;
        out.extend_from_slice(&at.to_le_bytes());
    }
    let mut sorted: Vec<u32> = (0..tokens.len() as u32).collect();
    sorted.sort_by(|&a, &b| {
        let (a, b) = (tokens[a as usize].as_ref(), tokens[b as usize].as_ref());
        a.as_bytes().cmp(b.as_bytes())
    });
    for id in sorted {
        out.extend_from_slice(&id.to_le_bytes());
    }
    for t in tokens {
        out.extend_from_slice(t.as_ref().as_bytes());
    }
    out
}

/// Checks a table's layout, offsets and UTF-8; returns its count.
fn check_layout(b: &[u8]) -> Result<usize, BadTable> {
    let count = b
        .get(..4)
        .map(|_| u32_at(b, 0) as usize)
        .ok_or(BadTable("too short"))?;
    let strings = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(8))
        .filter(|&n| n <= b.len())
        .ok_or(BadTable("tables past the end"))?;
    let area = &b[strings..];
    let mut previous = 0;
    for id in 0..=count {
        let at = u32_at(b, 4 + id * 4) as usize;
        if at < previous || at > area.len() {
            return Err(BadTable("offsets out of order"));
        }
        previous = at;
    }
    if previous != area.len() {
        return Err(BadTable("string area length"));
    }
    let text = std::str::from_utf8(area).map_err(|_| BadTable("tokens are not UTF-8"))?;
    let table = |id: usize| u32_at(b, 4 + id * 4) as usize;
    if !(0..=count).all(|id| text.is_char_boundary(table(id))) {
        return Err(BadTable("a token is not UTF-8"));
    }
    let sorted = 4 + (count + 1) * 4;
    if (0..count).any(|i| u32_at(b, sorted + i * 4) as usize >= count) {
        return Err(BadTable("a sorted id is out of range"));
    }
    Ok(count)
}

/// [`check_layout`], and that the sorted ids are a permutation in token
/// order (tests: [`encode`] writes them so).
#[cfg(test)]
fn check(b: &[u8]) -> Result<usize, BadTable> {
    let count = check_layout(b)?;
    let area = &b[8 + count * 8..];
    let table = |id: usize| u32_at(b, 4 + id * 4) as usize;
    let sorted = 4 + (count + 1) * 4;
    let mut seen = vec![false; count];
    let mut last: Option<&[u8]> = None;
    for i in 0..count {
        let id = u32_at(b, sorted + i * 4) as usize;
        if id >= count || std::mem::replace(&mut seen[id], true) {
            return Err(BadTable("sorted ids are not a permutation"));
        }
        let token = &area[table(id)..table(id + 1)];
        if last.is_some_and(|l| l >= token) {
            return Err(BadTable("tokens are not sorted or not distinct"));
        }
        last = Some(token);
    }
    Ok(count)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_round_trip() {
        let tokens = ["[PAD]", "the", "##s", "zebra", "é", "a", ""];
        let v = Vocab::from_tokens(&tokens);
        assert_eq!(v.len(), 7);
        for (id, t) in tokens.iter().enumerate() {
            assert_eq!(v.get(id), Some(*t));
            assert_eq!(v.id(t), Some(id as u32), "{t}");
        }
        assert_eq!(v.get(7), None);
        assert_eq!(v.id("zebras"), None);
        assert_eq!(v.id("##"), None);
        assert_eq!(v.iter().collect::<Vec<_>>(), tokens);
        assert_eq!(check(&encode(&tokens)), Ok(7));
    }

    #[test]
    fn damaged_tables_are_refused() {
        let good = encode(&["a", "b", "c"]);
        let mut unsorted = good.clone();
        let sorted = 4 + 4 * 4;
        unsorted.swap(sorted, sorted + 4);
        assert!(check(&unsorted).is_err());
        let mut duplicate = encode(&["a", "a"]);
        assert_eq!(
            check(&duplicate),
            Err(BadTable("tokens are not sorted or not distinct"))
        );
        duplicate.truncate(duplicate.len() - 1);
        assert!(check(&duplicate).is_err());
        assert!(check(&good[..3]).is_err());
        let mut not_utf8 = good.clone();
        *not_utf8.last_mut().unwrap() = 0xff;
        assert!(check(&not_utf8).is_err());
    }
}
