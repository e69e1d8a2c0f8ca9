"""How deeply a JSON payload nests, found before decoding it. Pure.

msgspec, and every walk over a decoded document, recurses once per level; a device
that sends a few thousand nested brackets would otherwise raise ``RecursionError``
deep inside the decoder. Real payloads nest four or five levels (a gateway's device
→ readings → reading → ``values``, or a FIWARE entity's attribute → value), so a
message deeper than ``MAX_DEPTH`` is refused as ``too_deep`` before it is decoded.

Every step runs in C over the bytes (no Python loop per character), and the usual
message has fewer brackets than the limit, which two ``count`` calls settle.
"""

from __future__ import annotations

MAX_DEPTH = 32

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Arrays and objects nest alike; a bracket closed by the wrong kind is the decoder's
# to report.
_AS_BRACES = bytes.maketrans(b"[]", b"{}")


def nesting_exceeds(payload: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if *payload*'s arrays and objects nest more than *limit* levels.

    Brackets inside strings do not count. A bracket closed by the other kind counts as
    closing it: such a payload is not JSON, and whether it is refused as too deep or
    as malformed matters less than that the decoder never recurses into it."""
    if payload.count(b"{") + payload.count(b"[") <= limit:
        return False
    if b"\\" in payload:
        # Without escaped backslashes and escaped quotes, every quote left opens or
        # closes a string.
        payload = payload.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(payload.split(b'"')[::2])
    braces = outside.translate(_AS_BRACES, _NOT_BRACKETS)
    # Each pass removes the innermost pairs (bytes.replace does not look again at
    # what it joined), one level of nesting: n levels are gone after n passes.
    for _ in range(limit):
        if not braces:
            return False
        shorter = braces.replace(b"{}", b"")
        if len(shorter) == len(braces):
            # Nothing pairs up any more: what is left is closers then openers, and
            # every opener left open nests all that follows it (``[`` × 5000 with no
            # end would otherwise reach the decoder's recursion).
            return braces.count(b"{") > limit
        braces = shorter
    # Still brackets after *limit* levels: deeper than allowed (paired up or not, it
    # is refused without decoding).
    return bool(braces)
