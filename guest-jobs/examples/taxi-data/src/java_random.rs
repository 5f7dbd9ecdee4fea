//! A bit-exact port of `java.util.Random` (the 48-bit linear congruential generator) and of the
//! few `java.lang.Math`/`StrictMath` functions the data generator depends on.

/// The LCG multiplier of `java.util.Random`.
const MULTIPLIER: i64 = 0x5_DEEC_E66D;
/// The LCG addend of `java.util.Random`.
const ADDEND: i64 = 0xB;
/// The LCG works modulo 2^48.
const MASK: i64 = (1 << 48) - 1;

/// `java.util.Random`: the same seed gives the same values, bit for bit, as the JDK.
///
/// Only the methods of the legacy `Random` class are ported (`next(bits)` and what is built on
/// it), which are fully specified by the JDK's documentation and have not changed since Java 1.2.
#[derive(Clone, Debug)]
pub struct JavaRandom {
    seed: i64,
    next_next_gaussian: Option<f64>,
}

impl JavaRandom {
    /// `new Random(seed)`: scrambles the seed as the JDK does.
    pub fn new(seed: i64) -> Self {
        JavaRandom { seed: (seed ^ MULTIPLIER) & MASK, next_next_gaussian: None }
    }

    /// `next(bits)`: advances the LCG and returns its `bits` high-order bits (1 ≤ bits ≤ 32).
    pub fn next(&mut self, bits: u32) -> i32 {
        debug_assert!((1..=32).contains(&bits));
        self.seed = (self.seed.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND)) & MASK;
        // Java: (int) (seed >>> (48 - bits)); the seed is non-negative so >> equals >>>.
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextInt()`: a uniformly distributed `int`.
    pub fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextInt(bound)`: a uniformly distributed value in `0..bound`.
    ///
    /// # Panics
    ///
    /// If `bound` is not positive (Java throws `IllegalArgumentException`).
    pub fn next_int_bounded(&mut self, bound: i32) -> i32 {
        assert!(bound > 0, "bound must be positive");
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            // bound is a power of two
            ((i64::from(bound) * i64::from(r)) >> 31) as i32
        } else {
            // reject over-represented candidates; the overflow check is Java's int arithmetic
            let mut u = r;
            loop {
                r = u % bound;
                if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                    return r;
                }
                u = self.next(31);
            }
        }
    }

    /// `nextLong()`: a uniformly distributed `long` (built from two 32-bit values, as Java does).
    pub fn next_long(&mut self) -> i64 {
        let hi = i64::from(self.next(32));
        let lo = i64::from(self.next(32));
        (hi << 32).wrapping_add(lo)
    }

    /// `nextBoolean()`.
    pub fn next_boolean(&mut self) -> bool {
        self.next(1) != 0
    }

    /// `nextFloat()`: a value in `[0, 1)` with 24 random bits.
    pub fn next_float(&mut self) -> f32 {
        self.next(24) as f32 * (1.0 / (1 << 24) as f32)
    }

    /// `nextDouble()`: a value in `[0, 1)` with 53 random bits.
    pub fn next_double(&mut self) -> f64 {
        let hi = i64::from(self.next(26));
        let lo = i64::from(self.next(27));
        ((hi << 27) + lo) as f64 * (1.0 / (1_i64 << 53) as f64)
    }

    /// `nextGaussian()`: Marsaglia's polar method, using `StrictMath.log` (fdlibm) and
    /// `StrictMath.sqrt` so that the result matches the JDK bit for bit.
    pub fn next_gaussian(&mut self) -> f64 {
        if let Some(g) = self.next_next_gaussian.take() {
            return g;
        }
        loop {
            let v1 = 2.0 * self.next_double() - 1.0; // between -1 and 1
            let v2 = 2.0 * self.next_double() - 1.0; // between -1 and 1
            let s = v1 * v1 + v2 * v2;
            if s < 1.0 && s != 0.0 {
                let multiplier = (-2.0 * strict_log(s) / s).sqrt();
                self.next_next_gaussian = Some(v2 * multiplier);
                return v1 * multiplier;
            }
        }
    }
}

/// `Collections.shuffle(list, rnd)` for a random-access list: swaps each position, from the last
/// down to the second, with a position drawn by `rnd.nextInt(i)`.
pub fn shuffle<T>(list: &mut [T], rnd: &mut JavaRandom) {
    for i in (2..=list.len()).rev() {
        let bound = i32::try_from(i).expect("list too long for java.util.Collections.shuffle");
        list.swap(i - 1, rnd.next_int_bounded(bound) as usize);
    }
}

/// `Math.round(double)`: the closest `long`, ties rounding towards positive infinity; NaN gives 0
/// and values out of range saturate (as the JDK's `(long)` conversion does).
pub fn java_round(a: f64) -> i64 {
    let floor = a.floor();
    // a - floor(a) is exact, so this is floor(a + 1/2) without the rounding error of the addition.
    let rounded = if a - floor >= 0.5 { floor + 1.0 } else { floor };
    rounded as i64
}

/// `StrictMath.log`: fdlibm's `__ieee754_log` (e_log.c), ported line by line.
///
/// The platform `ln` (glibc, musl, wasi-libc) is not guaranteed to agree with fdlibm in the last
/// bit, and `nextGaussian` depends on it.
pub fn strict_log(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const TWO54: f64 = f64::from_bits(0x4350_0000_0000_0000);
    const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
    const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
    const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
    const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
    const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
    const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
    const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

    let hi = |v: f64| (v.to_bits() >> 32) as i32;
    let lo = |v: f64| v.to_bits() as u32;
    let with_hi = |v: f64, h: i32| f64::from_bits((u64::from(h as u32) << 32) | u64::from(lo(v)));

    let mut x = x;
    let mut hx = hi(x);
    let lx = lo(x);
    let mut k: i32 = 0;
    if hx < 0x0010_0000 {
        // x < 2**-1022
        if ((hx & 0x7fff_ffff) as u32 | lx) == 0 {
            return f64::NEG_INFINITY; // log(+-0) = -inf
        }
        if hx < 0 {
            return f64::NAN; // log(-#) = NaN
        }
        k -= 54;
        x *= TWO54; // subnormal number, scale up x
        hx = hi(x);
    }
    if hx >= 0x7ff0_0000 {
        return x + x;
    }
    k += (hx >> 20) - 1023;
    hx &= 0x000f_ffff;
    let i = (hx + 0x9_5f64) & 0x10_0000;
    x = with_hi(x, hx | (i ^ 0x3ff0_0000)); // normalize x or x/2
    k += i >> 20;
    let f = x - 1.0;
    if (0x000f_ffff & (2 + hx)) < 3 {
        // |f| < 2**-20
        if f == 0.0 {
            if k == 0 {
                return 0.0;
            }
            let dk = f64::from(k);
            return dk * LN2_HI + dk * LN2_LO;
        }
        let r = f * f * (0.5 - 0.333_333_333_333_333_3 * f);
        if k == 0 {
            return f - r;
        }
        let dk = f64::from(k);
        return dk * LN2_HI - ((r - dk * LN2_LO) - f);
    }
    let s = f / (2.0 + f);
    let dk = f64::from(k);
    let z = s * s;
    let mut i = hx - 0x6_147a;
    let w = z * z;
    let j = 0x6b851 - hx;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    i |= j;
    let r = t2 + t1;
    if i > 0 {
        let hfsq = 0.5 * f * f;
        if k == 0 { f - (hfsq - s * (hfsq + r)) } else { dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f) }
    } else if k == 0 {
        f - s * (f - r)
    } else {
        dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)
    }
}
