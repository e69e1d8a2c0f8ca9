"""Structural mutations of a valid document: a value replaced by anything, a key taken
out or added, an object wrapped in a list or the other way round."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.strategies import documents, keys

_Path = tuple[str | int, ...]


def _paths(document: object, path: _Path = ()) -> list[_Path]:
    found = [path]
    if isinstance(document, dict):
        for key, value in document.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(_paths(value, (*path, index)))
    return found


def _replace(document: object, path: _Path, change: object) -> object:
    if not path:
        return change
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {k: _replace(v, rest, change) if k == head else v for k, v in document.items()}
    assert isinstance(document, list)
    return [_replace(v, rest, change) if i == head else v for i, v in enumerate(document)]


def _at(document: object, path: _Path) -> object:
    for step in path:
        document = document[step]  # type: ignore[index]
    return document


@st.composite
def _once(draw: st.DrawFn, document: object) -> object:
    path = draw(st.sampled_from(_paths(document)))
    target = _at(document, path)
    action = draw(st.sampled_from(("replace", "drop", "add", "wrap", "unwrap")))
    if action == "replace":
        change = draw(documents(8))
    elif action == "drop" and isinstance(target, dict) and target:
        gone = draw(st.sampled_from(list(target)))
        change = {k: v for k, v in target.items() if k != gone}
    elif action == "drop" and isinstance(target, list) and target:
        change = target[:-1]
    elif action == "add" and isinstance(target, dict):
        change = target | {draw(keys()): draw(documents(4))}
    elif action == "add" and isinstance(target, list):
        change = [*target, draw(documents(4))]
    elif action == "unwrap" and isinstance(target, list | dict) and target:
        values = target if isinstance(target, list) else list(target.values())
        change = draw(st.sampled_from(values))
    else:
        change = [target]
    return _replace(document, path, change)


@st.composite
def structure(draw: st.DrawFn, document: object) -> object:
    """*document* after one to three mutations."""
    for _ in range(draw(st.integers(1, 3))):
        document = draw(_once(document))
    return document
