# Owned by the monocell template: `copier update` replaces this file.
"""Reading msgspec's validation messages: what was wrong, and where.

msgspec says `Expected `int` >= 1 - at `$.orders[0].quantity``. Every place that
turns this into a one-line reason (topology.toml, gateway settings, request
bodies) names the location in its own words, so they share only the split.
"""

import re

_LOCATED = re.compile(r"(.*?)(?: - at `\$\.?(.*)`)?")


def split_message(message: str) -> tuple[str, str]:
    """(`what`, `where`): `where` is the dotted path (`orders[0].quantity`), "" at the top."""
    match = _LOCATED.fullmatch(message)
    if match is None:  # a message over several lines: keep it whole
        return message, ""
    what, where = match.groups()
    return what, where or ""
