//! SplitMix64 (Steele, Lea & Flood 2014): a tiny deterministic PRNG, so the
//! bootstrap (and the tests' simulations) are reproducible from a seed
//! without a dependency.

#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift (bias < n/2^64).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Marsaglia's polar method; the pair's second value
    /// is dropped, which keeps the generator stateless beyond its seed).
    fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }

    /// Gamma(shape, 1) for shape >= 1 (Marsaglia & Tsang 2000).
    fn gamma(&mut self, shape: f64) -> f64 {
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.next_f64();
            if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// Binomial(n, p), exactly, in O(log n) steps: the count of n uniforms
    /// below p. The i-th smallest of n uniforms is Beta(i, n + 1 - i); when
    /// it lies below p, those i count and the other n - i are uniform above
    /// it, otherwise only the i - 1 below it can count (Devroye 1986, X.4).
    /// Small n are counted one uniform at a time.
    pub(crate) fn binomial(&mut self, mut n: u64, mut p: f64) -> u64 {
        let mut count = 0;
        while n > 32 {
            if p <= 0.0 {
                return count;
            }
            if p >= 1.0 {
                return count + n;
            }
            let i = n / 2 + 1;
            let a = self.gamma(i as f64);
            let b = self.gamma((n + 1 - i) as f64);
            let x = a / (a + b);
            if x <= p {
                count += i;
                n -= i;
                p = (p - x) / (1.0 - x);
            } else {
                n = i - 1;
                p /= x;
            }
        }
        count + (0..n).filter(|_| self.next_f64() < p).count() as u64
    }

    /// How many of `n` draws with replacement fall on each group, the
    /// groups holding `sizes` of the `n` things drawn from (a multinomial,
    /// as binomials one group at a time), into `counts`.
    pub(crate) fn multinomial(&mut self, n: u64, sizes: &[u64], counts: &mut Vec<u64>) {
        counts.clear();
        let (mut draws, mut left) = (n, sizes.iter().sum::<u64>());
        for &size in sizes {
            let c = if size >= left {
                draws
            } else {
                self.binomial(draws, size as f64 / left as f64)
            };
            counts.push(c);
            draws -= c;
            left -= size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    /// The exact probabilities of Binomial(n, p), by the recurrence.
    fn pmf(n: u64, p: f64) -> Vec<f64> {
        let mut out = vec![(1.0 - p).powi(n as i32)];
        for k in 1..=n {
            let last = out[k as usize - 1];
            out.push(last * (n - k + 1) as f64 / k as f64 * p / (1.0 - p));
        }
        out
    }

    /// Frequencies of many draws against the exact distribution, for sizes
    /// that go through the Beta steps (n > 32) and sizes that do not: every
    /// value with probability above 1 % is drawn within 4 standard errors
    /// of its expected frequency, and the mean within 4 standard errors.
    #[test]
    fn binomial_draws_follow_the_binomial_distribution() {
        let mut rng = SplitMix64(5);
        let draws = 40_000;
        for (n, p) in [
            (10, 0.3),
            (33, 0.5),
            (200, 0.07),
            (1_000, 0.42),
            (100_000, 0.9),
        ] {
            let mut seen = std::collections::HashMap::new();
            let mut sum = 0.0;
            for _ in 0..draws {
                let k = rng.binomial(n, p);
                assert!(k <= n);
                *seen.entry(k).or_insert(0u32) += 1;
                sum += k as f64;
            }
            let mean = sum / draws as f64;
            let sd = (n as f64 * p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (mean - n as f64 * p).abs() < 4.0 * sd,
                "n {n} p {p}: mean {mean}"
            );
            if n <= 1_000 {
                for (k, &q) in pmf(n, p).iter().enumerate() {
                    if q > 0.01 {
                        let got = f64::from(*seen.get(&(k as u64)).unwrap_or(&0)) / draws as f64;
                        let se = (q * (1.0 - q) / draws as f64).sqrt();
                        assert!(
                            (got - q).abs() < 4.0 * se,
                            "n {n} p {p} k {k}: {got} vs {q}"
                        );
                    }
                }
            }
        }
        assert_eq!(rng.binomial(50, 0.0), 0);
        assert_eq!(rng.binomial(50, 1.0), 50);
    }

    #[test]
    fn multinomial_counts_add_up_and_follow_the_group_sizes() {
        let mut rng = SplitMix64(8);
        let sizes = [70_000, 20_000, 9_990, 10];
        let mut counts = Vec::new();
        let mut totals = [0u64; 4];
        for _ in 0..200 {
            rng.multinomial(100_000, &sizes, &mut counts);
            assert_eq!(counts.iter().sum::<u64>(), 100_000);
            for (t, c) in totals.iter_mut().zip(&counts) {
                *t += c;
            }
        }
        for (t, s) in totals.iter().zip(sizes) {
            let mean = *t as f64 / 200.0;
            let sd = (s as f64 * (1.0 - s as f64 / 1e5) / 200.0).sqrt();
            assert!((mean - s as f64).abs() < 4.0 * sd, "{mean} vs {s}");
        }
    }
}
