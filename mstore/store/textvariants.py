"""Other ways to write what a ``text:`` value asks for: British and American spellings of
one word (harbour / harbor, centre / center) and a compound written as one word or two
(sandcastle / sand castle) — transcripts especially write what the speech model learnt,
not what the person who searches would type.

A value's *alternatives* are term sequences (each as the index holds its words: analysed
by ``analyze``); a document matches the value when it holds any of them as a phrase.
Spelling variants come from the word list below, not from rules (``-our`` -> ``-or`` would
make "your" of "yor" and "four" of "for"). A word of eight letters or more may also be two
words of at least four letters each ("therapist" never becomes "the rapist"); two words may
also be one. The prefix word of a ``text:harb*`` value has no alternatives.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

# (British, American); both directions are used
SPELLINGS = (
    ("colour", "color"), ("favour", "favor"), ("favourite", "favorite"), ("flavour", "flavor"),
    ("harbour", "harbor"), ("honour", "honor"), ("humour", "humor"), ("labour", "labor"),
    ("neighbour", "neighbor"), ("neighbourhood", "neighborhood"), ("rumour", "rumor"),
    ("behaviour", "behavior"), ("armour", "armor"), ("odour", "odor"), ("vapour", "vapor"),
    ("parlour", "parlor"), ("saviour", "savior"), ("splendour", "splendor"),
    ("centre", "center"), ("theatre", "theater"), ("metre", "meter"), ("litre", "liter"),
    ("fibre", "fiber"), ("kilometre", "kilometer"), ("catalogue", "catalog"),
    ("dialogue", "dialog"), ("analogue", "analog"), ("grey", "gray"), ("tyre", "tire"),
    ("aluminium", "aluminum"), ("jewellery", "jewelry"), ("pyjamas", "pajamas"),
    ("plough", "plow"), ("moustache", "mustache"), ("cosy", "cozy"), ("defence", "defense"),
    ("licence", "license"), ("offence", "offense"), ("programme", "program"),
    ("organise", "organize"), ("organisation", "organization"), ("realise", "realize"),
    ("recognise", "recognize"), ("apologise", "apologize"), ("analyse", "analyze"),
    ("travelling", "traveling"), ("travelled", "traveled"), ("cancelled", "canceled"),
    ("judgement", "judgment"), ("ageing", "aging"), ("sceptical", "skeptical"),
    ("mum", "mom"),
)
MAX_ALTERNATIVES = 32  # a long value with many variants: the first ones are enough
SPLIT_MIN = 4  # letters of each part of a compound split in two
_spellings: dict[str, list[str]] | None = None  # analysed term -> its other spellings


def _spelling_map(analyze: Callable[[str], list[str]]) -> dict[str, list[str]]:
    global _spellings
    if _spellings is None:
        out: dict[str, list[str]] = {}
        for a, b in SPELLINGS:
            (ta,), (tb,) = analyze(a), analyze(b)
            if ta != tb:
                out.setdefault(ta, []).append(tb)
                out.setdefault(tb, []).append(ta)
        _spellings = out
    return _spellings


def alternatives(words: tuple[str, ...], prefix: bool,
                 analyze: Callable[[str], list[str]],
                 fold: Callable[[str], list[str]]) -> list[list[str]]:
    """The term sequences a value of ``words`` matches, the value's own first. ``analyze``
    gives a word's terms as the index holds them; ``fold`` a prefix's."""
    head = words[:-1] if prefix else words
    tail = fold(words[-1]) if prefix and words else []
    spellings = _spelling_map(analyze)
    per_word = [analyze(w) for w in head]
    options: list[list[list[str]]] = []  # per word: the term sequences it may stand for
    for w, terms in zip(head, per_word, strict=True):
        opts = [terms]
        if len(terms) == 1:
            opts += [[v] for v in spellings.get(terms[0], [])] + _splits(w, analyze)
        options.append(opts)
    out: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def add(seq: list[str]) -> None:
        if seq and tuple(seq) not in seen:
            seen.add(tuple(seq))
            out.append(seq)

    for combo in product(*options):  # the first combination is the value itself
        add([t for part in combo for t in part] + tail)
        if len(out) >= MAX_ALTERNATIVES:
            return out
    if all(len(t) == 1 for t in per_word):  # two words written as one
        flat = [t[0] for t in per_word]
        for i in range(len(head) - 1):
            joined = analyze(head[i] + head[i + 1])
            if len(joined) == 1:
                add(flat[:i] + joined + flat[i + 2:] + tail)
    return out[:MAX_ALTERNATIVES]


def _splits(word: str, analyze: Callable[[str], list[str]]) -> list[list[str]]:
    """``word`` as two words of SPLIT_MIN letters or more ("sandcastle": "sand castle",
    "sandc astle", ...; only real pairs ever match a document). At most MAX_ALTERNATIVES
    of them, the shortest first parts first: a value keeps no more alternatives than that,
    and trying every split of a pasted run of letters (tens of thousands) would analyse
    it once per letter: minutes for one search."""
    if len(word) < 2 * SPLIT_MIN or not word.isalpha():
        return []
    out: list[list[str]] = []
    for i in range(SPLIT_MIN, len(word) - SPLIT_MIN + 1):
        a, b = analyze(word[:i]), analyze(word[i:])
        if len(a) == 1 and len(b) == 1:
            out.append(a + b)
            if len(out) == MAX_ALTERNATIVES:
                break
    return out
