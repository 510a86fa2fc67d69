"""Parser for the ``mstore find`` query language: tokens -> a small immutable AST.

Grammar (OR binds looser than the implicit AND; ``AND`` may also be written)::

    query   := [or_expr]
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*
    unary   := "-" unary | "(" or_expr ")" | term

Groups nest at most :data:`MAX_DEPTH` deep, so neither this recursive-descent parser
nor the evaluator that walks the tree can run out of stack; a deeper query is a
QueryError at the group that goes past the limit. A run of ``-`` is read in a loop.

Nodes are frozen structs (msgspec) so they can be compared in tests and used as
cache keys by the evaluator.
"""

from __future__ import annotations

import msgspec

from mstore.errors import QueryError
from mstore.query.lexer import AND, LPAREN, NOT, OR, RPAREN, WORD, Token, tokenize

# Term.key of a free word (the lexer never produces an empty key for a key:value term)
FREE = ""
# parentheses nested deeper than this are refused (each level costs a few stack frames
# here and in the evaluator; no hand-written query comes near it)
MAX_DEPTH = 100


def nfc(text: str) -> str:
    """``text`` in Unicode's composed form (NFC): "é" typed as one character or as "e" and
    an accent is the same value (macOS composes nothing, most keyboards everything).
    Path terms go further and drop accents (query/table.py ``fold_accents``)."""
    if text.isascii():
        return text
    import unicodedata  # only for text that is not ASCII

    return unicodedata.normalize("NFC", text)


class Term(msgspec.Struct, frozen=True):
    """``key:value`` (``key`` lowercased) or a free word (``key == FREE``).

    ``value`` has its quotes removed but keeps its case, in Unicode's composed form
    (``nfc``); ``pos``/``text`` locate the term in the query for error messages.
    """

    key: str
    value: str
    pos: int
    text: str


class Not(msgspec.Struct, frozen=True):
    item: Node


class And(msgspec.Struct, frozen=True):
    """All of ``items``; ``And(())`` is the empty query and matches everything."""

    items: tuple[Node, ...]


class Or(msgspec.Struct, frozen=True):
    items: tuple[Node, ...]


Node = Term | Not | And | Or


class _Parser:
    def __init__(self, query: str, tokens: list[Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.i = 0
        self.depth = 0  # groups open at the current token

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def error(self, message: str, tok: Token) -> QueryError:
        return QueryError(message, self.query, tok.pos, tok.text)

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.type == OR:
            self.i += 1
            if not self._starts_term(self.peek()):
                raise self.error("OR needs a term on both sides", tok)
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(_flatten(Or, items)))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while (tok := self.peek()) is not None and tok.type != OR and tok.type != RPAREN:
            if tok.type == AND:
                self.i += 1
                if not self._starts_term(self.peek()):
                    raise self.error("AND needs a term on both sides", tok)
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(_flatten(And, items)))

    def unary(self) -> Node:
        tok = self.tokens[self.i]  # callers check _starts_term first
        negations = 0
        while tok.type == NOT:  # a loop, not recursion: "------a" must not exhaust the stack
            self.i += 1
            if not self._starts_term(self.peek()):
                raise self.error("'-' must be followed by a term or a (group)", tok)
            negations += 1
            tok = self.tokens[self.i]
        item = self.group(tok) if tok.type == LPAREN else self.term(tok)
        # --a is a; keeps the tree canonical
        if negations % 2 == 0:
            return item
        return item.item if isinstance(item, Not) else Not(item)

    def group(self, tok: Token) -> Node:
        if self.depth >= MAX_DEPTH:
            raise self.error(f"parentheses nested more than {MAX_DEPTH} deep", tok)
        self.i += 1
        nxt = self.peek()
        if nxt is None:
            raise self.error("unclosed '(': add a ')'", tok)
        if nxt.type == RPAREN:
            raise QueryError(
                "empty parentheses", self.query, tok.pos, self.query[tok.pos : nxt.pos + 1]
            )
        if not self._starts_term(nxt):
            raise self.error(f"'{nxt.text}' cannot start a group", nxt)
        self.depth += 1
        node = self.or_expr()
        self.depth -= 1
        close = self.peek()
        if close is None or close.type != RPAREN:
            raise self.error("unclosed '(': add a ')'", tok)
        self.i += 1
        return node

    def term(self, tok: Token) -> Node:
        # callers check _starts_term first, so this is a WORD
        self.i += 1
        return Term(tok.key, nfc(tok.value), tok.pos, tok.text)

    @staticmethod
    def _starts_term(tok: Token | None) -> bool:
        return tok is not None and tok.type in (WORD, NOT, LPAREN)


def _flatten(cls: type[And] | type[Or], items: list[Node]) -> list[Node]:
    """(a b) c -> a b c: nested groups of the same operator add nothing."""
    out: list[Node] = []
    for item in items:
        if isinstance(item, cls):
            out.extend(item.items)
        else:
            out.append(item)
    return out


def parse(query: str) -> Node:
    """Parse ``query`` into an AST; raise QueryError pointing at the bad token."""
    tokens = tokenize(query)
    if not tokens:
        return And(())
    p = _Parser(query, tokens)
    first = tokens[0]
    if not p._starts_term(first):
        if first.type == RPAREN:
            raise p.error("unmatched ')'", first)
        raise p.error(f"{first.text} needs a term on both sides", first)
    node = p.or_expr()
    rest = p.peek()
    if rest is not None:  # only a stray ')' can stop or_expr early
        raise p.error("unmatched ')'", rest)
    return node
