//! Ordered key/value pairs that serialise as one JSON object, for maps whose keys are computed (lane
//! names, categories, file names) and whose order is part of the output.

use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Entries<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<K, V> FromIterator<(K, V)> for Entries<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Entries(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_given_order() {
        let entries: Entries<&str, u32> = [("b", 1), ("a", 2)].into_iter().collect();
        assert_eq!(serde_json::to_string(&entries).unwrap(), r#"{"b":1,"a":2}"#);
    }
}
