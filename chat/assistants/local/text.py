"""Tokens of one message: words and punctuation with their place in the text, quoted passages kept whole.

The interpreter reads words (lowercased, typos mended elsewhere) to decide what is asked, but takes
titles, keys and values from the text itself by position, so case, spaces and symbols survive.
"""

import re
from dataclasses import dataclass

# Opening quote -> the closing quotes that end it. Typographic and ASCII quotes are mixed freely.
_CLOSERS = {'"': '"”', "“": '”"', "”": '”"', "‘": "’'", "'": "'’", "`": "`"}
# A word: letters and digits, with inner hyphens, dots and apostrophes ("my-shop", "acme's", "it's").
_WORD = re.compile(r"\w+(?:['’.\-]\w+)*")
# An apostrophe quote opens only where a word cannot be going on ("acme's" is no quote).
_OPEN_AFTER = " \t\n([{:=,;"
_CLOSE_BEFORE = " \t\n)]}.,;:!?"
# "what's", "it's": a contraction, not someone's possession.
_CONTRACTED = frozenset(
    {"what", "it", "that", "there", "here", "who", "how", "let", "he", "she", "where", "when", "why", "everything"}
)
NAME_SHAPE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
KEY_SHAPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Token:
    text: str  # as written (a quoted passage: what is inside the quotes)
    low: str  # lowercased, typographic apostrophes made plain
    start: int  # where it begins and ends in the message (a quoted passage: with its quotes)
    end: int
    quoted: bool = False
    possessive: bool = False  # "acme's" is read as "acme", owning what follows
    canon: str = ""  # the vocabulary word it stands for, typos mended ("" for none)

    @property
    def word(self) -> bool:
        return self.quoted or bool(_WORD.fullmatch(self.text))


def _closing(text: str, opener: int) -> int:
    """Where the quote opened at `opener` closes, or -1."""
    quote = text[opener]
    for index in range(opener + 1, len(text)):
        if text[index] not in _CLOSERS[quote]:
            continue
        if quote in "'‘" and index + 1 < len(text) and text[index + 1] not in _CLOSE_BEFORE:
            continue  # "'Rock 'n' Roll'": an apostrophe inside, not the end
        return index
    return -1


def _opens(text: str, index: int) -> bool:
    if text[index] not in _CLOSERS:
        return False
    return not (text[index] in "'’" and index > 0 and text[index - 1] not in _OPEN_AFTER)


def _words(text: str, offset: int) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        found = _WORD.match(text, position)
        if found:
            tokens.append(_word(found.group(), offset + position))
            position = found.end()
        else:
            tokens.append(Token(text[position], text[position], offset + position, offset + position + 1))
            position += 1
    return tokens


def _word(raw: str, start: int) -> Token:
    low = raw.lower().replace("’", "'")
    if low.endswith("'s") and len(low) > 2 and low[:-2] not in _CONTRACTED:
        return Token(raw[:-2], low[:-2], start, start + len(raw), possessive=True)
    return Token(raw, low, start, start + len(raw))


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    plain_from = 0
    index = 0
    while index < len(text):
        if _opens(text, index):
            close = _closing(text, index)
            if close > index:
                tokens += _words(text[plain_from:index], plain_from)
                inner = text[index + 1 : close]
                tokens.append(Token(inner, inner.lower(), index, close + 1, quoted=True))
                index = plain_from = close + 1
                continue
        index += 1
    tokens += _words(text[plain_from:], plain_from)
    return tokens


def name_of(token: Token) -> str | None:
    """The token as a site or tenant name (lowercased), if it has the shape of one."""
    name = token.low.strip() if token.quoted else token.low
    if NAME_SHAPE.match(name) and any(char.isalpha() for char in name):
        return name
    return None


def key_shaped(token: Token) -> bool:
    return bool(KEY_SHAPE.match(token.text))


def shouting(text: str) -> bool:
    """Mostly capitals: then capitals say nothing (an env var name is not told apart by them)."""
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and sum(char.isupper() for char in letters) / len(letters) > 0.7
