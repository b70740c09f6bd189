//! A linear pre-scan of YAML nesting, run before the YAML parser sees the input.
//!
//! The parser (libyaml) does work proportional to the current nesting depth for every token
//! inside flow collections (`[...]`, `{...}`), so a 200 KB file nested 100,000 levels deep takes
//! tens of seconds before the deserializer's own recursion limit refuses it. This scan counts the
//! nesting of flow collections in one pass and refuses input deeper than [`MAX_FLOW_DEPTH`].
//!
//! It follows YAML's lexical rules (comments, quoted scalars, block scalars, plain scalars and
//! their continuation lines) so that brackets inside strings are not counted and quoted brackets
//! cannot hide real nesting. It is a guard, not a parser: what it lets through is parsed and
//! checked as usual, with the parser's own limit behind it. It must not allocate per byte or
//! look back: it stays linear in the input.

/// Deepest nesting of `[...]` / `{...}` collections accepted. No Kubernetes manifest comes near
/// it; the YAML deserializer itself refuses more than 128 levels of any kind.
pub const MAX_FLOW_DEPTH: usize = 100;

/// Where the input first nests deeper than [`MAX_FLOW_DEPTH`] (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooDeep {
    /// Line of the bracket that crossed the limit.
    pub line: usize,
    /// Column (in characters) of that bracket.
    pub column: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// Scanner state that survives the end of a line.
struct Scan {
    /// Nesting of flow collections; 0 is block context.
    depth: usize,
    quote: Quote,
    /// Flow context: inside a plain scalar, where quotes are ordinary characters.
    in_plain: bool,
    /// Block context: lines indented more than this (and blank lines) are the content of a block
    /// scalar or the continuation of a plain scalar, not structure.
    content_above: Option<isize>,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// `---` or `...` at the start of a line, followed by a blank or the end of the line.
fn is_marker(line: &[u8], marker: &[u8; 3]) -> bool {
    line.starts_with(marker) && line.get(3).is_none_or(|b| is_blank(*b))
}

/// Refuses input whose flow collections nest deeper than [`MAX_FLOW_DEPTH`].
pub fn check(text: &str) -> Result<(), TooDeep> {
    let mut scan = Scan {
        depth: 0,
        quote: Quote::None,
        in_plain: false,
        content_above: None,
    };
    for (number, line) in text.split('\n').enumerate() {
        scan.line(line.as_bytes()).map_err(|byte| TooDeep {
            line: number + 1,
            column: String::from_utf8_lossy(&line.as_bytes()[..byte])
                .chars()
                .count()
                + 1,
        })?;
    }
    Ok(())
}

impl Scan {
    /// Scans one line; `Err(byte offset)` of the bracket that crossed the limit.
    fn line(&mut self, line: &[u8]) -> Result<(), usize> {
        let indent = line.iter().take_while(|b| **b == b' ').count() as isize;
        let mut i = 0;
        // Block context: a block scalar, or a plain scalar continuing on later lines, owns the
        // lines indented more than this (the line's key or list entry).
        let mut threshold = indent - 1;
        if is_marker(line, b"---") || is_marker(line, b"...") {
            // A document boundary ends everything (the parser refuses an unclosed collection
            // or quote here).
            *self = Scan {
                depth: 0,
                quote: Quote::None,
                in_plain: false,
                content_above: None,
            };
            i = 3;
            threshold = -1;
        } else if let Some(above) = self.content_above {
            if line.iter().all(|b| is_blank(*b)) || indent > above {
                return Ok(());
            }
            self.content_above = None;
        }
        if self.depth == 0 && self.quote == Quote::None && line.first() == Some(&b'%') {
            return Ok(()); // a directive
        }
        // Block context: whether the next non-blank character starts a node (so that `[`,
        // quotes and `|` are indicators there), and whether that node could be a key.
        let mut node_start = true;
        let mut key_position = true;
        let mut key_column = indent;
        let mut block_plain = false;
        while i < line.len() {
            let b = line[i];
            let next = line.get(i + 1).copied();
            let next_ends = next.is_none_or(is_blank);
            match self.quote {
                Quote::Double => {
                    if b == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b == b'"' {
                        self.quote = Quote::None;
                    }
                    i += 1;
                    continue;
                }
                Quote::Single => {
                    if b == b'\'' {
                        if next == Some(b'\'') {
                            i += 2;
                            continue;
                        }
                        self.quote = Quote::None;
                    }
                    i += 1;
                    continue;
                }
                Quote::None => {}
            }
            if is_blank(b) {
                i += 1;
                continue;
            }
            if b == b'#' && (i == 0 || is_blank(line[i - 1])) {
                break; // a comment runs to the end of the line
            }
            if self.depth > 0 {
                self.flow_byte(line, &mut i)?;
                if self.depth == 0 {
                    node_start = false;
                    key_position = false;
                }
                i += 1;
                continue;
            }
            if node_start {
                match b {
                    b'[' | b'{' => {
                        self.depth = 1;
                        self.in_plain = false;
                    }
                    b'"' | b'\'' => {
                        if key_position {
                            key_column = i as isize;
                        }
                        self.quote = if b == b'"' {
                            Quote::Double
                        } else {
                            Quote::Single
                        };
                        node_start = false;
                    }
                    b'|' | b'>' => {
                        // A block scalar: the rest of the line is its header.
                        self.content_above = Some(threshold);
                        return Ok(());
                    }
                    b'-' | b'?' if next_ends => threshold = i as isize,
                    b':' if next_ends => key_position = false,
                    b'!' | b'&' | b'*' => {
                        // A tag or an anchor before a node, or an alias (a whole node).
                        while i + 1 < line.len() && !is_blank(line[i + 1]) {
                            i += 1;
                        }
                        node_start = b != b'*';
                    }
                    _ => {
                        if key_position {
                            key_column = i as isize;
                        }
                        node_start = false;
                        block_plain = true;
                    }
                }
            } else if b == b':' && next_ends {
                // After a key: its value starts a node, owned by the key.
                node_start = true;
                key_position = false;
                block_plain = false;
                threshold = key_column;
            }
            i += 1;
        }
        if self.depth == 0 && self.quote == Quote::None && block_plain {
            self.content_above = Some(threshold);
        }
        Ok(())
    }

    /// One non-blank byte in flow context; `Err(offset)` when it crosses the limit.
    fn flow_byte(&mut self, line: &[u8], i: &mut usize) -> Result<(), usize> {
        let b = line[*i];
        let next = line.get(*i + 1).copied();
        match b {
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > MAX_FLOW_DEPTH {
                    return Err(*i);
                }
                self.in_plain = false;
            }
            b']' | b'}' => {
                self.depth -= 1;
                self.in_plain = false;
            }
            b',' => self.in_plain = false,
            // Quotes start a scalar only where a node starts; inside a plain one they are text.
            b'"' if !self.in_plain => self.quote = Quote::Double,
            b'\'' if !self.in_plain => self.quote = Quote::Single,
            b':' if self.in_plain => {
                if next.is_none_or(|n| is_blank(n) || is_flow_indicator(n)) {
                    self.in_plain = false;
                }
            }
            b':' | b'?' if !self.in_plain => {}
            b'!' | b'&' | b'*' if !self.in_plain => {
                while *i + 1 < line.len()
                    && !is_blank(line[*i + 1])
                    && !is_flow_indicator(line[*i + 1])
                {
                    *i += 1;
                }
            }
            _ => self.in_plain = true,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_deep(text: &str) -> bool {
        check(text).is_err()
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_it_crosses_the_limit() {
        let text = "[".repeat(MAX_FLOW_DEPTH + 1);
        assert_eq!(
            check(&text),
            Err(TooDeep {
                line: 1,
                column: MAX_FLOW_DEPTH + 1
            })
        );
        assert!(too_deep(&format!("a: {}", "[".repeat(100_000))));
        assert!(too_deep(&"{a: ".repeat(100_000)));
        assert!(too_deep(&format!("- x\n- {}", "[\n".repeat(200))));
        assert!(too_deep(&format!("k: !!seq &a {}", "[ !t ".repeat(200))));
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let text = format!(
            "a: {}{}\n",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(check(&text), Ok(()));
        // Sibling collections do not add up.
        assert_eq!(check(&"{a: [1, 2]}, ".repeat(10_000)), Ok(()));
    }

    #[test]
    fn brackets_in_strings_comments_and_block_scalars_do_not_count() {
        let many = "[".repeat(500);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: \"x\n  {many}\n  \"\n"),
            format!("a: 1 # {many}\n"),
            format!("# {many}\n"),
            format!("data: |\n  {many}\n  \"\nnext: 1\n"),
            format!("- key: >-\n    {many}\n    '\n- 2\n"),
            format!("command: echo {many}\n"),
            format!("- text\n  {many}\n"),
            format!("a: [\"{many}\", '{many}', x]\n"),
            format!("a: it's {many}\n"),
        ] {
            assert_eq!(check(&text), Ok(()), "{text}");
            // The parser agrees these are strings (and is quick about it).
            assert!(
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn quoted_closers_cannot_hide_real_nesting() {
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        for text in [
            format!("a: [\"]]]]\", '}}}}', {deep}"),
            format!("a: [\"x\n]]]]]]\", {deep}"),
            format!("a: [x'y, {deep}"),
            format!("\"k ]]]\": {deep}"),
            format!("a: |\n  ]]]]\nb: {deep}"),
            format!("- key: |\n   \"x\n  b: {deep}"),
        ] {
            assert!(too_deep(&text), "{text}");
        }
    }

    #[test]
    fn document_markers_start_afresh() {
        let half = "[".repeat(MAX_FLOW_DEPTH / 2 + 1);
        assert_eq!(check(&format!("{half}\n---\n{half}\n")), Ok(()));
        assert!(too_deep(&format!("--- {}", "[".repeat(MAX_FLOW_DEPTH + 1))));
    }
}
