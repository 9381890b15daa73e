//! The baked host → tenant tables: one open-addressing table of exact hosts
//! and one of wildcard bases per environment, and the hash both the
//! generator (here) and the generated lookup use.
//!
//! The hash walks a host right to left in 8-byte words aligned to its end,
//! so one pass over the host yields the hash of the whole host and of every
//! suffix that starts after a dot: a wildcard lookup costs one probe per
//! label, not one hash per label. The same pass checks that the host is
//! already in normal form (bytes `a-z 0-9 - .`, not ending in `.`), eight
//! bytes at a time.
//!
//! Invariants:
//! - one definition: [`host_suffix_hashes`] and its helpers are compiled
//!   here *and* emitted verbatim into the generated code by the same macro,
//!   so the keys are hashed by the very code that hashes a request's host;
//! - the hash of a suffix reported during a walk equals the hash of that
//!   suffix walked on its own (tested below) — that is what lets one table
//!   of wildcard bases answer for every suffix;
//! - a table is at most half full (linear probing ends at an empty slot
//!   within a few slots), and a slot match is confirmed by comparing the
//!   key itself: the hash only narrows, it never decides;
//! - deterministic: the same keys give the same tables (a fixed seed).

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

/// Defines the items it is given in this module and returns them as tokens
/// from `hash_tokens()`, for the generated code.
macro_rules! shared {
    ($($t:tt)*) => {
        $($t)*
        /// The shared hash items, as emitted into the generated code.
        pub fn hash_tokens() -> TokenStream {
            quote! { $($t)* }
        }
    };
}

shared! {
    /// Every byte's high bit (SWAR masks over 8 bytes).
    #[doc(hidden)]
    pub const HOST_HI: u64 = 0x8080_8080_8080_8080;

    /// Per byte of `x` (each below 0x80): 0x80 when `lo <= byte <= hi`, else 0.
    #[doc(hidden)]
    #[inline(always)]
    pub const fn host_in_range(x: u64, lo: u8, hi: u8) -> u64 {
        let ones = 0x0101_0101_0101_0101u64;
        let ge = (x | HOST_HI).wrapping_sub(ones * lo as u64);
        let le = ((ones * hi as u64) | HOST_HI).wrapping_sub(x);
        ge & le & HOST_HI
    }

    /// One word into the hash state.
    #[doc(hidden)]
    #[inline(always)]
    pub const fn host_mix(h: u64, w: u64) -> u64 {
        let x = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    }

    /// The hash of a string of `len` bytes from its state.
    #[doc(hidden)]
    #[inline(always)]
    pub const fn host_fin(h: u64, len: usize) -> u64 {
        let x = (h ^ len as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        x ^ (x >> 32)
    }

    /// Walks a host right to left in 8-byte words aligned to its end (the
    /// leftmost word zero-padded at its low end). Calls `suffix(start,
    /// hash)` for every suffix `host[start..]` that follows a dot, shortest
    /// first, and returns the hash of the whole host; `None` (having maybe
    /// called `suffix`) when the host is not in normal form: empty, longer
    /// than 253 bytes, ending in `.`, or with a byte other than `a-z`,
    /// `0-9`, `-` and `.`.
    #[doc(hidden)]
    #[inline(always)]
    pub fn host_suffix_hashes(b: &[u8], mut suffix: impl FnMut(usize, u64)) -> ::core::option::Option<u64> {
        let n = b.len();
        if n == 0 || n > 253 || b[n - 1] == b'.' {
            return ::core::option::Option::None;
        }
        let mut state = 0x243F_6A88_85A3_08D3u64;
        let mut end = n;
        loop {
            // The word ending at `end`; `pad` marks the bytes before the host.
            let (w, pad) = if end >= 8 {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[end - 8..end]);
                (u64::from_le_bytes(a), 0)
            } else {
                let shift = 8 * (8 - end) as u32;
                let mut a = [0u8; 8];
                let w = if n >= 8 {
                    a.copy_from_slice(&b[..8]);
                    u64::from_le_bytes(a) << shift
                } else {
                    a[8 - end..].copy_from_slice(&b[..end]);
                    u64::from_le_bytes(a)
                };
                (w, HOST_HI & ((1u64 << shift) - 1))
            };
            if w & HOST_HI != 0 {
                return ::core::option::Option::None;
            }
            let normal = host_in_range(w, b'a', b'z') | host_in_range(w, b'0', b'9') | host_in_range(w, b'-', b'.') | pad;
            if normal != HOST_HI {
                return ::core::option::Option::None;
            }
            let mut dots = host_in_range(w, b'.', b'.') & !pad;
            while dots != 0 {
                let top = 63 - dots.leading_zeros();
                dots &= !(1u64 << top);
                let p = (top / 8) as usize;
                // The suffix starts after the dot; if the dot ends this
                // word, the suffix is exactly the words already walked.
                let start = end + p + 1 - 8;
                let len = n - start;
                suffix(start, if p == 7 { host_fin(state, len) } else { host_fin(host_mix(state, w & (u64::MAX << (8 * (p + 1)))), len) });
            }
            state = host_mix(state, w);
            if end <= 8 {
                return ::core::option::Option::Some(host_fin(state, n));
            }
            end -= 8;
        }
    }

    /// One environment's exact hosts or wildcard bases: open addressing
    /// over `slots` (each `fingerprint | entry index + 1`, 0 = empty,
    /// linear probing from the hash's top bits) into `entries`; `lengths`
    /// is the set of the keys' lengths (bit `len`), so that a suffix of a
    /// length no key has is not probed at all.
    #[doc(hidden)]
    pub struct HostTable<T: 'static> {
        pub lengths: [u64; 4],
        pub slots: &'static [u32],
        pub shift: u32,
        pub index_bits: u32,
        pub entries: &'static [(&'static str, T)],
    }

    impl<T: Copy> HostTable<T> {
        /// The value of `key`, whose hash is `h`.
        #[inline(always)]
        pub fn get(&self, h: u64, key: &[u8]) -> ::core::option::Option<T> {
            // Keys are 1–253 bytes; `key` is too (the walk checked).
            if (self.lengths[(key.len() >> 6) & 3] >> (key.len() & 63)) & 1 == 0 {
                return ::core::option::Option::None;
            }
            let mask = self.slots.len() - 1;
            let index_mask = (1u32 << self.index_bits) - 1;
            let fingerprint = (h as u32) & !index_mask;
            let mut s = (h >> self.shift) as usize & mask;
            loop {
                let v = self.slots[s];
                if v == 0 {
                    return ::core::option::Option::None;
                }
                if v & !index_mask == fingerprint {
                    let (k, t) = &self.entries[(v & index_mask) as usize - 1];
                    if k.as_bytes() == key {
                        return ::core::option::Option::Some(*t);
                    }
                }
                s = (s + 1) & mask;
            }
        }
    }
}

/// The hash of a host in normal form (every key the compiler bakes is).
pub fn host_hash(host: &str) -> Option<u64> {
    host_suffix_hashes(host.as_bytes(), |_, _| {})
}

/// The layout of a table for `keys`: slots (power of two, at most half
/// full), the shift that picks a slot from a hash, the bits of a slot that
/// hold the entry index, and the slots themselves.
pub struct Layout {
    pub lengths: [u64; 4],
    pub slots: Vec<u32>,
    pub shift: u32,
    pub index_bits: u32,
}

/// Lays out `keys` (hosts in normal form, distinct). Panics on a key that
/// is not in normal form: the validator refuses such hosts before codegen.
pub fn layout(keys: &[&str]) -> Layout {
    let len = (keys.len() * 2).max(2).next_power_of_two();
    let bits = len.trailing_zeros();
    let index_bits = u32::BITS - (keys.len() as u32 + 1).leading_zeros();
    assert!(index_bits < 32, "too many hosts for one table");
    let index_mask = (1u32 << index_bits) - 1;
    let mut slots = vec![0u32; len];
    let mut lengths = [0u64; 4];
    for (i, k) in keys.iter().enumerate() {
        lengths[k.len() >> 6] |= 1 << (k.len() & 63);
        let h = host_hash(k).unwrap_or_else(|| panic!("host `{k}` is not in normal form"));
        let mut s = (h >> (64 - bits)) as usize & (len - 1);
        while slots[s] != 0 {
            s = (s + 1) & (len - 1);
        }
        slots[s] = ((h as u32) & !index_mask) | (i as u32 + 1);
    }
    Layout {
        lengths,
        slots,
        shift: 64 - bits,
        index_bits,
    }
}

/// A `HostTable<TenantId>` literal for `(host, tenant variant)` entries.
pub fn table_tokens(entries: &[(String, &Ident)]) -> TokenStream {
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let l = layout(&keys);
    let slots = l.slots.iter().map(|s| Literal::u32_unsuffixed(*s));
    let lengths = l.lengths.iter().map(|s| Literal::u64_unsuffixed(*s));
    let (shift, index_bits) = (Literal::u32_unsuffixed(l.shift), Literal::u32_unsuffixed(l.index_bits));
    let entries = entries.iter().map(|(k, v)| quote!((#k, TenantId::#v)));
    quote! {
        HostTable {
            lengths: [#(#lengths),*],
            slots: &[#(#slots),*],
            shift: #shift,
            index_bits: #index_bits,
            entries: &[#(#entries),*],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hosts of every shape the walk distinguishes: dots at each position
    /// of a word, words that end on a dot, hosts shorter and longer than a
    /// word, many labels.
    fn hosts() -> Vec<String> {
        let mut v: Vec<String> = [
            "a",
            "ab.cd",
            "x.y",
            "a.b.c.d.e.f.g.h.i.j",
            "abcdefg.h",
            "abcdefgh.i",
            "abcdefghi.j",
            "12345678.12345678.x.y",
            "-.x.y",
            "xn--bcher-kva.example.net",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for lead in 0..20 {
            for tail in 1..20 {
                v.push(format!("{}.{}", "a".repeat(lead + 1), "b".repeat(tail)));
                v.push(format!("x.{}.{}.com", "c".repeat(lead + 1), "d".repeat(tail)));
            }
        }
        v.push(format!("{}.example.com", "q".repeat(240)));
        v
    }

    #[test]
    fn every_suffix_hash_of_a_walk_is_the_hash_of_that_suffix_alone() {
        for h in hosts() {
            let mut seen = Vec::new();
            let full = host_suffix_hashes(h.as_bytes(), |start, x| seen.push((start, x))).expect(&h);
            assert_eq!(Some(full), host_hash(&h));
            let dots: Vec<usize> = h.match_indices('.').map(|(i, _)| i + 1).rev().collect();
            assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), dots, "{h}: shortest suffix first");
            for (start, x) in seen {
                assert_eq!(Some(x), host_hash(&h[start..]), "{h} from {start}");
            }
        }
    }

    #[test]
    fn only_hosts_in_normal_form_are_walked() {
        for bad in [
            "",
            "Acme.example.com",
            "acme.example.com.",
            "acme.example.com:443",
            "a_b.example.com",
            "bücher.example.net",
            " acme",
            "acme\0x",
        ] {
            assert_eq!(host_hash(bad), None, "{bad:?}");
        }
        assert_eq!(host_hash(&"a".repeat(254)), None);
        assert!(host_hash(&"a".repeat(253)).is_some());
    }

    #[test]
    fn a_table_finds_each_key_and_nothing_else() {
        let keys: Vec<String> = (0..3000).map(|i| format!("t{i:05}.example.com")).collect();
        let refs: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
        let l = layout(&refs);
        assert!(l.slots.iter().filter(|s| **s != 0).count() * 2 <= l.slots.len());
        let slots: &'static [u32] = Vec::leak(l.slots);
        let entries: &'static [(&'static str, usize)] =
            Vec::leak(keys.iter().enumerate().map(|(i, k)| (&*String::leak(k.clone()), i)).collect());
        let t = HostTable {
            lengths: l.lengths,
            slots,
            shift: l.shift,
            index_bits: l.index_bits,
            entries,
        };
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(host_hash(k).unwrap(), k.as_bytes()), Some(i));
        }
        for miss in ["t03000.example.com", "t00001.example.org", "example.com", "x.t00001.example.com"] {
            assert_eq!(t.get(host_hash(miss).unwrap(), miss.as_bytes()), None, "{miss}");
        }
        let empty = layout(&[]);
        let t0: HostTable<usize> = HostTable {
            lengths: empty.lengths,
            slots: Vec::leak(empty.slots),
            shift: empty.shift,
            index_bits: empty.index_bits,
            entries: &[],
        };
        assert_eq!(t0.get(host_hash("a.b").unwrap(), b"a.b"), None);
    }
}
