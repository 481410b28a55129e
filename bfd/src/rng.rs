//! The injected randomness used for transmit jitter (RFC 5880 §6.8.7) and the initial
//! transmit sequence number (§6.8.1 bfd.XmitAuthSeq).

/// A source of random 32-bit values. The session never reads the OS; the runtime (or a test)
/// injects one. Implemented for `&mut R`, so one generator can serve many sessions.
pub trait RandomSource {
    /// Next random value, uniformly distributed.
    fn next_u32(&mut self) -> u32;
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn next_u32(&mut self) -> u32 {
        (**self).next_u32()
    }
}

impl<R: RandomSource + ?Sized> RandomSource for Box<R> {
    fn next_u32(&mut self) -> u32 {
        (**self).next_u32()
    }
}

/// SplitMix64: a tiny, fast, seedable generator, good enough for jitter (not cryptographic).
/// The same seed always gives the same sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`. Seed from the OS in production, from a constant in tests.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// Next 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RandomSource for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}
