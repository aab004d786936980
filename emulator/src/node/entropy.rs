//! Where a node's random bytes come from: the operating system when serving, a seed when a
//! run must be replayed. The node never reads randomness itself; every request is handed a
//! source.

use std::fmt;

/// No random bytes could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoEntropy;

impl fmt::Display for NoEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no randomness available")
    }
}

/// A source of random bytes (challenge tokens, password salts).
pub trait Entropy {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), NoEntropy>;
}

/// The operating system's generator, through aws-lc.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), NoEntropy> {
        aws_lc_rs::rand::fill(dest).map_err(|_| NoEntropy)
    }
}

/// A deterministic stream of bytes from a seed: SHA-256 over the seed and a block counter.
/// Two sources with the same seed give the same bytes, so a run can be replayed. Not for
/// serving real users.
#[derive(Debug, Clone)]
pub struct SeededEntropy {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &seed.to_be_bytes());
        let mut s = [0u8; 32];
        s.copy_from_slice(digest.as_ref());
        SeededEntropy {
            seed: s,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&self.seed);
        ctx.update(&self.counter.to_be_bytes());
        self.block.copy_from_slice(ctx.finish().as_ref());
        self.counter += 1;
        self.used = 0;
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), NoEntropy> {
        for byte in dest {
            if self.used == self.block.len() {
                self.refill();
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(e: &mut dyn Entropy, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        e.fill(&mut v).unwrap();
        v
    }

    #[test]
    fn a_seed_gives_the_same_stream_however_it_is_read() {
        let mut a = SeededEntropy::new(7);
        let mut b = SeededEntropy::new(7);
        let whole = bytes(&mut a, 100);
        let mut pieces = bytes(&mut b, 16);
        pieces.extend(bytes(&mut b, 50));
        pieces.extend(bytes(&mut b, 34));
        assert_eq!(whole, pieces);
        assert_ne!(bytes(&mut SeededEntropy::new(8), 100), whole);
        assert_ne!(whole[..32], whole[32..64], "blocks differ");
    }

    #[test]
    fn the_os_source_gives_fresh_bytes() {
        assert_ne!(bytes(&mut OsEntropy, 32), bytes(&mut OsEntropy, 32));
    }
}
