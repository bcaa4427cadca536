//! A bounded map that drops its least recently used entry: the hash cache and the open
//! file handles of a site.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// At most `limit` entries; [`Lru::get_mut`] and [`Lru::insert`] make an entry the most
/// recently used.
#[derive(Debug, Clone)]
pub(crate) struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    order: BTreeMap<u64, K>,
    tick: u64,
    limit: usize,
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    /// An empty map holding at most `limit` (at least 1) entries.
    pub(crate) fn new(limit: usize) -> Lru<K, V> {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            limit: limit.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The most entries held.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The entry, without touching it.
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    /// The entry, now the most recently used.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (v, tick) = self.map.get_mut(key)?;
        self.tick += 1;
        self.order.remove(tick);
        *tick = self.tick;
        self.order.insert(self.tick, key.clone());
        Some(v)
    }

    /// Inserts or replaces the entry, dropping the least recently used ones past the limit.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.remove(&key);
        while self.map.len() >= self.limit {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&old);
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, (value, self.tick));
    }

    /// Removes the entry.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (v, tick) = self.map.remove(key)?;
        self.order.remove(&tick);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn drops_the_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        assert_eq!(lru.get_mut(&"a"), Some(&mut 1));
        lru.insert("c", 3);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.peek(&"b"), None);
        assert_eq!(lru.peek(&"a"), Some(&1));
        lru.insert("a", 4);
        assert_eq!(lru.len(), 2);
        lru.insert("d", 5);
        assert_eq!(lru.peek(&"c"), None);
        assert_eq!(lru.remove(&"a"), Some(4));
        assert_eq!(lru.len(), 1);
    }
}
