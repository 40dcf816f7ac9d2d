//! **Experiments**, not core API: the evaluation protocol of the bricks on the shipped MiniLM
//! layers (`data/minilm-l6`, docs/bricks.md) and the location of the shared public test data.
//! Everything here is built from the core modules (`activations`, `coactivation`, `hierarchy`,
//! `bricks`) and may change with the experiments; nothing in the core modules depends on it.
//!
//! * [`minilm`]: the shipped corpus' token metadata ([`minilm::Tokens`], [`minilm::MINILM_DOMAINS`])
//!   and the calibration / held-out split of a layer ([`minilm::SplitLayer`]);
//! * [`pipeline`]: the default co-activation bricks of a layer (co-activation graph on the
//!   calibration tokens + `hierarchy::BottomUp`), with the settings of docs/bricks.md;
//! * [`standin`]: the graph-free stand-in bricks (`--bricks standin`);
//! * [`html_report`]: the brick atlas page of the layers ([`crate::plot::html`]);
//! * [`report`]: every table of docs/bricks.md for one layer ([`report::evaluate_layer`]);
//! * [`shared_data_dir`]: where the public networks of [`crate::datasets`] are read from.

pub mod html_report;
pub mod minilm;
pub mod pipeline;
pub mod report;
pub mod standin;

use std::path::{Path, PathBuf};

/// The shared data folder of the tests and examples: `$NEUROBRICKS_DATA` if set, else
/// `<crate>/../shared/data` (nothing is downloaded; see [`crate::datasets`]).
pub fn shared_data_dir() -> PathBuf {
    std::env::var_os("NEUROBRICKS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}
