//! Mixed-precision AVX-512 kernels for Gram–Schmidt against an `f32` basis: the basis is read as
//! `f32` (half the memory traffic of `f64`) and every product is formed and accumulated in `f64`.
//!
//! Both kernels work on a chunk of whole rows of a row-major basis `V` (row stride `stride`,
//! first `m` columns used) and a compact row-major `rows x b` block `Y` in `f64`, `b <= 4`:
//! [`project`] accumulates `V^T Y`, [`subtract`] computes `Y <- Y - V C`. Written with explicit
//! intrinsics (register-resident accumulators, one contiguous read of each row segment): the
//! generic code the compiler produced for the same loops ran at a third of the speed. Each
//! returns `false` without touching its output when the CPU lacks AVX-512F or `b > 4`; the
//! caller then takes its portable path.

/// `out[j * b + c] += sum_i V[i, j] Y[i, c]` for `j < m`, `c < b`. Returns whether it ran.
///
/// # Panics
/// If the slices are shorter than the shapes say (a bug in the caller).
// Deliberate same-shape pair with [`subtract`] (`cd src && duplicates`): the same shape checks
// and per-width dispatch, but each kernel is its own monomorphised `unsafe` AVX-512 function
// with its own operands; a shared macro would hide the safety argument of each call.
pub(crate) fn project(
    v: &[f32],
    stride: usize,
    rows: usize,
    m: usize,
    y: &[f64],
    b: usize,
    out: &mut [f64],
) -> bool {
    if rows == 0 || m == 0 {
        return true;
    }
    assert!(m <= stride && v.len() >= (rows - 1) * stride + m);
    assert!(y.len() >= rows * b && out.len() >= m * b);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F and the shapes were checked above.
        unsafe {
            match b {
                1 => avx512::project::<1>(v, stride, rows, m, y, out),
                2 => avx512::project::<2>(v, stride, rows, m, y, out),
                3 => avx512::project::<3>(v, stride, rows, m, y, out),
                4 => avx512::project::<4>(v, stride, rows, m, y, out),
                _ => return false,
            }
        }
        return true;
    }
    false
}

/// `Y[i, c] -= sum_j V[i, j] C[j, c]` with `ct` holding `C` transposed (`ct[c * m + j]`).
/// Returns whether it ran.
///
/// # Panics
/// If the slices are shorter than the shapes say (a bug in the caller).
// Deliberate same-shape pair with [`project`] (`cd src && duplicates`): the same shape checks
// and per-width dispatch, but each kernel is its own monomorphised `unsafe` AVX-512 function
// with its own operands; a shared macro would hide the safety argument of each call.
pub(crate) fn subtract(
    v: &[f32],
    stride: usize,
    rows: usize,
    m: usize,
    ct: &[f64],
    y: &mut [f64],
    b: usize,
) -> bool {
    if rows == 0 || m == 0 {
        return true;
    }
    assert!(m <= stride && v.len() >= (rows - 1) * stride + m);
    assert!(y.len() >= rows * b && ct.len() >= m * b);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F and the shapes were checked above.
        unsafe {
            match b {
                1 => avx512::subtract::<1>(v, stride, rows, m, ct, y),
                2 => avx512::subtract::<2>(v, stride, rows, m, ct, y),
                3 => avx512::subtract::<3>(v, stride, rows, m, ct, y),
                4 => avx512::subtract::<4>(v, stride, rows, m, ct, y),
                _ => return false,
            }
        }
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Rows per block of [`project`]: 64 rows of a 64-column `f32` basis are 16 KB.
    const PROJECT_ROWS: usize = 64;

    /// Eight `f32` at `p`, widened to `f64`.
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> __m512d {
        _mm512_cvtps_pd(_mm256_loadu_ps(p))
    }

    /// `out[(j0 + l) * B + c] += acc[c]` lane by lane.
    #[inline(always)]
    unsafe fn flush<const B: usize>(acc: &[__m512d; B], j0: usize, out: &mut [f64]) {
        for (c, a) in acc.iter().enumerate() {
            let mut lanes = [0.0f64; 8];
            _mm512_storeu_pd(lanes.as_mut_ptr(), *a);
            for (l, x) in lanes.iter().enumerate() {
                out[(j0 + l) * B + c] += x;
            }
        }
    }

    /// See [`super::project`]. Rows in blocks of [`PROJECT_ROWS`] (L1 resident); within a
    /// block, sweeps of 32 columns (four 8-wide tiles, `4 B` accumulators), then 8-wide tiles,
    /// then single columns, the accumulators carried from block to block in memory. Every
    /// output sums its rows in the same order as one sweep over all rows would; the blocks make
    /// a row's columns be read from memory once (a sweep over all rows per tile group read the
    /// later groups' cache lines in a second stream: 10% slower on a 200,000 x 48 basis).
    ///
    /// # Safety
    /// AVX-512F must be available and the shapes valid (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn project<const B: usize>(
        v: &[f32],
        stride: usize,
        rows: usize,
        m: usize,
        y: &[f64],
        out: &mut [f64],
    ) {
        let (vp, yp) = (v.as_ptr(), y.as_ptr());
        let tiles = m / 8;
        // Accumulator of tile t and column c at acc[t * B + c].
        let mut acc = vec![_mm512_setzero_pd(); tiles * B];
        let mut tail = vec![0.0f64; (m - 8 * tiles) * B];
        let mut i0 = 0;
        while i0 < rows {
            let i1 = (i0 + PROJECT_ROWS).min(rows);
            let mut t0 = 0;
            while t0 + 4 <= tiles {
                let mut a: [[__m512d; 4]; B] =
                    std::array::from_fn(|c| std::array::from_fn(|t| acc[(t0 + t) * B + c]));
                for i in i0..i1 {
                    let r = vp.add(i * stride + 8 * t0);
                    let x = [
                        load8(r),
                        load8(r.add(8)),
                        load8(r.add(16)),
                        load8(r.add(24)),
                    ];
                    for (c, ac) in a.iter_mut().enumerate() {
                        let yc = _mm512_set1_pd(*yp.add(i * B + c));
                        for t in 0..4 {
                            ac[t] = _mm512_fmadd_pd(x[t], yc, ac[t]);
                        }
                    }
                }
                for (c, ac) in a.iter().enumerate() {
                    for t in 0..4 {
                        acc[(t0 + t) * B + c] = ac[t];
                    }
                }
                t0 += 4;
            }
            for t in t0..tiles {
                let mut a: [__m512d; B] = std::array::from_fn(|c| acc[t * B + c]);
                for i in i0..i1 {
                    let x = load8(vp.add(i * stride + 8 * t));
                    for (c, ac) in a.iter_mut().enumerate() {
                        *ac = _mm512_fmadd_pd(x, _mm512_set1_pd(*yp.add(i * B + c)), *ac);
                    }
                }
                for (c, ac) in a.iter().enumerate() {
                    acc[t * B + c] = *ac;
                }
            }
            for (jj, j) in (8 * tiles..m).enumerate() {
                for c in 0..B {
                    let mut s = tail[jj * B + c];
                    for i in i0..i1 {
                        s = f64::from(*vp.add(i * stride + j)).mul_add(*yp.add(i * B + c), s);
                    }
                    tail[jj * B + c] = s;
                }
            }
            i0 = i1;
        }
        for t in 0..tiles {
            let tile: [__m512d; B] = std::array::from_fn(|c| acc[t * B + c]);
            flush(&tile, 8 * t, out);
        }
        for (e, s) in tail.iter().enumerate() {
            out[8 * tiles * B + e] += s;
        }
    }

    /// See [`super::subtract`]: per row, `B` dot products of length `m` in 8-wide tiles; two
    /// rows at a time, so that each load of `C` serves both (12% faster on a 200,000 x 48
    /// basis; every row's sums are formed in the same order either way).
    ///
    /// # Safety
    /// AVX-512F must be available and the shapes valid (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn subtract<const B: usize>(
        v: &[f32],
        stride: usize,
        rows: usize,
        m: usize,
        ct: &[f64],
        y: &mut [f64],
    ) {
        let (vp, cp) = (v.as_ptr(), ct.as_ptr());
        let tiles = m / 8;
        let finish = |r: *const f32, acc: &[__m512d; B], i: usize, y: &mut [f64]| {
            for (c, a) in acc.iter().enumerate() {
                let mut s = _mm512_reduce_add_pd(*a);
                for j in tiles * 8..m {
                    s = f64::from(*r.add(j)).mul_add(*cp.add(c * m + j), s);
                }
                y[i * B + c] -= s;
            }
        };
        let mut i = 0;
        while i + 2 <= rows {
            let (r0, r1) = (vp.add(i * stride), vp.add((i + 1) * stride));
            let mut a0 = [_mm512_setzero_pd(); B];
            let mut a1 = [_mm512_setzero_pd(); B];
            for t in 0..tiles {
                let (x0, x1) = (load8(r0.add(8 * t)), load8(r1.add(8 * t)));
                for c in 0..B {
                    let cc = _mm512_loadu_pd(cp.add(c * m + 8 * t));
                    a0[c] = _mm512_fmadd_pd(x0, cc, a0[c]);
                    a1[c] = _mm512_fmadd_pd(x1, cc, a1[c]);
                }
            }
            finish(r0, &a0, i, y);
            finish(r1, &a1, i + 1, y);
            i += 2;
        }
        if i < rows {
            let r = vp.add(i * stride);
            let mut acc = [_mm512_setzero_pd(); B];
            for t in 0..tiles {
                let x = load8(r.add(8 * t));
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_pd(x, _mm512_loadu_pd(cp.add(c * m + 8 * t)), *a);
                }
            }
            finish(r, &acc, i, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kernels against a plain f64 evaluation, for every block width and for basis widths
    /// that exercise all tile sizes (skipped on CPUs without AVX-512F, where they report so).
    #[test]
    fn kernels_match_the_definition() {
        let (rows, stride) = (37, 70);
        let v: Vec<f32> = (0..rows * stride)
            .map(|i| ((i * 7919 % 101) as f32 - 50.0) / 37.0)
            .collect();
        for b in 1..=5 {
            for m in [1, 3, 4, 15, 16, 21, 32, 44, 64, 70] {
                let y: Vec<f64> = (0..rows * b)
                    .map(|i| ((i * 104729 % 89) as f64 - 44.0) / 13.0)
                    .collect();
                let mut out = vec![0.5; m * b];
                if !project(&v, stride, rows, m, &y, b, &mut out) {
                    assert!(b > 4 || !std::arch::is_x86_feature_detected!("avx512f"));
                    assert!(out.iter().all(|&x| x == 0.5), "untouched when not run");
                    continue;
                }
                for j in 0..m {
                    for c in 0..b {
                        let want: f64 = 0.5
                            + (0..rows)
                                .map(|i| f64::from(v[i * stride + j]) * y[i * b + c])
                                .sum::<f64>();
                        assert!((out[j * b + c] - want).abs() < 1e-10, "b {b} m {m}");
                    }
                }
                let ct: Vec<f64> = (0..m * b).map(|i| (i % 11) as f64 - 5.0).collect();
                let mut z = y.clone();
                assert!(subtract(&v, stride, rows, m, &ct, &mut z, b));
                for i in 0..rows {
                    for c in 0..b {
                        let s: f64 = (0..m)
                            .map(|j| f64::from(v[i * stride + j]) * ct[c * m + j])
                            .sum();
                        assert!((z[i * b + c] - (y[i * b + c] - s)).abs() < 1e-10);
                    }
                }
            }
        }
    }
}
