//! Splits expression text into tokens. Token boundaries, which characters make a legal name, and
//! when a `.` starts a number rather than a dereference all follow GitHub's lexer, so that the
//! same text fails the same way (the conformance vectors check the exact messages).

use crate::ParseError;
use crate::number;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    LeftParen,
    RightParen,
    LeftBracket,
    RightBracket,
    Comma,
    Dot,
    Bang,
    BangEqual,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    And,
    Or,
    Star,
    Number(f64),
    String(String),
    Identifier,
    True,
    False,
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// The text as written (quotes included for strings); error messages quote it.
    pub lexeme: String,
    /// 1-based, in UTF-16 code units.
    pub position: usize,
}

/// `Unexpected symbol: 'x'. Located at position N within expression: …`
pub(crate) fn unexpected_symbol(lexeme: &str, position: usize, source: &str) -> ParseError {
    located("Unexpected symbol", lexeme, position, source)
}

/// `<what>: '<lexeme>'. Located at position N within expression: <source>`, GitHub's shape for
/// every error tied to a token.
pub(crate) fn located(what: &str, lexeme: &str, position: usize, source: &str) -> ParseError {
    ParseError {
        message: format!("{what}: '{lexeme}'. Located at position {position} within expression: {source}"),
        position,
    }
}

pub(crate) fn lex(source: &str) -> Result<Vec<Token>, ParseError> {
    Lexer::new(source).run()
}

struct Lexer<'a> {
    source: &'a str,
    chars: Vec<char>,
    /// UTF-16 offset of each char, plus one entry for the end.
    offsets: Vec<usize>,
    start: usize,
    current: usize,
    tokens: Vec<Token>,
}

impl<'a> Lexer<'a> {
    fn new(source: &'a str) -> Self {
        let chars: Vec<char> = source.chars().collect();
        let mut offsets = Vec::with_capacity(chars.len() + 1);
        let mut offset = 0;
        for c in &chars {
            offsets.push(offset);
            offset += c.len_utf16();
        }
        offsets.push(offset);
        Lexer { source, chars, offsets, start: 0, current: 0, tokens: Vec::new() }
    }

    fn run(mut self) -> Result<Vec<Token>, ParseError> {
        while let Some(c) = self.chars.get(self.current).copied() {
            self.start = self.current;
            self.current += 1;
            match c {
                '(' => self.add(TokenKind::LeftParen),
                ')' => self.add(TokenKind::RightParen),
                '[' => self.add(TokenKind::LeftBracket),
                ']' => self.add(TokenKind::RightBracket),
                ',' => self.add(TokenKind::Comma),
                '*' => self.add(TokenKind::Star),
                // After something that can be dereferenced a dot is a dereference; anywhere
                // else it starts a number such as `.5`.
                '.' => match self.tokens.last().map(|t| &t.kind) {
                    Some(TokenKind::Identifier | TokenKind::RightBracket | TokenKind::RightParen | TokenKind::Star) => {
                        self.add(TokenKind::Dot)
                    }
                    _ => self.number()?,
                },
                '-' | '+' => self.number()?,
                '!' => {
                    let kind = if self.eat('=') { TokenKind::BangEqual } else { TokenKind::Bang };
                    self.add(kind);
                }
                '<' => {
                    let kind = if self.eat('=') { TokenKind::LessEqual } else { TokenKind::Less };
                    self.add(kind);
                }
                '>' => {
                    let kind = if self.eat('=') { TokenKind::GreaterEqual } else { TokenKind::Greater };
                    self.add(kind);
                }
                // A lone `=`, `&` or `|` is read up to the next boundary and reported whole.
                '=' if self.eat('=') => self.add(TokenKind::EqualEqual),
                '&' if self.eat('&') => self.add(TokenKind::And),
                '|' if self.eat('|') => self.add(TokenKind::Or),
                ' ' | '\t' | '\r' | '\n' => {}
                '\'' => self.string()?,
                c if c.is_ascii_digit() => self.number()?,
                _ => self.word()?,
            }
        }
        Ok(self.tokens)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.chars.get(self.current) == Some(&expected) {
            self.current += 1;
            true
        } else {
            false
        }
    }

    fn lexeme(&self) -> String {
        self.chars[self.start..self.current].iter().collect()
    }

    fn position(&self) -> usize {
        self.offsets[self.start] + 1
    }

    fn add(&mut self, kind: TokenKind) {
        let token = Token { kind, lexeme: self.lexeme(), position: self.position() };
        self.tokens.push(token);
    }

    fn error(&self, lexeme: &str) -> ParseError {
        unexpected_symbol(lexeme, self.position(), self.source)
    }

    fn number(&mut self) -> Result<(), ParseError> {
        while let Some(&c) = self.chars.get(self.current) {
            if is_boundary(c) && c != '.' {
                break;
            }
            self.current += 1;
        }
        let lexeme = self.lexeme();
        let value = number::parse(&lexeme);
        if value.is_nan() {
            return Err(self.error(&lexeme));
        }
        self.add(TokenKind::Number(value));
        Ok(())
    }

    /// A `'…'` literal; `''` inside stands for one quote.
    fn string(&mut self) -> Result<(), ParseError> {
        let mut value = String::new();
        loop {
            match self.chars.get(self.current) {
                None => {
                    let rest: String = self.chars[self.start..].iter().collect();
                    return Err(self.error(&rest));
                }
                Some('\'') if self.chars.get(self.current + 1) == Some(&'\'') => {
                    value.push('\'');
                    self.current += 2;
                }
                Some('\'') => {
                    self.current += 1;
                    break;
                }
                Some(&c) => {
                    value.push(c);
                    self.current += 1;
                }
            }
        }
        self.add(TokenKind::String(value));
        Ok(())
    }

    /// A name, a keyword, or (for anything else up to the next boundary) an error.
    fn word(&mut self) -> Result<(), ParseError> {
        while let Some(&c) = self.chars.get(self.current) {
            if is_boundary(c) {
                break;
            }
            self.current += 1;
        }
        let lexeme = self.lexeme();
        let after_dot = matches!(self.tokens.last(), Some(Token { kind: TokenKind::Dot, .. }));
        // Keywords are case-sensitive, and after a dot they are plain property names.
        let kind = match lexeme.as_str() {
            _ if after_dot => TokenKind::Identifier,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "null" => TokenKind::Null,
            "NaN" => TokenKind::Number(f64::NAN),
            "Infinity" => TokenKind::Number(f64::INFINITY),
            _ => TokenKind::Identifier,
        };
        if !is_legal_name(&lexeme) {
            return Err(self.error(&lexeme));
        }
        self.add(kind);
        Ok(())
    }
}

fn is_boundary(c: char) -> bool {
    matches!(c, '(' | '[' | ')' | ']' | ',' | '.' | '!' | '>' | '<' | '=' | '&' | '|') || number::is_js_whitespace(c)
}

fn is_legal_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    }
}
