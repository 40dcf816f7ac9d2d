//! Bricks as a partition of a layer's neurons: built from per-neuron labels or from a cut of a
//! brick dendrogram, and exported as sub-FFNs.
//!
//! A brick dendrogram's leaves are groups of neurons (primitive communities of the co-activation
//! graph). Neurons that are in no leaf — the dead and resident neurons that the co-activation
//! stage sets aside before clustering — form one more brick, the **set-aside brick**. Every
//! neuron is in exactly one brick, so the bricks' sub-FFN outputs plus `b_out` add up to the full
//! FFN output (DESIGN.md §3 "Bricks").

use crate::activations::ffn::FfnLayer;
use crate::activations::TokenMatrix;
use crate::error::{Error, Result};
use crate::hierarchy::Dendrogram;
use crate::output::Outputs;
use crate::util::wio;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A partition of the N neurons of one layer into bricks.
#[derive(Debug, Clone, PartialEq)]
pub struct Bricks {
    /// Number of neurons of the layer.
    pub n_neurons: usize,
    /// Neuron indices of each brick, sorted ascending; every neuron is in exactly one brick.
    pub members: Vec<Vec<u32>>,
    /// Index (in `members`) of the set-aside brick of dead / resident neurons, if any.
    pub set_aside: Option<usize>,
}

/// How to cut a brick dendrogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cut {
    /// The leaves themselves.
    Leaves,
    /// `k` clusters by decreasing merge similarity ([`Dendrogram::cut_k`]).
    K(usize),
    /// The subtrees rooted at tree depth `l` ([`Dendrogram::cut_depth`]).
    Depth(usize),
    /// Size bounds in neurons ([`Dendrogram::cut_size`]): descending from the root, a cluster
    /// larger than `max` is replaced by its two children; a cluster no larger than `max` (or a
    /// leaf) becomes a brick; then a brick smaller than `min` is merged with its sibling when
    /// that sibling is one brick (the union may exceed `max`).
    Size {
        /// Smallest wanted brick (0 = no lower bound).
        min: usize,
        /// Largest wanted brick.
        max: usize,
    },
}

impl Bricks {
    /// Bricks from a brick id per neuron (any `u32` ids; bricks are numbered by ascending id).
    /// `set_aside` names the id of the dead/resident group, if it is one of the labels.
    ///
    /// # Errors
    /// An empty labelling, or a `set_aside` id no neuron carries.
    pub fn from_labels(labels: &[u32], set_aside: Option<u32>) -> Result<Self> {
        if labels.is_empty() {
            return Err(Error::Input(
                "a partition of zero neurons has no bricks".into(),
            ));
        }
        let mut ids: Vec<u32> = labels.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let pos: HashMap<u32, usize> = ids.iter().enumerate().map(|(i, &l)| (l, i)).collect();
        let mut members = vec![Vec::new(); ids.len()];
        for (i, l) in labels.iter().enumerate() {
            members[pos[l]].push(i as u32);
        }
        let set_aside = match set_aside {
            None => None,
            Some(s) => Some(*pos.get(&s).ok_or_else(|| {
                Error::param(
                    "set_aside",
                    format!("no neuron carries the set-aside brick id {s}"),
                )
            })?),
        };
        Ok(Bricks {
            n_neurons: labels.len(),
            members,
            set_aside,
        })
    }

    /// Bricks from explicit member lists; checks that they partition `0..n_neurons`.
    pub fn from_members(
        n_neurons: usize,
        mut members: Vec<Vec<u32>>,
        set_aside: Option<usize>,
    ) -> Result<Self> {
        let mut seen = vec![false; n_neurons];
        for (b, m) in members.iter_mut().enumerate() {
            if m.is_empty() {
                return Err(Error::Input(format!("brick {b} is empty")));
            }
            m.sort_unstable();
            for &i in m.iter() {
                let i = i as usize;
                if i >= n_neurons || seen[i] {
                    return Err(Error::Input(format!(
                        "brick {b}: neuron {i} is out of range (N = {n_neurons}) or in two bricks"
                    )));
                }
                seen[i] = true;
            }
        }
        if let Some(miss) = seen.iter().position(|s| !s) {
            return Err(Error::Input(format!("neuron {miss} is in no brick")));
        }
        if let Some(s) = set_aside {
            if s >= members.len() {
                return Err(Error::param("set_aside", format!("no brick {s}")));
            }
        }
        Ok(Bricks {
            n_neurons,
            members,
            set_aside,
        })
    }

    /// Cut a brick dendrogram built on the co-activation graph of a layer with `n_neurons`
    /// neurons. The dendrogram's node ids must be distinct neuron indices in `0..N` (decimal
    /// strings, any order; the co-activation graph leaves the dead and resident neurons out, so
    /// it may have fewer than N nodes); neurons in no leaf form the set-aside brick (last brick).
    /// Use [`Bricks::from_dendrogram_with_set_aside`] to also check that the missing neurons are
    /// exactly the set-aside ones.
    ///
    /// # Errors
    /// A tree from another graph (more nodes than neurons, or ids that are not neuron indices),
    /// or a cut parameter out of range.
    pub fn from_dendrogram(d: &Dendrogram, n_neurons: usize, cut: Cut) -> Result<Self> {
        let node_to_neuron = neuron_index_map(d, n_neurons)?;
        let k = d.num_leaves();
        let leaf_labels: Vec<u32> = match cut {
            Cut::Leaves => (0..k as u32).collect(),
            Cut::K(c) => d.cut_k(c)?,
            Cut::Depth(l) => d.cut_depth(l),
            Cut::Size { min, max } => d.cut_size(max, min)?,
        };
        let nb = leaf_labels.iter().max().map_or(0, |m| *m as usize + 1);
        let mut members = vec![Vec::new(); nb];
        let mut in_leaf = vec![false; n_neurons];
        for (a, leaf) in d.leaves.iter().enumerate() {
            for &node in leaf {
                let i = node_to_neuron[node as usize];
                in_leaf[i as usize] = true;
                members[leaf_labels[a] as usize].push(i);
            }
        }
        let rest: Vec<u32> = (0..n_neurons as u32)
            .filter(|&i| !in_leaf[i as usize])
            .collect();
        let set_aside = if rest.is_empty() {
            None
        } else {
            members.push(rest);
            Some(members.len() - 1)
        };
        Bricks::from_members(n_neurons, members, set_aside)
    }

    /// [`Bricks::from_dendrogram`], checking that the tree's nodes and `set_aside` (the dead and
    /// resident neurons the co-activation stage left out) together are exactly the N neurons.
    ///
    /// # Errors
    /// As [`Bricks::from_dendrogram`], and a tree whose node set does not complement
    /// `set_aside` (a tree from another graph).
    pub fn from_dendrogram_with_set_aside(
        d: &Dendrogram,
        n_neurons: usize,
        cut: Cut,
        set_aside: &[u32],
    ) -> Result<Self> {
        let b = Bricks::from_dendrogram(d, n_neurons, cut)?;
        let mut want = set_aside.to_vec();
        want.sort_unstable();
        want.dedup();
        let got = b
            .set_aside
            .map(|s| b.members[s].clone())
            .unwrap_or_default();
        if got != want {
            return Err(Error::Input(format!(
                "the tree has {} nodes and {} neurons are set aside, but the layer has {n_neurons} \
                 neurons (or the tree's nodes overlap the set-aside neurons): the tree comes from \
                 another graph",
                d.node_ids.len(),
                want.len()
            )));
        }
        Ok(b)
    }

    /// Number of bricks (including the set-aside brick).
    pub fn len(&self) -> usize {
        self.members.len()
    }
    /// True if there are no bricks.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    /// Brick sizes in neurons.
    pub fn sizes(&self) -> Vec<usize> {
        self.members.iter().map(|m| m.len()).collect()
    }
    /// Brick id of every neuron.
    pub fn labels(&self) -> Vec<u32> {
        let mut l = vec![0u32; self.n_neurons];
        for (b, m) in self.members.iter().enumerate() {
            for &i in m {
                l[i as usize] = b as u32;
            }
        }
        l
    }

    /// Check that the bricks cover exactly the neurons of `ffn`.
    pub fn check_layer(&self, ffn: &FfnLayer) -> Result<()> {
        if self.n_neurons != ffn.n_neurons {
            return Err(Error::Input(format!(
                "the bricks partition {} neurons but the FFN layer has {}",
                self.n_neurons, ffn.n_neurons
            )));
        }
        Ok(())
    }

    /// Sub-FFN of brick `b` (its rows of `W_in`/`b_in`, columns of `W_out`).
    pub fn sub_ffn(&self, ffn: &FfnLayer, b: usize) -> Result<SubFfn> {
        self.check_layer(ffn)?;
        let neurons = self
            .members
            .get(b)
            .ok_or_else(|| Error::param("brick", format!("no brick {b} (0..{})", self.len())))?
            .clone();
        Ok(SubFfn {
            layer: ffn.select_neurons(&neurons),
            neurons,
        })
    }

    /// Export every brick of `ffn` as `dir/brick_NNN.safetensors` (f32 `w_in [m, d]`, `b_in [m]`,
    /// `w_out [d, m]`, i64 `neurons [m]`, metadata `brick`, `set_aside`), plus
    /// `dir/layer.safetensors` with `b_out` and `dir/bricks.json`, an index (file, size, set-aside
    /// flag, neuron list per brick). All files or none: they are renamed together after the
    /// last one is written ([`crate::output`]), and `brick_*.safetensors` files of an earlier
    /// export into `dir` that this one does not write are removed with the commit (returned, so
    /// that a caller can say so). Cost O(N d).
    pub fn export(&self, ffn: &FfnLayer, dir: &Path) -> Result<Vec<PathBuf>> {
        self.check_layer(ffn)?;
        let made = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let res = self.export_into(ffn, dir);
        if res.is_err() && made {
            // The folder this call made, now empty again (its temporaries are gone).
            let _ = std::fs::remove_dir(dir);
        }
        res
    }

    fn export_into(&self, ffn: &FfnLayer, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Outputs::new();
        let mut index = Vec::new();
        for b in 0..self.len() {
            let sub = self.sub_ffn(ffn, b)?;
            let name = format!("brick_{b:03}.safetensors");
            let mut meta = HashMap::new();
            meta.insert("brick".to_string(), b.to_string());
            meta.insert(
                "set_aside".to_string(),
                (self.set_aside == Some(b)).to_string(),
            );
            meta.insert("n_neurons_layer".to_string(), self.n_neurons.to_string());
            let m = sub.neurons.len();
            let d = ffn.d_model;
            let w_in: Vec<f32> = (0..m)
                .flat_map(|r| (0..d).map(move |j| (r, j)))
                .map(|(r, j)| sub.layer.w_in[(r, j)])
                .collect();
            let w_out: Vec<f32> = (0..d)
                .flat_map(|i| (0..m).map(move |c| (i, c)))
                .map(|(i, c)| sub.layer.w_out[(i, c)])
                .collect();
            let idx: Vec<i64> = sub.neurons.iter().map(|&i| i as i64).collect();
            write_safetensors(
                &mut out,
                &dir.join(&name),
                vec![
                    (
                        "w_in",
                        f32_bytes(&w_in),
                        vec![m, d],
                        safetensors::Dtype::F32,
                    ),
                    (
                        "b_in",
                        f32_bytes(&sub.layer.b_in),
                        vec![m],
                        safetensors::Dtype::F32,
                    ),
                    (
                        "w_out",
                        f32_bytes(&w_out),
                        vec![d, m],
                        safetensors::Dtype::F32,
                    ),
                    ("neurons", i64_bytes(&idx), vec![m], safetensors::Dtype::I64),
                ],
                meta,
            )?;
            index.push(serde_json::json!({
                "brick": b, "file": name, "size": m,
                "set_aside": self.set_aside == Some(b), "neurons": sub.neurons,
            }));
        }
        write_safetensors(
            &mut out,
            &dir.join("layer.safetensors"),
            vec![(
                "b_out",
                f32_bytes(&ffn.b_out),
                vec![ffn.d_model],
                safetensors::Dtype::F32,
            )],
            HashMap::new(),
        )?;
        let j = serde_json::json!({
            "format": "neurobricks-bricks/1",
            "n_neurons": self.n_neurons,
            "d_model": ffn.d_model,
            "bricks": index,
        });
        let p = dir.join("bricks.json");
        out.write(&p, |w| {
            w.write_all(serde_json::to_string_pretty(&j).expect("json").as_bytes())
                .map_err(wio(&p))
        })?;
        let stale = stale_bricks(dir, self.len())?;
        for s in &stale {
            out.remove_on_commit(s);
        }
        out.commit()?;
        Ok(stale)
    }
}

/// A brick as a stand-alone FFN without `b_out`: `y = W_out[:, S] GELU(W_in[S] x + b_in[S])`.
#[derive(Debug, Clone)]
pub struct SubFfn {
    /// Neuron indices in the full layer.
    pub neurons: Vec<u32>,
    /// The sub-layer (its `b_out` is the full layer's and is **not** added by [`SubFfn::forward`]).
    pub layer: FfnLayer,
}

impl SubFfn {
    /// The brick's contribution to the FFN output, `[T, d]` (no `b_out`). Cost O(T |S| d).
    pub fn forward(&self, x: &TokenMatrix) -> Result<TokenMatrix> {
        let a = self.layer.activations(x)?;
        self.layer.project(&a)
    }
}

/// Map dendrogram node index -> neuron index, checking the tree belongs to this layer.
fn neuron_index_map(d: &Dendrogram, n_neurons: usize) -> Result<Vec<u32>> {
    let n = d.node_ids.len();
    if n > n_neurons {
        return Err(Error::Input(format!(
            "the dendrogram was built on a graph of {n} nodes but the layer has {n_neurons} \
             neurons: the tree comes from another graph"
        )));
    }
    let mut seen = vec![false; n_neurons];
    let mut map = Vec::with_capacity(n);
    for id in &d.node_ids {
        let i: usize = id.trim().parse().map_err(|_| {
            Error::Input(format!(
                "dendrogram node id `{id}` is not a neuron index: the tree comes from another graph"
            ))
        })?;
        if i >= n_neurons || seen[i] {
            return Err(Error::Input(format!(
                "dendrogram node id `{id}` is out of range (N = {n_neurons}) or repeated: the \
                 tree comes from another graph"
            )));
        }
        seen[i] = true;
        map.push(i as u32);
    }
    Ok(map)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

type NamedTensor<'a> = (&'a str, Vec<u8>, Vec<usize>, safetensors::Dtype);

/// `brick_NNN.safetensors` files in `dir` with `NNN >= n` (left by an earlier export).
fn stale_bricks(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
    {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name
            .strip_prefix("brick_")
            .and_then(|r| r.strip_suffix(".safetensors"))
        else {
            continue;
        };
        if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            let b: usize = num.parse().unwrap_or(usize::MAX);
            if b >= n || format!("{b:03}") != num {
                v.push(e.path());
            }
        }
    }
    v.sort();
    Ok(v)
}

fn write_safetensors(
    out: &mut Outputs,
    path: &Path,
    tensors: Vec<NamedTensor<'_>>,
    meta: HashMap<String, String>,
) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, b, s, dt)| {
            safetensors::tensor::TensorView::new(*dt, s.clone(), b)
                .map(|v| (n.to_string(), v))
                .map_err(|e| Error::Input(format!("{}: tensor `{n}`: {e}", path.display())))
        })
        .collect::<Result<_>>()?;
    let sorted: std::collections::BTreeMap<&str, &str> =
        meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut bytes = safetensors::serialize(views, Some(meta.clone()))
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    sort_header_metadata(&mut bytes, &sorted)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    out.write(path, |w| w.write_all(&bytes).map_err(wio(path)))
}

/// Rewrites the `__metadata__` object of a serialised safetensors file with its keys in sorted
/// order, so that the same bricks give the same bytes in every run (the safetensors crate takes
/// the metadata as a `HashMap` and writes it in the map's per-process random order). The crate
/// writes `{"__metadata__":{...},` first; the sorted object has the same entries and therefore
/// the same length, so the header length and the tensor offsets are unchanged. Cost O(header).
fn sort_header_metadata(
    bytes: &mut [u8],
    sorted: &std::collections::BTreeMap<&str, &str>,
) -> std::result::Result<(), String> {
    const PREFIX: &[u8] = b"{\"__metadata__\":";
    let text = serde_json::to_string(sorted).map_err(|e| e.to_string())?;
    let start = 8 + PREFIX.len();
    let end = start + text.len();
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .ok_or("safetensors header shorter than 8 bytes")?;
    if bytes.len() < 8 + header_len || end > 8 + header_len || &bytes[8..start] != PREFIX {
        return Err("unexpected safetensors header layout (metadata not first)".into());
    }
    // The slice being replaced must be the same map, just in another order.
    let old: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&bytes[start..end]).map_err(|e| format!("metadata: {e}"))?;
    if old.len() != sorted.len()
        || old
            .iter()
            .any(|(k, v)| sorted.get(k.as_str()) != Some(&v.as_str()))
    {
        return Err("safetensors metadata changed while sorting".into());
    }
    bytes[start..end].copy_from_slice(text.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hierarchy::HeightMap;

    /// Leaves {0,1} {2,3,4} {5} {6,7,8,9}; neurons 10, 11 are set aside.
    fn tree() -> Dendrogram {
        let ids: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let leaves = vec![vec![0, 1], vec![2, 3, 4], vec![5], vec![6, 7, 8, 9]];
        Dendrogram::from_tree(
            ids,
            leaves,
            &[(0, 1, 0.9), (2, 3, 0.8), (4, 5, 0.1)],
            HeightMap::OneMinus,
            "t",
        )
        .unwrap()
    }

    #[test]
    fn cuts_and_set_aside() {
        let d = tree();
        let b = Bricks::from_dendrogram(&d, 12, Cut::Leaves).unwrap();
        assert_eq!(b.sizes(), vec![2, 3, 1, 4, 2]);
        assert_eq!(b.set_aside, Some(4));
        assert_eq!(b.members[4], vec![10, 11]);
        let b = Bricks::from_dendrogram(&d, 12, Cut::K(2)).unwrap();
        assert_eq!(b.sizes(), vec![5, 5, 2]);
        let b = Bricks::from_dendrogram(&d, 12, Cut::Depth(1)).unwrap();
        assert_eq!(b.sizes(), vec![5, 5, 2]);
        // max 4: root (10) and both children (5, 5) are split -> leaves.
        let b = Bricks::from_dendrogram(&d, 12, Cut::Size { min: 0, max: 4 }).unwrap();
        assert_eq!(b.sizes(), vec![2, 3, 1, 4, 2]);
        // min 2, max 5: the children of the root are bricks.
        let b = Bricks::from_dendrogram(&d, 12, Cut::Size { min: 2, max: 5 }).unwrap();
        assert_eq!(b.sizes(), vec![5, 5, 2]);
        // min 2, max 4: the leaves, then leaf 2 (1 neuron) joins its sibling leaf 3 (4): a brick
        // of 5 > max, as the lower bound wins.
        let b = Bricks::from_dendrogram(&d, 12, Cut::Size { min: 2, max: 4 }).unwrap();
        assert_eq!(b.sizes(), vec![2, 3, 5, 2]);
        // min 3: leaf 0 (2) joins leaf 1 (3), and leaf 2 joins leaf 3.
        let b = Bricks::from_dendrogram(&d, 12, Cut::Size { min: 3, max: 4 }).unwrap();
        assert_eq!(b.sizes(), vec![5, 5, 2]);
        assert!(Bricks::from_dendrogram(&d, 12, Cut::Size { min: 3, max: 2 }).is_err());

        assert!(Bricks::from_dendrogram(&d, 12, Cut::K(9)).is_err());
    }

    #[test]
    fn labels_round_trip_and_validation() {
        let b = Bricks::from_labels(&[7, 3, 7, 9], Some(9)).unwrap();
        assert_eq!(b.members, vec![vec![1], vec![0, 2], vec![3]]);
        assert_eq!(b.set_aside, Some(2));
        assert_eq!(b.labels(), vec![1, 0, 1, 2]);
        assert!(Bricks::from_labels(&[0, 1], Some(5)).is_err());
        assert!(Bricks::from_members(3, vec![vec![0, 1]], None)
            .unwrap_err()
            .to_string()
            .contains("neuron 2"));
        assert!(Bricks::from_members(2, vec![vec![0, 1], vec![1]], None).is_err());
    }
}
