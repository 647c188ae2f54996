"""Reading nats-server configs: Courtyard's own and the chart's JSON-like `nats.conf`.

A small parser for the parts of the format both use: blocks, arrays, quoted and bare values,
`key: value`, `key = value` and `key value`, `#` and `//` comments, `include x;` directives.
Bare values run on through `:` (`nats://host:6222`, as the 0.x chart writes routes); keys
end at it.
Bare sizes (`1Gi`, `256MB`) become byte counts and booleans become bools, as nats-server
reads them, so the two sources compare by meaning rather than spelling.
"""

from __future__ import annotations

import re
from typing import Any

from courtyard.project import naming
from courtyard.project.sizes import parse_size

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*|(?<![^\s{}\[\],;])//[^\n]*)  # not the // of nats://
  | (?P<string>"(?:[^"\\]|\\.)*"|'[^']*')
  | (?P<punct>[{}\[\],;:=])
  | (?P<bare>[^\s{}\[\],;:=#"']+)
    """,
    re.VERBOSE,
)
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class ConfError(ValueError):
    pass


def _spans(text: str) -> list[tuple[str, str, int, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConfError(f"cannot read the config near {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind != "space":
            tokens.append((kind, match.group(), match.start(), match.end()))
    return tokens


def _tokens(text: str) -> list[tuple[str, str]]:
    return [(kind, word) for kind, word, _, _ in _spans(text)]


def _bare_value(word: str) -> Any:
    lowered = word.lower()
    if lowered in _BOOLEANS:
        return _BOOLEANS[lowered]
    try:
        return parse_size(word)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        return word


_ESCAPED = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) > 1:  # \xXX (nats-server's) or \uXXXX (JSON's, as the chart may write)
        return chr(int(code[1:], 16))
    return _ESCAPES.get(code, code)


def _string_value(token: str) -> str:
    if not token.startswith('"'):
        return token[1:-1]
    return _ESCAPED.sub(_unescape, token[1:-1])


def quote(text: str) -> str:
    r"""`text` as a double-quoted nats-server string: UTF-8 as it is, and only the escapes
    nats-server's lexer knows (\\, \", \n, \t, \r, \xXX), never JSON's \uXXXX."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


class _Parser:
    def __init__(self, text: str) -> None:
        spans = _spans(text)
        self.tokens = [(kind, word) for kind, word, _, _ in spans]
        self.bounds = [(start, end) for _, _, start, end in spans]
        self.pos = 0

    def bare_run(self, word: str) -> str:
        """A bare value goes on through `:` and `=` that touch it, as nats-server reads
        `nats://host:6222` or `0.0.0.0:4222` unquoted (the 0.x chart writes routes so)."""
        while self.pos < len(self.tokens):
            kind, text = self.tokens[self.pos]
            if self.bounds[self.pos][0] != self.bounds[self.pos - 1][1]:
                break
            if kind == "bare" or (kind == "punct" and text in ":="):
                word += text
                self.pos += 1
                continue
            break
        return word

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConfError("the config ends too early")
        self.pos += 1
        return token

    def block(self, closing: str | None) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            token = self.peek()
            if token is None:
                if closing:
                    raise ConfError(f"missing {closing!r}")
                return result
            kind, text = self.take()
            if kind == "punct" and text == closing:
                return result
            if kind == "punct" and text in ",;":
                continue
            if kind == "punct":
                raise ConfError(f"unexpected {text!r}")
            key = _string_value(text) if kind == "string" else text
            if key == "include":
                result.setdefault("include", []).append(self.scalar(self.take()))
                continue
            nxt = self.peek()
            if nxt and nxt[0] == "punct" and nxt[1] in ":=":
                self.take()
            result[key] = self.value()

    def scalar(self, token: tuple[str, str]) -> Any:
        kind, text = token
        return _string_value(text) if kind == "string" else _bare_value(text)

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "punct" and text == "{":
            return self.block("}")
        if kind == "punct" and text == "[":
            items = []
            while True:
                token = self.peek()
                if token is None:
                    raise ConfError("missing ']'")
                if token == ("punct", "]"):
                    self.take()
                    return items
                if token[0] == "punct" and token[1] in ",;":
                    self.take()
                    continue
                items.append(self.value())
        if kind == "punct":
            raise ConfError(f"unexpected {text!r}")
        if kind == "bare":
            return _bare_value(self.bare_run(text))
        return self.scalar((kind, text))


def parse_conf(text: str) -> dict[str, Any]:
    """Parse a nats-server config into nested dicts; a top-level `{ ... }` is unwrapped."""
    stripped = _tokens(text)
    if stripped and stripped[0] == ("punct", "{"):
        parser = _Parser(text)
        parser.take()
        return parser.block("}")
    return _Parser(text).block(None)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"cluster": {"tls": {"ca_file": x}}}` -> `{"cluster.tls.ca_file": x}`; lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def with_includes(conf: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """`conf` with each `include` replaced by the parsed file it names (from `files`), its
    keys merged in as nats-server reads them; an include not in `files` stays listed."""
    result = {key: value for key, value in conf.items() if key != "include"}
    missing = []
    for path in conf.get("include") or []:
        if path not in files:
            missing.append(path)
            continue
        for key, value in parse_conf(files[path]).items():
            result[key] = value
    if missing:
        result["include"] = missing
    return result


# Comparing a local node config with the chart's ---------------------------------------------
EXPECTED_ONLY_IN_CHART = {"pid_file": "the chart's reloader signals the server through it"}


def difference_reason(key: str, local: Any, chart: Any) -> str | None:
    """Why a difference is expected, or None when it is a real one."""
    if key == "server_name" and isinstance(chart, str) and chart.startswith("$"):
        return f"the chart sets it from {chart} (the pod name)"
    if key in EXPECTED_ONLY_IN_CHART and local is None:
        return EXPECTED_ONLY_IN_CHART[key]
    if key == "system_account" and chart is None and local == naming.SYSTEM_ACCOUNT:
        return f"nats-server's default system account is {naming.SYSTEM_ACCOUNT}"
    if key == "cluster.cluster_advertise" and local is None and str(chart).startswith("$"):
        return f"the chart sets it from {chart}; no_advertise keeps it out of gossip"
    leaf = key.rsplit(".", 1)[-1]
    if (
        (leaf.endswith("_file") or leaf == "store_dir")
        and isinstance(local, str)
        and isinstance(chart, str)
    ):
        return "file path"
    return None


# nats-server reads these keys as other spellings of one setting (the 0.x chart writes them).
ALIASES = {
    "http": "http_port",
    "jetstream.max_mem": "jetstream.max_memory_store",
    "jetstream.max_memory": "jetstream.max_memory_store",
    "jetstream.max_file": "jetstream.max_file_store",
}


def canonical(flat: dict[str, Any]) -> dict[str, Any]:
    """One spelling per setting; `http` only when it is a bare port, as `http_port` is."""
    result = {}
    for key, value in flat.items():
        alias = ALIASES.get(key)
        if alias and not (key == "http" and not isinstance(value, int)):
            key = alias
        result[key] = value
    return result


def compare(local: dict[str, Any], chart: dict[str, Any]) -> list[tuple[str, Any, Any, str | None]]:
    """Every key whose values differ: (key, local value, chart value, expected reason or None)."""
    flat_local, flat_chart = canonical(flatten(local)), canonical(flatten(chart))
    rows = []
    for key in sorted(set(flat_local) | set(flat_chart)):
        mine, theirs = flat_local.get(key), flat_chart.get(key)
        if mine != theirs:
            rows.append((key, mine, theirs, difference_reason(key, mine, theirs)))
    return rows
