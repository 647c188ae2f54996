"""YAML read as untrusted input: duplicate keys refused, alias expansion bounded."""

from __future__ import annotations

from typing import Any

import yaml

# A spec holds a few dozen values; a document that expands to this many is not one (or is a
# "billion laughs" alias bomb, which PyYAML builds cheaply but nothing can walk or print).
MAX_VALUES = 10_000
# Error messages show at most this much of a value.
MAX_SHOWN = 60
# A spec nests three or four levels; PyYAML's composer recurses once per level.
MAX_DEPTH = 64
# Python refuses to convert an integer of more than 4,300 digits; no value needs 100.
MAX_INT_DIGITS = 100


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(f"key {shown(key)} appears twice (line {line})")
        self.key, self.line = key, line


class TooLargeError(yaml.YAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; SafeLoader reports it below
                continue
            if duplicate:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise TooLargeError(
                f"it holds a number of {digits} digits (line {node.start_mark.line + 1})"
            )
        return super().construct_yaml_int(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """TooLargeError when collections nest deeper than `limit` (read as events, without the
    recursion that building them would take)."""
    depth = 0
    for event in yaml.parse(text, Loader=_StrictLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                raise TooLargeError(f"it nests more than {limit} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def count_values(data: Any, limit: int = MAX_VALUES) -> int:
    """How many values `data` holds once every alias is expanded; TooLargeError past `limit`.

    Shared sub-trees (aliases) are counted each time they are reached, as anything walking or
    printing the data would, but the walk stops as soon as the limit is passed."""
    count, pending = 0, [data]
    while pending:
        item = pending.pop()
        count += 1
        if count > limit:
            raise TooLargeError(f"it expands to more than {limit} values (YAML aliases?)")
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def load(text: str) -> Any:
    """Parse one YAML document: duplicate keys, oversized expansions, deep nesting and huge
    numbers are YAML errors."""
    check_depth(text)
    data = yaml.load(text, Loader=_StrictLoader)
    count_values(data)
    return data


def load_all(text: str) -> list[Any]:
    """Parse every document of a multi-document file, with the same limits over all of them."""
    check_depth(text)
    documents = list(yaml.load_all(text, Loader=_StrictLoader))
    count_values(documents)
    return documents


def failure(exc: yaml.YAMLError, what: str) -> str:
    """Why a file is refused, to follow its name in one sentence; `what` is the kind of
    file it should have been (e.g. "a Courtyard spec")."""
    if isinstance(exc, DuplicateKeyError):
        return f"gives key {shown(exc.key)} twice (line {exc.line}); keep one"
    if isinstance(exc, TooLargeError):
        return f"is not {what}: {exc}; write the values out plainly"
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    return f"is not valid YAML{where}; fix its syntax"


def cut(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """`repr(value)` cut to `limit` characters, safe for any value that passed `load`."""
    return cut(repr(value), limit)
