//! Issue 13: the robustness harness. For every reader (edge list, labels / partitions TSV,
//! tree JSON, `.npy`, safetensors, counts shard + sidecar, domains file, FFN layer file), seeded
//! mutations of a valid file (truncation at every byte of a small file, byte flips, inserted
//! garbage, huge header values) and random byte strings: each case must return `Ok` or an
//! error, never panic, abort, hang or allocate without bound.
//!
//! Allocations are bounded by a global allocator that refuses any single request above
//! 512 MiB (the process then aborts with "memory allocation of N bytes failed", failing the
//! test), so a header value used as a size before it is checked against the file size is
//! caught. Each reader reports how many cases it tried (`--nocapture`). Stable Rust only.

use neurobricks::activations::ffn::FfnLayer;
use neurobricks::activations::{read_domains, read_tensor_f32, ActivationFile};
use neurobricks::coactivation::PairCounts;
use neurobricks::graph::{read_edge_list_from, read_labels, EdgeListOptions};
use neurobricks::Dendrogram;
use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The system allocator, refusing single allocations above [`LIMIT`].
struct Bounded;
const LIMIT: usize = 512 << 20;

unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if l.size() > LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Bounded = Bounded;

/// SplitMix64: the harness's seeded generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Huge or odd numbers spliced over digit runs ("huge header values").
const HUGE: &[&str] = &[
    "99999999999999999999",
    "18446744073709551615",
    "4294967296",
    "2147483648",
    "-1",
    "0",
    "1e308",
    "NaN",
    "inf",
];

/// One mutation of `seed`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    match rng.below(6) {
        0 => {
            // byte flips
            for _ in 0..1 + rng.below(4) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            // random bytes overwritten
            for _ in 0..1 + rng.below(8) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
            }
        }
        2 => {
            // inserted garbage
            let at = rng.below(b.len() + 1);
            let g: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next() as u8).collect();
            b.splice(at..at, g);
        }
        3 => {
            // a digit run replaced by a huge or odd value
            let runs: Vec<(usize, usize)> = {
                let mut v = Vec::new();
                let mut i = 0;
                while i < b.len() {
                    if b[i].is_ascii_digit() {
                        let s = i;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                        v.push((s, i));
                    } else {
                        i += 1;
                    }
                }
                v
            };
            if !runs.is_empty() {
                let (s, e) = runs[rng.below(runs.len())];
                let h = HUGE[rng.below(HUGE.len())].as_bytes();
                b.splice(s..e, h.iter().copied());
            }
        }
        4 => {
            // binary header fields: 8 bytes at a random early offset set to a huge value
            if b.len() >= 8 {
                let at = rng.below(b.len().min(64) - 7);
                let v = [u64::MAX, u64::MAX / 2, 1 << 40, b.len() as u64 * 2][rng.below(4)];
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            // a block deleted or duplicated
            if !b.is_empty() {
                let s = rng.below(b.len());
                let e = (s + 1 + rng.below(64)).min(b.len());
                if rng.below(2) == 0 {
                    b.drain(s..e);
                } else {
                    let dup = b[s..e].to_vec();
                    b.splice(e..e, dup);
                }
            }
        }
    }
    b
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nb-robust-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Counts of one reader's cases.
#[derive(Default)]
struct Stats {
    tried: usize,
    ok: usize,
    slowest: Duration,
    failures: Vec<String>,
}

impl Stats {
    fn run(&mut self, read: &dyn Fn(&[u8]) -> bool, b: &[u8]) {
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| read(b))) {
            Ok(true) => self.ok += 1,
            Ok(false) => {}
            Err(_) => {
                self.failures
                    .push(format!("{} bytes: {:02x?}", b.len(), &b[..b.len().min(96)]))
            }
        }
        self.slowest = self.slowest.max(t.elapsed());
        self.tried += 1;
    }
}

/// Run `read` on every case: all truncations of small seeds, then seeded mutations and random
/// byte strings up to `cases` in all. Panics are collected and reported with the case.
fn harness(name: &str, seeds: &[Vec<u8>], cases: usize, read: &dyn Fn(&[u8]) -> bool) {
    let start = Instant::now();
    let mut rng = Rng(0x5EED ^ name.len() as u64);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for s in seeds {
        assert!(read(s), "{name}: the valid seed file is not read");
        if s.len() <= 4096 {
            for k in 0..s.len() {
                inputs.push(s[..k].to_vec());
            }
        }
    }
    let mut st = Stats::default();
    for b in &inputs {
        st.run(read, b);
    }
    while st.tried < cases {
        let b = if rng.below(10) == 0 {
            (0..rng.below(512)).map(|_| rng.next() as u8).collect()
        } else {
            let s = &seeds[rng.below(seeds.len())];
            let mut b = mutate(s, &mut rng);
            if rng.below(3) == 0 {
                b = mutate(&b, &mut rng);
            }
            b
        };
        st.run(read, &b);
    }
    let Stats {
        tried,
        ok,
        slowest,
        failures,
    } = st;
    eprintln!(
        "robustness {name}: {tried} cases ({ok} read, {} refused), slowest {:.1} ms, {:.2} s",
        tried - ok - failures.len(),
        slowest.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} panics, first: {}",
        failures.len(),
        failures[0]
    );
    assert!(
        slowest < Duration::from_secs(20),
        "{name}: a case took {slowest:?}"
    );
}

fn quiet_panics() {
    // The panics are collected and reported; the default hook would print each one.
    std::panic::set_hook(Box::new(|_| {}));
}

fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let mut h = dict.into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h);
    b.extend_from_slice(data);
    b
}

fn f32s(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    (0..n)
        .flat_map(|_| ((r.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.3).to_le_bytes())
        .collect()
}

fn safetensors_bytes(tensors: &[(&str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    use safetensors::tensor::TensorView;
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.to_string(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// Read all chunks of an activation file.
fn read_acts(p: &Path, tensor: Option<&str>) -> bool {
    let Ok(f) = ActivationFile::open(p, tensor) else {
        return false;
    };
    let Ok(chunks) = f.chunks(7, 0) else {
        return false;
    };
    for c in chunks {
        if c.is_err() {
            return false;
        }
    }
    true
}

fn with_file(p: &Path, b: &[u8], f: impl Fn(&Path) -> bool) -> bool {
    std::fs::write(p, b).unwrap();
    f(p)
}

const CASES: usize = 3000;

#[test]
fn edge_list_reader() {
    quiet_panics();
    let seeds = vec![
        b"# u v\n1 2\n2 3\n3 1\n".to_vec(),
        b"u\tv\tweight\na\tb\t0.5\nb\tc\t2\nc\ta\t1e-3\n".to_vec(),
        b"1,2,3\n2,3,4\n\n# comment\n4,1,5 # trailing\n".to_vec(),
        (0..200)
            .map(|i| format!("{} {}\n", i, (i * 7 + 1) % 200))
            .collect::<String>()
            .into_bytes(),
    ];
    harness("edge list", &seeds, CASES, &|b| {
        read_edge_list_from(b, Path::new("fuzz.tsv"), &EdgeListOptions::default()).is_ok()
    });
}

#[test]
fn labels_reader() {
    quiet_panics();
    let p = tmp("labels.tsv");
    let seeds = vec![
        b"node\tdepth1\tdepth2\n0\t0\t0\n1\t0\t1\n2\t1\t2\n3\t1\t3\n".to_vec(),
        b"node k2 k4\na 0 1\nb 1 2\n# c\nc 1 3\n".to_vec(),
    ];
    harness("labels TSV", &seeds, CASES, &|b| {
        with_file(&p, b, |p| read_labels(p).is_ok())
    });
}

#[test]
fn tree_json_reader() {
    quiet_panics();
    let p = tmp("tree.json");
    let ids: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
    let leaves = vec![vec![0, 1], vec![2, 3, 4], vec![5], vec![6, 7]];
    let d = Dendrogram::from_tree(
        ids,
        leaves,
        &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
        neurobricks::hierarchy::HeightMap::OneMinus,
        "fuzz",
    )
    .unwrap();
    let seeds = vec![d.to_json().into_bytes()];
    harness("tree JSON", &seeds, CASES, &|b| {
        with_file(&p, b, |p| match Dendrogram::read(p) {
            Ok(d) => {
                // A tree that reads must also cut and export.
                let _ = d.cut_k(2);
                let _ = d.cut_depth(1);
                let _ = d.to_newick();
                true
            }
            Err(_) => false,
        })
    });
}

#[test]
fn npy_reader() {
    quiet_panics();
    let p = tmp("acts.npy");
    let seeds = vec![
        npy_bytes("<f4", &[12, 5], &f32s(60, 1)),
        npy_bytes("<f2", &[4, 3], &[0x3c; 24]),
        npy_bytes("<f8", &[3, 2], &[0x3f; 48]),
    ];
    harness(".npy", &seeds, CASES, &|b| {
        with_file(&p, b, |p| {
            let a = read_acts(p, None);
            let t = read_tensor_f32(p, "x").is_ok();
            a || t
        })
    });
}

#[test]
fn safetensors_reader() {
    quiet_panics();
    let p = tmp("acts.safetensors");
    let seeds = vec![safetensors_bytes(&[
        ("act", vec![10, 4], f32s(40, 2)),
        ("other", vec![3], f32s(3, 3)),
    ])];
    harness("safetensors", &seeds, CASES, &|b| {
        with_file(&p, b, |p| {
            let a = read_acts(p, Some("act"));
            let t = read_tensor_f32(p, "other").is_ok();
            a || t
        })
    });
}

#[test]
fn counts_shard_and_sidecar_reader() {
    quiet_panics();
    let n = 6;
    let mut counts = vec![0u32; n * n];
    for i in 0..n {
        for j in 0..n {
            counts[i * n + j] = if i == j { 9 } else { ((i + j) % 4) as u32 };
        }
    }
    let npy = npy_bytes(
        "<u4",
        &[n, n],
        &counts
            .iter()
            .flat_map(|c| c.to_le_bytes())
            .collect::<Vec<_>>(),
    );
    let side = format!(
        "{{\"format\": \"neurobricks-pair-counts\", \"version\": 1, \"tokens\": 20, \"neurons\": {n}, \"binarize\": \"topk:2\", \"sources\": [\"a.npy\"]}}\n"
    )
    .into_bytes();
    let p = tmp("c.npy");
    let ps = tmp("c.npy.json");
    std::fs::write(&ps, &side).unwrap();
    harness("counts shard", std::slice::from_ref(&npy), CASES, &|b| {
        std::fs::write(&ps, &side).unwrap();
        with_file(&p, b, |p| PairCounts::read_npy(p).is_ok())
    });
    harness("counts sidecar", std::slice::from_ref(&side), CASES, &|b| {
        std::fs::write(&p, &npy).unwrap();
        with_file(&ps, b, |_| PairCounts::read_npy(&p).is_ok())
    });
}

#[test]
fn domains_reader() {
    quiet_panics();
    let p = tmp("domains.txt");
    let seeds = vec![b"wiki\nwiki\ncode\nnews\ncode\n".to_vec()];
    harness("domains", &seeds, CASES, &|b| {
        with_file(&p, b, |p| read_domains(p, 5).is_ok())
    });
}

#[test]
fn ffn_layer_reader() {
    quiet_panics();
    let p = tmp("layer.safetensors");
    let (t, d, m) = (6, 4, 5);
    let seeds = vec![safetensors_bytes(&[
        ("ffn_in", vec![t, d], f32s(t * d, 4)),
        ("w_in", vec![m, d], f32s(m * d, 5)),
        ("b_in", vec![m], f32s(m, 6)),
        ("w_out", vec![d, m], f32s(d * m, 7)),
        ("b_out", vec![d], f32s(d, 8)),
    ])];
    harness("FFN layer", &seeds, CASES, &|b| {
        with_file(&p, b, |p| FfnLayer::read_activations(p).is_ok())
    });
}
