//! Seeds: a master seed becomes named, independent, portable random streams.
//!
//! A stream is identified by (scenario seed, replication, name). The workload's
//! streams are named `workload/...` and never depend on the platform, so every
//! platform of a scenario sees the same arrivals (common random numbers); each
//! platform draws from streams named after the platform (`platform/<name>/...`),
//! so adding or changing one platform never moves another's results.

use std::sync::LazyLock;

use rand::Rng;
use rand_distr::{Distribution, Exp1};
use rand_pcg::Pcg64Mcg;

/// The generator behind every stream: PCG-64 (MCG variant). Portable and
/// value-stable across platforms; never `StdRng` or `thread_rng`.
pub type SimRng = Pcg64Mcg;

/// SplitMix64 finaliser: a bijective 64-bit mixer with full avalanche.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a of the stream name (stable, unlike `std`'s hasher).
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The random stream named `name` for replication `replication` of a run with `seed`.
pub fn stream(seed: u64, replication: u32, name: &str) -> SimRng {
    let a = mix(seed ^ mix(u64::from(replication) ^ mix(fnv1a(name))));
    let b = mix(a ^ 0xD1B5_4A32_D192_ED03);
    SimRng::new((u128::from(a) << 64) | u128::from(b))
}

/// A standard exponential draw: the value `rand_distr`'s [`Exp1`] draws from
/// the same generator state, leaving the generator where [`Exp1`] would.
///
/// [`Exp1`] is Marsaglia and Tsang's ziggurat ("The Ziggurat Method for
/// Generating Random Variables", J. Stat. Softw. 5(8), 2000): one 64-bit
/// word picks a layer `i` (its low 8 bits) and a fraction `u` of the layer's
/// width (its high 52 bits); `u * x[i]` is the answer whenever it is below
/// `x[i + 1]`, about 97.8 % of draws. `rand_distr` forces that loop inline
/// with its rarely taken tail and wedge branches, which call `exp` and `ln`;
/// the whole draw then keeps a large register frame on every call. Here the
/// common case is inline and every other case (the tail, the wedge, the top
/// layer) rewinds the generator and lets [`Exp1`] draw, out of line. The
/// layer widths are [`Exp1`]'s own, read back through its public interface
/// (`ZIGGURAT_X`), so the two agree to the bit (`exp1_draws_what_exp1_draws`
/// compares ten million draws).
#[inline(always)]
pub fn exp1(rng: &mut SimRng) -> f64 {
    let x_tab = &*ZIGGURAT_X;
    let before = rng.clone();
    let bits = rng.next_u64();
    let i = (bits & 0xff) as usize;
    // A fraction in (0, 1): 52 random bits as a float in [1, 2), less just
    // under 1, as `rand_distr` makes it.
    let u = f64::from_bits((bits >> 12) | ONE_BITS) - (1.0 - f64::EPSILON / 2.0);
    let x = u * x_tab[i];
    if x < x_tab[i + 1] {
        return x;
    }
    *rng = before;
    exp1_rare(rng)
}

/// [`Exp1`]'s own draw, for the cases [`exp1`] leaves to it.
#[cold]
#[inline(never)]
fn exp1_rare(rng: &mut SimRng) -> f64 {
    Exp1.sample(rng)
}

/// The bits of 1.0.
const ONE_BITS: u64 = 0x3ff0_0000_0000_0000;

/// The ziggurat layers' widths `x[0..256]` that [`Exp1`] uses, and 0 for
/// `x[256]`, which makes every draw in the top layer take [`Exp1`]'s path.
///
/// Each width is read by one probe draw from a generator that first yields
/// the layer's number with a zero fraction: the fraction is then
/// `2^-53` exactly, the draw is `2^-53 * x[i]` exactly (a power of two
/// scales without rounding), and it is accepted in the fast case for every
/// layer below the top one. The top layer never accepts there (its upper
/// neighbour is 0); its wedge test is passed by a second word of one half.
static ZIGGURAT_X: LazyLock<[f64; 257]> = LazyLock::new(|| {
    let mut x = [0.0; 257];
    for (i, w) in x.iter_mut().enumerate().take(256) {
        let mut probe = Probe {
            first: Some(i as u64),
        };
        let draw: f64 = Exp1.sample(&mut probe);
        *w = draw * 2f64.powi(53);
    }
    x
});

/// The generator behind [`ZIGGURAT_X`]'s probes: `first`, then halves.
struct Probe {
    first: Option<u64>,
}

impl rand::TryRng for Probe {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.first.take().unwrap_or(1 << 63))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for (i, b) in dst.iter_mut().enumerate() {
            *b = (self.try_next_u64()? >> (8 * (i % 8))) as u8;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn first(mut r: SimRng) -> u64 {
        r.random()
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        assert_eq!(
            first(stream(42, 0, "workload")),
            first(stream(42, 0, "workload"))
        );
        assert_ne!(
            first(stream(42, 0, "workload")),
            first(stream(42, 1, "workload"))
        );
        assert_ne!(
            first(stream(42, 0, "workload")),
            first(stream(43, 0, "workload"))
        );
        assert_ne!(
            first(stream(42, 0, "workload")),
            first(stream(42, 0, "platform/a"))
        );
    }

    #[test]
    fn exp1_draws_what_exp1_draws() {
        // Ten million draws: each of the 256 layers is met about 39,000
        // times, so a width one bit off would be (a fast-case draw of layer
        // i compares against the width of layer i + 1), and about 2.2 % of
        // draws leave the fast case (the tail, the wedges, the top layer:
        // 222,078 for this stream), so the rewind is met often too.
        let (mut ours, mut theirs) = (stream(7, 0, "exp1"), stream(7, 0, "exp1"));
        let mut rare = 0;
        for n in 0..10_000_000 {
            let mut one_word = ours.clone();
            one_word.next_u64();
            let a = exp1(&mut ours);
            let b: f64 = Exp1.sample(&mut theirs);
            assert_eq!(a.to_bits(), b.to_bits(), "draw {n}");
            // The generators stay in step: each draw took the same words.
            assert_eq!(ours, theirs, "draw {n}");
            rare += usize::from(ours != one_word);
        }
        assert!(
            (150_000..300_000).contains(&rare),
            "{rare} draws of more than one word"
        );
    }

    #[test]
    fn the_layer_widths_decrease_to_zero() {
        let x = &*ZIGGURAT_X;
        assert!(x.windows(2).all(|w| w[0] > w[1]), "{x:?}");
        assert_eq!(x[256], 0.0);
        // x[1] is the ziggurat's r for 256 layers of the exponential,
        // 7.697117470131..., Marsaglia and Tsang (2000), table 1.
        assert!((x[1] - 7.697_117_470_131_05).abs() < 1e-9, "{}", x[1]);
    }
}
