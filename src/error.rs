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

/// The range checks that every params struct's `validate()` shares, so each message reads the
/// same everywhere. Each returns [`Error::Param`] naming `name` (a `Type.field`).
pub(crate) mod check {
    use super::{Error, Result};

    /// `v >= 1`, else "must be at least 1".
    pub(crate) fn at_least_one(name: &str, v: usize) -> Result<()> {
        if v == 0 {
            return Err(Error::param(name, "must be at least 1"));
        }
        Ok(())
    }

    /// `v` in the open interval (0, 1), else "`v` is not in (0, 1)".
    pub(crate) fn open_unit(name: &str, v: f64) -> Result<()> {
        if !(v > 0.0 && v < 1.0) {
            return Err(Error::param(name, format!("{v} is not in (0, 1)")));
        }
        Ok(())
    }

    /// `v` a fraction in (0, 1], else "`v` is not a fraction in (0, 1]".
    pub(crate) fn fraction(name: &str, v: f64) -> Result<()> {
        if !(v > 0.0 && v <= 1.0) {
            return Err(Error::param(
                name,
                format!("{v} is not a fraction in (0, 1]"),
            ));
        }
        Ok(())
    }
}
