//! From external ids to ordinals. The doc tables map ordinal -> id only
//! (that is all search needs); the writer (duplicate ids), append and
//! delete need the other direction for many ids (one lookup, as `explain`
//! makes, is `Index::find`, a scan), so it is built on demand: a hash
//! of each id to its ordinal, with the id itself kept only on a hash
//! collision, costs about 16 bytes per document. The ids themselves stay
//! where they are (the doc tables, the writer's buffer): a lookup reads the
//! id of the ordinal it finds to confirm it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::index::error::IndexError;
use crate::index::read::index::Index;

/// A stable hash of an external id (SipHash with fixed keys).
fn hash_id(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Ordinals by external id, for ids that are unique among those inserted.
#[derive(Default)]
pub(crate) struct IdMap {
    /// Hash of an id -> the first ordinal inserted with that hash.
    first: HashMap<u64, u32>,
    /// Later ids whose hash was taken by a different id.
    collisions: HashMap<Box<str>, u32>,
}

impl IdMap {
    /// The live documents of `index` (ids are unique among them); an
    /// error when an id's bytes are damaged.
    pub(crate) fn live(index: &Index) -> Result<Self, IndexError> {
        let mut ids = IdMap {
            first: HashMap::with_capacity(index.live_docs() as usize),
            collisions: HashMap::new(),
        };
        for doc in (0..index.num_docs()).filter(|&d| !index.is_deleted(d)) {
            ids.insert(index.doc_id(doc)?, doc);
        }
        Ok(ids)
    }

    /// Records that ordinal `doc` holds `id`, an id not inserted before.
    pub(crate) fn insert(&mut self, id: &str, doc: u32) {
        match self.first.entry(hash_id(id)) {
            Entry::Vacant(v) => {
                v.insert(doc);
            }
            Entry::Occupied(_) => {
                self.collisions.insert(id.into(), doc);
            }
        }
    }

    /// The ordinal holding `id`; `id_of` reads the id an ordinal holds.
    pub(crate) fn get<'a>(
        &self,
        id: &str,
        id_of: impl FnOnce(u32) -> Result<&'a str, IndexError>,
    ) -> Result<Option<u32>, IndexError> {
        let Some(&first) = self.first.get(&hash_id(id)) else {
            return Ok(None);
        };
        if id_of(first)? == id {
            return Ok(Some(first));
        }
        Ok(self.collisions.get(id).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_whose_hash_is_taken_is_told_apart_by_the_id() {
        let ids = ["x", "y"];
        let id_of = |d: u32| Ok(ids[d as usize]);
        let mut map = IdMap::default();
        map.insert("x", 0);
        // As if y's hash were x's: y lands among the collisions.
        map.first.insert(hash_id("y"), 0);
        map.insert("y", 1);
        assert_eq!(map.collisions.len(), 1);
        assert_eq!(map.get("x", id_of).unwrap(), Some(0));
        assert_eq!(map.get("y", id_of).unwrap(), Some(1));
        assert_eq!(map.get("z", id_of).unwrap(), None);
    }
}
