//! Small shared helpers: the atomic file output (re-exported from [`crate::output`]), a fast non-cryptographic hasher, seeded RNGs.

use crate::error::{Error, Result};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

/// Write one file through the crate's output mechanism; see [`crate::output`].
pub use crate::output::write_atomic;

/// Memory available to a new allocation, in bytes: `MemAvailable` of `/proc/meminfo` on
/// Linux; `None` where it cannot be told.
pub fn available_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Map an `std::io::Error` raised while writing `path` into the crate error.
pub fn wio(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// FxHash-style hasher (multiply-rotate rounds plus a final avalanche): fast for short keys
/// such as node-id tokens.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche (MurmurHash3 fmix64): the multiply-rotate rounds leave the low bits,
        // which pick the bucket, dependent on the first bytes only.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The seeded RNG used everywhere (ChaCha-based `StdRng`): every random choice flows from a seed.
pub type Rng = rand::rngs::StdRng;

/// A reproducible RNG for stream `stream` of a user seed (independent streams for parallel work).
pub fn rng_for(seed: u64, stream: u64) -> Rng {
    use rand::SeedableRng;
    // SplitMix64 on (seed, stream) so that nearby seeds give unrelated streams.
    let mut z = seed ^ stream_mix(stream);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Rng::seed_from_u64(z)
}

/// The seed whose stream `to` is stream `from` of `seed`: `rng_for(seed_for_stream(s, f, t), t)`
/// is `rng_for(s, f)`. It lets a caller keep a random stream when the stream number chosen by
/// the code it calls differs (e.g. to keep published numbers).
pub fn seed_for_stream(seed: u64, from: u64, to: u64) -> u64 {
    seed ^ stream_mix(from) ^ stream_mix(to)
}

/// What [`rng_for`] XORs into the seed for stream `stream`.
fn stream_mix(stream: u64) -> u64 {
    stream
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0xD1B5_4A32_D192_ED03)
}

/// Parse a comma-separated list of values for a CLI flag, naming the flag on error.
/// An empty item (`2,,4`, a trailing comma) is refused; a blank string is the empty list.
pub fn parse_list<T: std::str::FromStr>(flag: &str, s: &str) -> Result<Vec<T>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|t| t.trim())
        .map(|t| {
            if t.is_empty() {
                return Err(Error::param(flag, format!("empty value in `{s}`")));
            }
            t.parse::<T>()
                .map_err(|_| Error::param(flag, format!("cannot parse `{t}` in `{s}`")))
        })
        .collect()
}

/// Defines `$name`, which runs `$imp` compiled with AVX enabled when the CPU has it, else as
/// compiled for the baseline target. Both run the same floating-point operations in the same
/// order (the code fixes it; Rust never contracts to FMA), so results are the same.
///
/// The second form wraps a whole function, `with_avx! { ["avx512f", ...] /// docs
/// fn name(args) -> R { body } }`: `name` runs `body` compiled with those features when the CPU
/// has all of them, else as compiled for the baseline target (the signature is written once).
macro_rules! with_avx {
    ($name:ident, $avx:ident, $imp:ident, ($($a:ident: $t:ty),*) $(-> $r:ty)?) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx")]
        fn $avx($($a: $t),*) $(-> $r)? {
            $imp($($a),*)
        }
        fn $name($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx") {
                // SAFETY: the CPU supports AVX.
                return unsafe { $avx($($a),*) };
            }
            $imp($($a),*)
        }
    };
    ([$($f:tt),+] $(#[$m:meta])* fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        fn $name($($a: $t),*) $(-> $r)? {
            #[inline(always)]
            fn portable($($a: $t),*) $(-> $r)? $body
            #[cfg(target_arch = "x86_64")]
            $(#[target_feature(enable = $f)])+
            fn fast($($a: $t),*) $(-> $r)? {
                portable($($a),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $(std::arch::is_x86_feature_detected!($f))&&+ {
                // SAFETY: the CPU supports every feature `fast` is compiled with.
                return unsafe { fast($($a),*) };
            }
            portable($($a),*)
        }
    };
}
pub(crate) use with_avx;

/// Builder setters for the fields of a params struct: each `field: Type` with its doc comment
/// becomes `pub fn field(mut self, v: Type) -> Self`; `field: Some(Type)` sets an `Option` field
/// to `Some(v)`, and `field: Into<Type>` takes any `impl Into<Type>`. The one way params
/// structs get their setters, so that every field has one and they all look alike.
macro_rules! setters {
    () => {};
    ($(#[$doc:meta])* $field:ident: Some($ty:ty) $(, $($rest:tt)*)?) => {
        $(#[$doc])*
        pub fn $field(mut self, v: $ty) -> Self {
            self.$field = Some(v);
            self
        }
        $($crate::util::setters! { $($rest)* })?
    };
    ($(#[$doc:meta])* $field:ident: Into<$ty:ty> $(, $($rest:tt)*)?) => {
        $(#[$doc])*
        pub fn $field(mut self, v: impl Into<$ty>) -> Self {
            self.$field = v.into();
            self
        }
        $($crate::util::setters! { $($rest)* })?
    };
    ($(#[$doc:meta])* $field:ident: $ty:ty $(, $($rest:tt)*)?) => {
        $(#[$doc])*
        pub fn $field(mut self, v: $ty) -> Self {
            self.$field = v;
            self
        }
        $($crate::util::setters! { $($rest)* })?
    };
}
pub(crate) use setters;

/// The name of each variant of a fieldless enum: `impl Type { pub fn method(self) -> &str }`
/// from `Variant => "name"` pairs, and `Display` writing that name (padded to the formatter's
/// width, so tables can align it). The one way an enum names itself in tables and reports.
macro_rules! enum_names {
    ($ty:ident, $(#[$doc:meta])* $method:ident { $($variant:ident => $name:expr),+ $(,)? }) => {
        impl $ty {
            $(#[$doc])*
            pub fn $method(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.$method())
            }
        }
    };
}
pub(crate) use enum_names;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn seed_for_stream_moves_a_stream() {
        for (seed, from, to) in [(0u64, 0x6b6du64, 1000u64), (12345, 7, 0), (u64::MAX, 1, 2)] {
            let mut a = rng_for(seed, from);
            let mut b = rng_for(seed_for_stream(seed, from, to), to);
            let (x, y): (Vec<u64>, Vec<u64>) = (0..4)
                .map(|_| (a.random::<u64>(), b.random::<u64>()))
                .unzip();
            assert_eq!(x, y);
        }
        assert_ne!(seed_for_stream(3, 1, 2), 3);
    }
}
