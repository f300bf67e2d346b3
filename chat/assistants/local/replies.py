"""Yes or no, when the assistant waits for a confirmation: how a reply begins, and what follows it."""

import re

from rapidfuzz import process
from rapidfuzz.distance import OSA

YES = (
    "yes", "y", "yeah", "yea", "yep", "yup", "ya", "sure", "ok", "okay", "k", "alright", "all right", "fine",
    "go ahead", "go for it", "go on", "do it", "just do it", "confirm", "confirmed", "i confirm", "proceed",
    "please do", "please proceed", "yes please", "absolutely", "of course", "definitely", "affirmative",
    "correct", "that's right", "sounds good", "approved", "agreed", "let's do it", "let's go", "i'm sure",
    "i am sure", "sure thing", "why not", "certainly", "indeed",
)  # fmt: skip
NO = (
    "no", "n", "nope", "nah", "cancel", "cancel it", "cancel that", "stop", "don't", "dont", "do not",
    "never mind", "nevermind", "nvm", "abort", "forget it", "forget about it", "no thanks", "no thank you",
    "not now", "negative", "leave it", "skip it", "skip", "don't do it", "do not do it", "no way", "not really",
    "hold off", "scratch that",
)  # fmt: skip
# After the reply, these turn it around or hedge it: the reply is then no plain yes or no.
_HEDGES = frozenset({"but", "instead", "actually", "rather", "wait", "unless", "except", "although"})
_NEGATIONS = frozenset({"not", "don't", "dont", "never"})
_FILLERS = frozenset({"oh", "um", "uh", "hmm", "well", "erm", "and", "so"})
_WORDS = re.compile(r"[\w']+")
_SINGLE = sorted({phrase for phrase in YES + NO if " " not in phrase and len(phrase) >= 3})


def words_of(text: str) -> list[str]:
    return _WORDS.findall(text.lower().replace("’", "'"))


def _mend(word: str) -> str:
    """ "yess", "nooo", "cancle", "yse": the reply word meant, or the word itself."""
    squeezed = re.sub(r"(.)\1+", r"\1", word)
    if squeezed in YES or squeezed in NO:
        return squeezed
    if len(word) < 3:
        return word
    found = process.extractOne(word, _SINGLE, scorer=OSA.distance, score_cutoff=1)
    if found is None:
        return word
    target = str(found[0])
    # Short words: only swapped letters ("yse"); one changed letter makes another word ("yet", "not").
    if len(word) <= 4 and sorted(target) != sorted(word):
        return word
    return target


def leading(text: str) -> tuple[str, list[str]] | None:
    """("yes" or "no", the words after the reply) when the text begins with one, else None."""
    words = [_mend(word) for word in words_of(text)]
    while words and words[0] in _FILLERS:
        words = words[1:]
    for size in (4, 3, 2, 1):
        head = " ".join(words[:size])
        if len(words) >= size and (head in YES or head in NO):
            return ("yes" if head in YES else "no"), words[size:]
    return None


def hedged(kind: str, rest: list[str]) -> bool:
    """The rest turns the reply around: "yes, but ...", "no wait", "no... yes"."""
    opposite = NO if kind == "yes" else YES
    turned = _HEDGES | (_NEGATIONS if kind == "yes" else frozenset())
    return any(word in turned for word in rest) or any(word in opposite and len(word) > 2 for word in rest)
