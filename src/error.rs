//! The library's one error type.
//!
//! Every error carries the context a user needs to fix the problem: the file and line of a
//! malformed input, or the name and value of a bad parameter.

use std::path::PathBuf;

/// Errors returned by neurobricks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed input file; `line` is 1-based (0 when the problem is not tied to a line).
    #[error("{path}{}: {msg}", if *.line > 0 { format!(":{}", .line) } else { String::new() })]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number, or 0.
        line: usize,
        /// What is wrong, quoting the offending value.
        msg: String,
    },
    /// An invalid parameter value.
    #[error("invalid parameter `{name}`: {msg}")]
    Param {
        /// The parameter: `Type.field` for a params struct's field (`BottomUp.split`), the
        /// argument's name for a function argument; the command-line tool replaces it by the
        /// flag that sets it.
        name: String,
        /// What is wrong and what is allowed.
        msg: String,
    },
    /// Input data that cannot be processed (empty graph, mismatched node sets, ...).
    #[error("{0}")]
    Input(String),
}

impl Error {
    /// Shorthand for [`Error::Param`].
    pub fn param(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Param {
            name: name.into(),
            msg: msg.into(),
        }
    }
    /// Shorthand for [`Error::Parse`].
    pub fn parse(path: impl Into<PathBuf>, line: usize, msg: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            msg: msg.into(),
        }
    }
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
