"""Byte sizes as nats-server and the spec write them (`256Mi`, `1Gi`, `512MB`, `1G`)."""

import re

# nats-server's own rule (conf/parse.go): a bare k/m/g/t is decimal, a two-letter
# suffix (kb, ki, kib, ...) is binary. The spec follows it so that a size means
# the same number of bytes locally and in the rendered chart.
_UNITS = {"": 1}
for _power, _letter in enumerate("kmgtpe", start=1):
    _UNITS[_letter] = 1000**_power
    for _suffix in ("b", "i", "ib"):
        _UNITS[_letter + _suffix] = 1024**_power

# ASCII digits, the unit right after them: nats-server's lexer reads `256 Mi` as a number
# and a stray word, and knows no other digits.
_SIZE = re.compile(r"^\s*([0-9]+)([a-zA-Z]*)\s*$", re.ASCII)


def parse_size(text: str | int) -> int:
    """Return the number of bytes that `text` means; ValueError when it is no size."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text!r} is negative")
        return text
    match = _SIZE.match(str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size like 256Mi, 1Gi or 512MB")
    if len(match.group(1)) > 30:  # far beyond any limit, and no 5,000-digit int() either
        raise ValueError(f"{text!r} is too large")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def kubernetes_quantity(size_bytes: int) -> str:
    """The exact bytes as a Kubernetes quantity, in the largest binary unit that divides them."""
    units = (("Ei", 1024**6), ("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3))
    for suffix, factor in (*units, ("Mi", 1024**2), ("Ki", 1024)):
        if size_bytes and size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)


def format_size(size_bytes: int) -> str:
    """Bytes for people: exact in the largest binary unit that divides them (`512Mi`),
    else to one decimal (`1.3Gi`)."""
    exact = kubernetes_quantity(size_bytes)
    if not exact[-1].isdigit() or size_bytes < 1024:
        return exact
    for suffix, factor in (("Ei", 1024**6), ("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3)):
        if size_bytes >= factor:
            return f"{size_bytes / factor:.1f}{suffix}"
    for suffix, factor in (("Mi", 1024**2), ("Ki", 1024)):
        if size_bytes >= factor:
            return f"{size_bytes / factor:.1f}{suffix}"
    return str(size_bytes)
