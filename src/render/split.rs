//! A YAML stream cut into the text of its documents, so that documents `render` does not own
//! are passed on exactly as written (comments, quoting and key order included).
//!
//! The cut follows the YAML rule that `---` and `...` at the start of a line (followed by a blank
//! or the end of the line) are document markers wherever they appear. The caller compares the
//! number of pieces with the number of documents the parser found and re-serializes instead when
//! they differ, so a stream this cut misreads is never passed on wrongly. It must not parse.

/// The documents of `text`, one slice each, in order, each ending with a newline when the
/// document did. `None` for streams with directives (`%YAML`), which cannot be cut apart safely.
pub fn documents(text: &str) -> Option<Vec<&str>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    // Whether the current piece has a `---` line or any content (a piece with neither is only
    // comments before the next `---`, and belongs to that document).
    let mut started = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bytes = line.as_bytes();
        let ends_marker = |marker: &[u8]| {
            bytes.starts_with(marker)
                && bytes
                    .get(3)
                    .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        };
        let trimmed = line.trim_start();
        if ends_marker(b"---") {
            if started {
                pieces.push(&text[start..offset]);
                start = offset;
            }
            started = true;
        } else if ends_marker(b"...") {
            offset += line.len();
            if started {
                pieces.push(&text[start..offset]);
            }
            start = offset;
            started = false;
            continue;
        } else if line.starts_with('%') {
            return None;
        } else if !(trimmed.is_empty() || trimmed.starts_with('#')) {
            started = true;
        }
        offset += line.len();
    }
    if started {
        pieces.push(&text[start..]);
    }
    Some(pieces)
}

/// A document's text as one document of `render`'s output: it starts with `---` and ends with
/// a newline.
pub fn as_output(piece: &str) -> String {
    let has_marker = piece.split_inclusive('\n').any(|l| {
        l.starts_with("---") && l.as_bytes().get(3).is_none_or(|b| b.is_ascii_whitespace())
    });
    let mut out = String::with_capacity(piece.len() + 5);
    if !has_marker {
        out.push_str("---\n");
    }
    out.push_str(piece);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// The pieces agree with the parser: same count, and each parses to the same document.
    fn agrees(text: &str) -> Vec<&str> {
        let pieces = documents(text).unwrap();
        let parsed: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(text)
            .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap())
            .collect();
        assert_eq!(pieces.len(), parsed.len(), "{text:?}: {pieces:?}");
        for (piece, value) in pieces.iter().zip(&parsed) {
            let alone: serde_yaml_ng::Value = serde_yaml_ng::from_str(piece).unwrap();
            assert_eq!(&alone, value, "{piece:?}");
        }
        pieces
    }

    #[test]
    fn documents_are_cut_at_markers_with_their_comments() {
        assert_eq!(agrees("a: 1\n"), ["a: 1\n"]);
        assert_eq!(
            agrees("# head\n---\na: 1 # one\n---\n\n---\nb: |\n  x\n  --- not\n"),
            [
                "# head\n---\na: 1 # one\n",
                "---\n\n",
                "---\nb: |\n  x\n  --- not\n"
            ]
        );
        assert_eq!(
            agrees("a: 1\n...\n---\nb: 2\n...\n"),
            ["a: 1\n...\n", "---\nb: 2\n...\n"]
        );
        assert_eq!(agrees("--- {a: 1}\n--- [1]"), ["--- {a: 1}\n", "--- [1]"]);
        assert_eq!(
            agrees("a: 1\r\n---\r\nb: 2\r\n"),
            ["a: 1\r\n", "---\r\nb: 2\r\n"]
        );
        assert_eq!(agrees("a: 1\n---x: 2\n"), ["a: 1\n---x: 2\n"]);
        assert_eq!(agrees("a: 1\n---\n"), ["a: 1\n", "---\n"]);
        assert!(documents("%YAML 1.2\n---\na: 1\n").is_none());
    }

    #[test]
    fn output_pieces_start_with_a_marker() {
        assert_eq!(as_output("a: 1"), "---\na: 1\n");
        assert_eq!(as_output("# c\n---\na: 1\n"), "# c\n---\na: 1\n");
        assert_eq!(as_output("--- {a: 1}\n"), "--- {a: 1}\n");
    }
}
