//! The shell parser: the subset of shell a person writes in the baseline
//! file (comments, `export`, quotes, a BOM, CRLF), refusing with file and line
//! anything the shell would read differently; and quoting a value back.
use super::*;

pub(super) const BOM: char = '\u{feff}';

/// Parses baseline bytes, reporting invalid UTF-8 with its line.
pub fn parse_bytes(bytes: &[u8], source: &str) -> Result<Baseline, BaselineError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, source),
        Err(e) => {
            let at = e.valid_up_to();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            let line_start = bytes[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            Err(BaselineError::Syntax {
                file: source.to_string(),
                line,
                message: format!("invalid UTF-8 at byte {} of the line", at - line_start + 1),
            })
        }
    }
}

/// Parses the text of a baseline file. `source` names the file in errors.
pub fn parse(text: &str, source: &str) -> Result<Baseline, BaselineError> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        chars: &chars,
        pos: 0,
        line: 1,
        source,
    };
    let mut vars: Vec<(String, String, usize)> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    while !p.eof() {
        if let Some((key, value, line)) = p.statement()? {
            if let Some(&first_line) = seen.get(&key) {
                return Err(BaselineError::Duplicate {
                    file: source.to_string(),
                    key,
                    first_line,
                    line,
                });
            }
            seen.insert(key.clone(), line);
            vars.push((key, value, line));
        }
    }
    Ok(Baseline {
        source: source.to_string(),
        vars,
    })
}

pub(super) struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    line: usize,
    source: &'a str,
}

pub(super) fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
pub(super) fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
pub(super) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }
    /// At `\n`, `\r\n` or the end of input.
    fn at_line_end(&self) -> bool {
        match self.peek() {
            None | Some('\n') => true,
            Some('\r') => self.peek_at(1) == Some('\n'),
            _ => false,
        }
    }
    /// Consumes a line end (if any) and counts it.
    fn eat_line_end(&mut self) {
        match self.peek() {
            Some('\n') => {
                self.pos += 1;
                self.line += 1;
            }
            Some('\r') if self.peek_at(1) == Some('\n') => {
                self.pos += 2;
                self.line += 1;
            }
            _ => {}
        }
    }
    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }
    fn skip_to_line_end(&mut self) {
        while !self.at_line_end() {
            self.pos += 1;
        }
    }
    fn err(&self, line: usize, message: String) -> BaselineError {
        BaselineError::Syntax {
            file: self.source.to_string(),
            line,
            message,
        }
    }
    /// The rest of the current line, shortened, for messages.
    fn rest_of_line(&self) -> String {
        let mut s = String::new();
        let mut i = self.pos;
        while let Some(&c) = self.chars.get(i) {
            if c == '\n' || c == '\r' {
                break;
            }
            if s.chars().count() >= 40 {
                s.push('…');
                break;
            }
            s.push(if c == '\0' { '␀' } else { c });
            i += 1;
        }
        s
    }

    /// Reads one line (or, with a quoted multi-line value, several).
    fn statement(&mut self) -> Result<Option<(String, String, usize)>, BaselineError> {
        let line = self.line;
        self.skip_blanks();
        if self.at_line_end() {
            self.eat_line_end();
            return Ok(None);
        }
        if self.peek() == Some('#') {
            self.skip_to_line_end();
            self.eat_line_end();
            return Ok(None);
        }
        // `export KEY=VALUE` (or a bare `export KEY`, which sets nothing).
        let exported = self.starts_with_word("export");
        if exported {
            self.pos += "export".len();
            self.skip_blanks();
        }
        if !self.peek().is_some_and(is_key_start) {
            let found = self.rest_of_line();
            return Err(self.err(line, format!("expected KEY=VALUE but found {found:?}")));
        }
        let start = self.pos;
        while self.peek().is_some_and(is_key_char) {
            self.pos += 1;
        }
        let key: String = self.chars[start..self.pos].iter().collect();
        match self.peek() {
            Some('=') => self.pos += 1,
            _ if exported && self.rest_is_blank_or_comment() => {
                self.skip_to_line_end();
                self.eat_line_end();
                return Ok(None);
            }
            Some(c) if is_blank(c) => {
                self.skip_blanks();
                if self.peek() == Some('=') {
                    return Err(self.err(
                        line,
                        format!("spaces around '=' are not allowed in the assignment of {key}"),
                    ));
                }
                return Err(self.err(line, format!("expected '=' after {key}")));
            }
            _ => {
                let found = self.rest_of_line();
                let message = if found.is_empty() {
                    format!("{key} has no '=' (expected KEY=VALUE)")
                } else {
                    format!("expected '=' after {key} but found {found:?}")
                };
                return Err(self.err(line, message));
            }
        }
        let value = self.value(&key, line)?;
        // After the value: blanks, then an optional comment, then line end.
        self.skip_blanks();
        if self.peek() == Some('#') {
            self.skip_to_line_end();
        }
        if !self.at_line_end() {
            let found = self.rest_of_line();
            return Err(self.err(
                self.line,
                format!("unexpected {found:?} after the value of {key} (quote values that contain spaces)"),
            ));
        }
        self.eat_line_end();
        Ok(Some((key, value, line)))
    }

    fn starts_with_word(&self, word: &str) -> bool {
        let n = word.chars().count();
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
            && self.peek_at(n).is_some_and(is_blank)
    }

    fn rest_is_blank_or_comment(&self) -> bool {
        let mut i = self.pos;
        while let Some(&c) = self.chars.get(i) {
            if is_blank(c) {
                i += 1;
            } else {
                return c == '#'
                    || c == '\n'
                    || (c == '\r' && self.chars.get(i + 1) == Some(&'\n'));
            }
        }
        true
    }

    /// Reads a shell word: unquoted runs, '…' and "…" segments, concatenated.
    fn value(&mut self, key: &str, line: usize) -> Result<String, BaselineError> {
        let mut out = String::new();
        loop {
            if self.at_line_end() {
                return Ok(out);
            }
            let Some(c) = self.peek() else {
                return Ok(out);
            };
            match c {
                ' ' | '\t' => return Ok(out),
                '\0' => {
                    return Err(self.err(self.line, format!("NUL byte in the value of {key}")));
                }
                '\'' => {
                    let open_line = self.line;
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(self.err(
                                    open_line,
                                    format!("unterminated single quote in {key}"),
                                ));
                            }
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\0') => {
                                return Err(
                                    self.err(self.line, format!("NUL byte in the value of {key}"))
                                );
                            }
                            Some(ch) => {
                                if ch == '\n' {
                                    self.line += 1;
                                }
                                out.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '"' => {
                    let open_line = self.line;
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(self.err(
                                    open_line,
                                    format!("unterminated double quote in {key}"),
                                ));
                            }
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\0') => {
                                return Err(
                                    self.err(self.line, format!("NUL byte in the value of {key}"))
                                );
                            }
                            Some('\\') => match self.peek_at(1) {
                                Some(n @ ('"' | '\\' | '$' | '`')) => {
                                    out.push(n);
                                    self.pos += 2;
                                }
                                Some('\n') => {
                                    // Line continuation: both characters vanish.
                                    self.pos += 2;
                                    self.line += 1;
                                }
                                _ => {
                                    out.push('\\');
                                    self.pos += 1;
                                }
                            },
                            Some('$') if self.expansion_follows() => {
                                return Err(self.expansion_error(key, line));
                            }
                            Some('`') => return Err(self.expansion_error(key, line)),
                            Some(ch) => {
                                if ch == '\n' {
                                    self.line += 1;
                                }
                                out.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '\\' => match self.peek_at(1) {
                    None => {
                        return Err(self.err(
                            self.line,
                            format!("the value of {key} ends with a lone backslash"),
                        ));
                    }
                    Some('\n') => {
                        return Err(self.err(
                            self.line,
                            format!("line continuation in the value of {key} is not supported"),
                        ));
                    }
                    Some('\0') => {
                        return Err(self.err(self.line, format!("NUL byte in the value of {key}")));
                    }
                    Some(n) => {
                        out.push(n);
                        self.pos += 2;
                    }
                },
                '$' if self.expansion_follows() => return Err(self.expansion_error(key, line)),
                '`' => return Err(self.expansion_error(key, line)),
                ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                    return Err(self.err(
                        self.line,
                        format!("unquoted '{c}' in the value of {key} (quote the value)"),
                    ));
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `$` followed by something the shell would expand.
    fn expansion_follows(&self) -> bool {
        self.peek_at(1).is_some_and(|n| {
            n == '{' || n == '(' || is_key_start(n) || n.is_ascii_digit() || "@*#?$!-".contains(n)
        })
    }

    fn expansion_error(&self, key: &str, line: usize) -> BaselineError {
        self.err(
            line.max(self.line),
            format!(
                "the value of {key} uses shell expansion, which guardrail does not evaluate (write the value literally or in single quotes)"
            ),
        )
    }
}

/// Whether a value can be written without quotes.
pub(super) fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,+@%=".contains(c))
        && !value.starts_with('#')
}

/// Shell-quotes a value the way [`parse`] reads it back.
pub fn quote_value(value: &str) -> String {
    if value.is_empty() || is_plain(value) {
        return value.to_string();
    }
    let mut s = String::from("'");
    for c in value.chars() {
        if c == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}
