"""Byte sizes as nats-server and the spec write them (`256Mi`, `1Gi`, `512MB`, `1G`)."""

import re

# nats-server's own rule (conf/parse.go): a bare k/m/g/t is decimal, a two-letter
# suffix (kb, ki, kib, ...) is binary. The spec follows it so that a size means
# the same number of bytes locally and in the rendered chart.
_UNITS = {"": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _UNITS[_letter] = 1000**_power
    for _suffix in ("b", "i", "ib"):
        _UNITS[_letter + _suffix] = 1024**_power

_SIZE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")


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
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def kubernetes_quantity(size_bytes: int) -> str:
    """The exact bytes as a Kubernetes quantity, in the largest binary unit that divides them."""
    for suffix, factor in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size_bytes and size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)
