//! The word-piece vocabulary of a BERT tokenizer (`vocab.txt`: line `i` is the piece of id `i`)
//! and the decoding of id sequences to text the way the Hugging Face `tokenizers` WordPiece
//! decoder does it (`decoders.WordPiece(prefix="##", cleanup=True)`), so that a context window
//! reads exactly as `tokenizer.decode(ids)` prints it.

use crate::error::{Error, Result};
use std::path::Path;

/// A word-piece vocabulary: id → piece, and which ids are special tokens (the pieces of
/// [`SPECIAL_TOKENS`], the added special tokens of BERT's `tokenizer.json`; `[unused0]`... are
/// ordinary pieces there).
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    pieces: Vec<String>,
    special: Vec<bool>,
}

/// The special tokens of BERT's tokenizer (dropped by `skip_special_tokens`).
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Continuation prefix of word pieces.
pub const CONTINUATION: &str = "##";

impl Vocab {
    /// A vocabulary from its pieces (index = id). Special tokens: see the type docs.
    ///
    /// # Errors
    /// An empty vocabulary.
    pub fn new(pieces: Vec<String>) -> Result<Self> {
        if pieces.is_empty() {
            return Err(Error::Input("an empty vocabulary".into()));
        }
        let special = pieces
            .iter()
            .map(|p| SPECIAL_TOKENS.contains(&p.as_str()))
            .collect();
        Ok(Vocab { pieces, special })
    }

    /// Read a `vocab.txt` (UTF-8, one piece per line, `\n` or `\r\n`). Cost O(file size).
    ///
    /// # Errors
    /// An unreadable or non-UTF-8 file, an empty line (naming its line number), or an empty file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::parse(path, 0, format!("not UTF-8: {e}")))?;
        let mut pieces = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                return Err(Error::parse(path, i + 1, "empty word piece"));
            }
            pieces.push(line.to_string());
        }
        Vocab::new(pieces).map_err(|e| Error::parse(path, 0, e.to_string()))
    }

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }
    /// Never true (a vocabulary has at least one piece); for symmetry with [`Vocab::len`].
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The piece of `id` as stored (with its `##` prefix), or `None` outside the vocabulary.
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// True if `id` is a special token (see the type docs).
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Check that every id is in the vocabulary.
    ///
    /// # Errors
    /// [`Error::Input`] naming the first id out of range and its position.
    pub fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().position(|&i| i as usize >= self.pieces.len()) {
            Some(p) => Err(Error::Input(format!(
                "token {p} has id {} outside the vocabulary of {} pieces",
                ids[p],
                self.pieces.len()
            ))),
            None => Ok(()),
        }
    }

    /// The decoded text of each id, in order, such that their concatenation is the decoded
    /// text: the first piece as stored, every later piece without its `##` prefix if it has
    /// one, else with a leading space; then the WordPiece cleanup (`" ."` → `"."`, `" ,"`,
    /// `" ?"`, `" !"`, `" 's"`, `" 're"`, `" 've"`, `" 'm"`, `" n't"`, ...) on each chunk, as
    /// `tokenizers` does. Ids for which `keep` is false are dropped first (as
    /// `skip_special_tokens` drops special tokens) and get an empty chunk. Ids outside the
    /// vocabulary decode as `[UNK]`. Cost O(total length).
    pub fn decode_chunks(&self, ids: &[u32], keep: impl Fn(usize) -> bool) -> Vec<String> {
        let mut out = Vec::with_capacity(ids.len());
        let mut first = true;
        for (k, &id) in ids.iter().enumerate() {
            if !keep(k) {
                out.push(String::new());
                continue;
            }
            let piece = self.piece(id).unwrap_or("[UNK]");
            let chunk = if first {
                piece.to_string()
            } else if let Some(rest) = piece.strip_prefix(CONTINUATION) {
                rest.to_string()
            } else {
                format!(" {piece}")
            };
            first = false;
            out.push(cleanup(&chunk));
        }
        out
    }

    /// `tokenizer.decode(ids, skip_special_tokens=skip_special)`: the concatenation of
    /// [`Vocab::decode_chunks`]. Cost O(total length).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        self.decode_chunks(ids, |k| !(skip_special && self.is_special(ids[k])))
            .concat()
    }
}

/// The WordPiece decoder's cleanup of one chunk (the replacements of `tokenizers`'
/// `decoders::wordpiece::cleanup`, in its order).
fn cleanup(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        let p = [
            "[PAD]", "[CLS]", "[SEP]", "the", "cat", "##s", ".", "'", "s", "run", "##ning",
        ];
        Vocab::new(p.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn joins_continuations_and_cleans_punctuation() {
        let v = vocab();
        assert_eq!(
            v.decode(&[1, 3, 4, 5, 9, 10, 6, 2], true),
            "the cats running."
        );
        assert_eq!(
            v.decode(&[1, 3, 4, 2], false),
            "[CLS] the cat [SEP]".to_string()
        );
        // A continuation first keeps its prefix, as the tokenizer does.
        assert_eq!(v.decode(&[5, 3], true), "##s the");
        // " '" + " s": the apostrophe chunk is " '", then " s" (no " 's" inside one chunk).
        assert_eq!(v.decode(&[4, 7, 8], true), "cat ' s");
        let chunks = v.decode_chunks(&[3, 4, 5, 6], |_| true);
        assert_eq!(chunks, vec!["the", " cat", "s", "."]);
        assert!(v.is_special(1) && !v.is_special(3));
        assert!(v.check_ids(&[3, 11]).is_err());
    }
}
