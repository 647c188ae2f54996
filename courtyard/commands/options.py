"""The numbers a task's options carry, read from what the user typed.

invoke converts an option by its default's type and raises ValueError, a traceback, for
`--timeout abc`; so the tasks take these options as text (default None) and read them here:
one sentence naming the option, what it accepts and what was given, before anything runs.
"""

from __future__ import annotations

import math

from courtyard.core.errors import CourtyardError
from courtyard.core.yamlsafe import cut

DAY = 24 * 3600.0


def _refuse(option: str, accepts: str, given: object) -> CourtyardError:
    return CourtyardError(f"{option} takes {accepts}, not {cut(repr(given), 40)}")


def number(
    option: str,
    given: str | float | None,
    default: float | None,
    *,
    accepts: str,
    above: float | None = None,
    least: float | None = None,
    most: float | None = None,
) -> float | None:
    """`given` as a finite number within the bounds (`above` excludes its bound, `least` and
    `most` include theirs); `default` when the option was not given."""
    if given is None:
        return default
    try:
        value = float(given)
    except (TypeError, ValueError):
        raise _refuse(option, accepts, given) from None
    if (
        not math.isfinite(value)
        or (above is not None and value <= above)
        or (least is not None and value < least)
        or (most is not None and value > most)
    ):
        raise _refuse(option, accepts, given)
    return value


def whole(
    option: str,
    given: str | int | None,
    default: int | None,
    *,
    accepts: str,
    least: int,
    most: int,
) -> int | None:
    """`given` as a whole number from `least` to `most`; `default` when not given."""
    if given is None:
        return default
    text = str(given).strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        raise _refuse(option, accepts, given)
    value = int(text)
    if not least <= value <= most:
        raise _refuse(option, accepts, given)
    return value


def seconds(
    option: str, given: str | float | None, default: float | None, most: float = DAY
) -> float | None:
    """A wait or hold in seconds: more than 0, at most `most`."""
    return number(
        option,
        given,
        default,
        accepts=f"seconds, a number above 0 and at most {most:g}",
        above=0,
        most=most,
    )
