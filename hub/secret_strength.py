"""Is a configured secret (``CITYHUB_SECRET_KEY``) guessable? A rough, conservative estimate.

Length alone lets ``aaaaaaaaaaaaaaaa``, ``changemechangeme`` or ``0123456789abcdef``
through. So the estimate drops what a guesser tries first, then counts what is left:

1. a key that is an example (``changeme``, ``secret``, the placeholders of our own docs …),
   compared without case, separators and repetition, is refused outright, and example
   words inside a longer key are cut out (separators such as ``-`` and ``_`` too);
2. a key that repeats one block (``abcdabcd…``) counts as that block once;
3. a character that continues a run (``aaaa``, ``1234``, ``fedc``, ``qwerty``) counts
   nothing; every other character counts the Shannon entropy per character of the key.

A random 16-character key of 16 distinct symbols scores 64 bits; what the error message
suggests (``secrets.token_urlsafe(32)``, 43 characters) scores over 200, and so does
``openssl rand -hex 32``.
"""

from __future__ import annotations

import math
import re
from collections import Counter

GENERATE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MIN_LENGTH = 16
MIN_BITS = 64.0

# Words people paste from examples and tutorials, and the placeholders of our own docs,
# docker-compose.yml and deploy/ (which leave the value empty or show how to generate one).
EXAMPLE_WORDS = (
    "changeme", "changethis", "change", "replaceme", "replace", "secret", "secretkey", "supersecret",
    "password", "passw0rd", "passwd", "cityhub", "demo", "example", "default", "admin", "letmein",
    "qwerty", "test", "testing", "dummy", "sample", "placeholder", "yoursecretkey", "mysecret",
    "insecure", "notsecret", "token", "random", "value", "django", "flask", "jwtsecret",
)
# Runs along these orders are predictable: code points (abcd, 1234) and the keyboard.
_KEYBOARD = "`1234567890-=qwertyuiop[]\\asdfghjkl;'zxcvbnm,./"
_MAX_STEP = 3
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_WORD_SEPARATORS = re.compile(r"[\s\-_.:,;/+]+")


def _fold(text: str) -> str:
    """Lower case, without separators, one copy of a repeated block, runs of one character once."""
    folded = _SEPARATORS.sub("", text.lower())
    folded = _smallest_block(folded)
    return re.sub(r"(.)\1+", r"\1", folded)


def _smallest_block(text: str) -> str:
    """``text`` as the shortest block it repeats (``abcabcab`` → ``abc``), else itself."""
    for period in range(1, len(text) // 2 + 1):
        if all(text[i] == text[i % period] for i in range(len(text))):
            return text[:period]
    return text


_FOLDED_EXAMPLES = frozenset(_fold(word) for word in EXAMPLE_WORDS)


def _without_example_words(text: str) -> str:
    # Separators first, so "your-secret-key" is found as "yoursecretkey"; then the longest
    # words first, so "secretkey" goes as one piece rather than leaving "key".
    text = _WORD_SEPARATORS.sub("", text)
    for word in sorted(EXAMPLE_WORDS, key=len, reverse=True):
        text = re.sub(re.escape(word), "\0", text, flags=re.IGNORECASE)
    return text


def _positions(char: str) -> tuple[int | None, int | None]:
    lower = char.lower()
    keyboard = _KEYBOARD.find(lower)
    return ord(lower), (keyboard if keyboard >= 0 else None)


def _continues_run(text: str, i: int) -> bool:
    """Whether ``text[i]`` steps on from ``text[i-1]`` as ``text[i-1]`` did from ``text[i-2]``."""
    if i < 2:
        return False
    before, prev, here = (_positions(text[j]) for j in (i - 2, i - 1, i))
    for order in range(2):
        a, b, c = before[order], prev[order], here[order]
        if a is not None and b is not None and c is not None and c - b == b - a and abs(c - b) <= _MAX_STEP:
            return True
    return False


def estimated_bits(secret: str) -> float:
    """A conservative estimate of the guessing entropy of *secret*, in bits."""
    text = _smallest_block(_without_example_words(secret))
    if not text:
        return 0.0
    counts = Counter(text)
    per_char = sum(n / len(text) * math.log2(len(text) / n) for n in counts.values())
    surprising = sum(1 for i in range(len(text)) if not _continues_run(text, i))
    return per_char * surprising


def secret_key_problem(secret: str) -> str | None:
    """What is wrong with *secret* as a signing key (a phrase for an error message), or None."""
    if not secret.strip():
        return "is empty"
    if _fold(secret) in _FOLDED_EXAMPLES:
        return "is an example value"
    if len(secret) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    bits = estimated_bits(secret)
    if bits < MIN_BITS:
        return (f"is too easy to guess (repeats, sequences or example words; about {bits:.0f} bits "
                f"of entropy where at least {MIN_BITS:.0f} are needed)")
    return None
