use rustc_hash::FxHashMap;

/// A dictionary from string ids to dense `u32` codes, in first-seen order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdDict {
    names: Vec<Box<str>>,
    codes: FxHashMap<Box<str>, u32>,
}

impl IdDict {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty dictionary with room for `n` ids.
    pub fn with_capacity(n: usize) -> Self {
        IdDict {
            names: Vec::with_capacity(n),
            codes: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// The code for `id`, adding it if new.
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&c) = self.codes.get(id) {
            return c;
        }
        let code = self.names.len() as u32;
        self.names.push(id.into());
        self.codes.insert(id.into(), code);
        code
    }

    pub fn get(&self, id: &str) -> Option<u32> {
        self.codes.get(id).copied()
    }

    /// The id of `code`. Panics on a code this dictionary never issued (a programming error).
    pub fn name(&self, code: u32) -> &str {
        &self.names[code as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|s| &**s)
    }
}

impl FromIterator<String> for IdDict {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut d = IdDict::new();
        for s in iter {
            d.intern(&s);
        }
        d
    }
}
