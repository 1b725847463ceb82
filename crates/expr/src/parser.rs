//! Recursive descent over the tokens, with GitHub's precedence (loosest first): `||`, `&&`,
//! `==` `!=`, `<` `<=` `>` `>=`, `!`, then indexing and calls. Every construct that nests counts
//! towards `MAX_EXPRESSION_DEPTH` before it recurses, which is what bounds the recursion here
//! and in every later walk over the tree.

use crate::ast::{CompareOp, Index, LogicalOp, Node};
use crate::functions::Function;
use crate::lexer::{self, Token, TokenKind};
use crate::{MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_LENGTH, ParseError, ParseOptions};

pub(crate) fn parse(source: &str, options: &ParseOptions) -> Result<Option<Node>, ParseError> {
    if source.encode_utf16().count() > MAX_EXPRESSION_LENGTH {
        return Err(ParseError {
            message: format!("Exceeded max expression length {MAX_EXPRESSION_LENGTH}"),
            position: 0,
        });
    }
    let tokens = lexer::lex(source)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser { source, options, tokens, next: 0, depth: 0 };
    let root = parser.expression()?;
    match parser.peek() {
        Some(token) => Err(lexer::unexpected_symbol(&token.lexeme, token.position, source)),
        None => Ok(Some(root)),
    }
}

struct Parser<'a> {
    source: &'a str,
    options: &'a ParseOptions,
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

/// One grammar rule, as a parameter of the rules that chain operands.
type Rule<'a> = fn(&mut Parser<'a>) -> Result<Node, ParseError>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn check(&self, kind: &TokenKind) -> bool {
        self.peek().is_some_and(|t| t.kind == *kind)
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = self.check(kind);
        if found {
            self.next += 1;
        }
        found
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    /// The error for whatever comes next: that token, or the end after the last one.
    fn unexpected(&self) -> ParseError {
        match self.peek() {
            Some(token) => lexer::unexpected_symbol(&token.lexeme, token.position, self.source),
            None => self.unexpected_end(),
        }
    }

    fn unexpected_end(&self) -> ParseError {
        let last = self.next.checked_sub(1).and_then(|i| self.tokens.get(i));
        let (lexeme, position) = last.map_or(("", 0), |t| (t.lexeme.as_str(), t.position));
        lexer::located("Unexpected end of expression", lexeme, position, self.source)
    }

    fn expect(&mut self, kind: &TokenKind) -> Result<(), ParseError> {
        if self.eat(kind) { Ok(()) } else { Err(self.unexpected()) }
    }

    /// Enter one more level of nesting; the caller restores `depth` when it is done.
    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return Err(ParseError {
                message: format!("Exceeded max expression depth {MAX_EXPRESSION_DEPTH}"),
                position: 0,
            });
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<Node, ParseError> {
        let depth = self.depth;
        self.deeper()?;
        let node = self.logical(LogicalOp::Or)?;
        self.depth = depth;
        Ok(node)
    }

    /// `||` binds looser than `&&`, which binds looser than the comparisons.
    fn logical(&mut self, op: LogicalOp) -> Result<Node, ParseError> {
        let (token, operand): (TokenKind, Rule<'a>) = match op {
            LogicalOp::Or => (TokenKind::Or, |p| p.logical(LogicalOp::And)),
            LogicalOp::And => (TokenKind::And, Self::equality),
        };
        let first = operand(self)?;
        if !self.check(&token) {
            return Ok(first);
        }
        let depth = self.depth;
        self.deeper()?;
        let mut operands = vec![first];
        while self.eat(&token) {
            operands.push(operand(self)?);
        }
        self.depth = depth;
        Ok(Node::Logical { op, operands })
    }

    fn equality(&mut self) -> Result<Node, ParseError> {
        self.comparisons(Self::relational, |kind| match kind {
            TokenKind::EqualEqual => Some(CompareOp::Equal),
            TokenKind::BangEqual => Some(CompareOp::NotEqual),
            _ => None,
        })
    }

    fn relational(&mut self) -> Result<Node, ParseError> {
        self.comparisons(Self::unary, |kind| match kind {
            TokenKind::Less => Some(CompareOp::Less),
            TokenKind::LessEqual => Some(CompareOp::LessEqual),
            TokenKind::Greater => Some(CompareOp::Greater),
            TokenKind::GreaterEqual => Some(CompareOp::GreaterEqual),
            _ => None,
        })
    }

    /// A left-associative chain of comparisons. Each link nests the tree one level deeper, so
    /// each counts towards the depth limit (a chain of thousands would otherwise make a tree
    /// too deep to walk).
    fn comparisons(
        &mut self,
        operand: Rule<'a>,
        operator: fn(&TokenKind) -> Option<CompareOp>,
    ) -> Result<Node, ParseError> {
        let depth = self.depth;
        let mut left = operand(self)?;
        while let Some(op) = self.peek().and_then(|t| operator(&t.kind)) {
            self.next += 1;
            self.deeper()?;
            let right = operand(self)?;
            left = Node::Compare { op, left: Box::new(left), right: Box::new(right) };
        }
        self.depth = depth;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if !self.eat(&TokenKind::Bang) {
            return self.postfix();
        }
        let depth = self.depth;
        self.deeper()?;
        let inner = self.unary()?;
        self.depth = depth;
        Ok(Node::Not(Box::new(inner)))
    }

    /// Indexing and dereferencing, allowed after a named context, a call or a group (not after
    /// a literal).
    fn postfix(&mut self) -> Result<Node, ParseError> {
        let (mut node, indexable) = self.primary()?;
        if !indexable {
            return Ok(node);
        }
        let depth = self.depth;
        loop {
            let index = if self.eat(&TokenKind::LeftBracket) {
                let index =
                    if self.eat(&TokenKind::Star) { Index::Star } else { Index::Value(Box::new(self.expression()?)) };
                self.expect(&TokenKind::RightBracket)?;
                self.deeper()?;
                index
            } else if self.eat(&TokenKind::Dot) {
                self.deeper()?;
                match self.advance() {
                    Some(Token { kind: TokenKind::Identifier, lexeme, .. }) => {
                        Index::Value(Box::new(Node::String(lexeme)))
                    }
                    Some(Token { kind: TokenKind::Star, .. }) => Index::Star,
                    Some(_) => {
                        self.next -= 1;
                        return Err(self.unexpected());
                    }
                    None => return Err(self.unexpected_end()),
                }
            } else {
                break;
            };
            node = Node::Index { target: Box::new(node), index };
        }
        self.depth = depth;
        Ok(node)
    }

    /// A literal, a group, a named context or a call; the flag says whether it may be indexed.
    fn primary(&mut self) -> Result<(Node, bool), ParseError> {
        let Some(token) = self.advance() else {
            return Err(self.unexpected_end());
        };
        let node = match token.kind {
            TokenKind::Null => Node::Null,
            TokenKind::True => Node::Bool(true),
            TokenKind::False => Node::Bool(false),
            TokenKind::Number(n) => Node::Number(n),
            TokenKind::String(s) => Node::String(s),
            TokenKind::LeftParen => {
                let inner = self.expression()?;
                self.expect(&TokenKind::RightParen)?;
                return Ok((inner, true));
            }
            TokenKind::Identifier if self.eat(&TokenKind::LeftParen) => {
                return Ok((self.call(token)?, true));
            }
            TokenKind::Identifier => return Ok((self.named(token)?, true)),
            _ => {
                self.next -= 1;
                return Err(self.unexpected());
            }
        };
        Ok((node, false))
    }

    fn named(&self, token: Token) -> Result<Node, ParseError> {
        if let Some(known) = &self.options.named_values
            && !known.iter().any(|k| k.eq_ignore_ascii_case(&token.lexeme))
        {
            return Err(lexer::located("Unrecognized named-value", &token.lexeme, token.position, self.source));
        }
        Ok(Node::Named { name: token.lexeme, position: token.position })
    }

    /// The arguments of a call whose name and `(` have been read.
    fn call(&mut self, name: Token) -> Result<Node, ParseError> {
        let located = |what: &str| lexer::located(what, &name.lexeme, name.position, self.source);
        let Some(function) = Function::lookup(&name.lexeme) else {
            return Err(located("Unrecognized function"));
        };
        let mut args = Vec::new();
        if !self.eat(&TokenKind::RightParen) {
            loop {
                args.push(self.expression()?);
                if self.eat(&TokenKind::RightParen) {
                    break;
                }
                self.expect(&TokenKind::Comma)?;
            }
        }
        let located = |what: &str| lexer::located(what, &name.lexeme, name.position, self.source);
        let (min, max) = function.arity();
        if args.len() < min {
            return Err(located("Too few parameters supplied"));
        }
        if args.len() > max {
            return Err(located("Too many parameters supplied"));
        }
        if function == Function::Case && args.len() % 2 == 0 {
            return Err(located("Even number of parameters supplied, requires an odd number of parameters"));
        }
        Ok(Node::Call { function, args })
    }
}
