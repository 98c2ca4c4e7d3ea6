"""Did-you-mean hints for a mistyped name (a config key, a section, a class or a command)."""

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``word``, or ``""`` if none is close.

    Closeness is :func:`difflib.get_close_matches` with its default cut-off (a similarity ratio of 0.6), so
    ``max_epoch`` finds ``max_epochs`` and ``lr`` finds nothing among unrelated names.

    Args:
        word: the name the user wrote.
        choices: the names that are allowed.
    """
    matches = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
