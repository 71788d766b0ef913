//! The passing DKIM domains of the senders fold: each met is numbered
//! once ([`Domains`]), and a source's set of them is kept as those
//! numbers ([`Bits`]), unioned record by record and named at the end.

/// A set of passing DKIM domains, as indexes into [`Domains`]: a bit each
/// for the first 64, a list for the rest (a window seldom has more).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(super) struct Bits {
    low: u64,
    more: Vec<u32>,
}

impl Bits {
    pub fn insert(&mut self, i: u32) {
        if i < 64 {
            self.low |= 1 << i;
        } else if !self.more.contains(&i) {
            self.more.push(i);
        }
    }

    pub fn union(&mut self, o: &Bits) {
        self.low |= o.low;
        for &i in &o.more {
            self.insert(i);
        }
    }

    pub fn contains(&self, i: u32) -> bool {
        if i < 64 {
            self.low & (1 << i) != 0
        } else {
            self.more.contains(&i)
        }
    }
}

/// The passing DKIM domains met so far, each once.
#[derive(Default)]
pub(super) struct Domains(pub Vec<String>);

impl Domains {
    pub fn id(&mut self, d: &str) -> u32 {
        match self.0.iter().position(|x| x == d) {
            Some(i) => i as u32,
            None => {
                self.0.push(d.to_string());
                (self.0.len() - 1) as u32
            }
        }
    }

    /// The domains of `b`, sorted.
    pub fn names(&self, b: &Bits) -> Vec<String> {
        let mut v: Vec<String> = (0..self.0.len() as u32)
            .filter(|&i| b.contains(i))
            .map(|i| self.0[i as usize].clone())
            .collect();
        v.sort();
        v
    }
}

impl Bits {
    /// The indexes in the set.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut low = self.low;
        std::iter::from_fn(move || {
            (low != 0).then(|| {
                let i = low.trailing_zeros();
                low &= low - 1;
                i
            })
        })
        .chain(self.more.iter().copied())
    }
}
