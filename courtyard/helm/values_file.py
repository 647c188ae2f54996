"""A user's own Helm values file, read and never trusted: bounded, strict YAML, one sentence
for every way it can be wrong.

Such files often hold more than values (the original Skunkwolf file: a headless Service,
the values, a Secret). The values document is the one that is not a Kubernetes object;
the Services and Secrets beside it are kept to report on. A Secret's data is classified
without ever being printed: a real certificate (its SANs are read), a private key, or a
placeholder such as `<base64 certificate>`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from courtyard.core import yamlsafe
from courtyard.core.errors import CourtyardError
from courtyard.project.sans import sans_of

MAX_VALUES_BYTES = 1024 * 1024
_KINDS = {list: "a list", str: "a plain string", int: "a number", float: "a number"}


@dataclass
class SecretEntry:
    key: str
    kind: str  # "certificate", "private key", "placeholder", "data"
    sans: list[str] = field(default_factory=list)  # of a certificate


@dataclass
class FileSecret:
    name: str
    document: int
    entries: list[SecretEntry]

    @property
    def placeholders(self) -> list[str]:
        return [e.key for e in self.entries if e.kind == "placeholder"]


@dataclass
class ValuesFile:
    path: Path
    values: dict[str, Any]
    document: int  # 1-based position of the values document
    first_document: int  # the first non-empty one: all that `helm -f` reads of a file
    services: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[FileSecret] = field(default_factory=list)

    @property
    def helm_reads_other_document(self) -> bool:
        """`helm -f` reads only a file's first YAML document: here not the values."""
        return self.document != self.first_document


KeyPath = tuple[str, ...]


def leaves(tree: dict[str, Any], prefix: KeyPath = ()) -> list[tuple[KeyPath, Any]]:
    """(key path, value) down to scalars; lists and empty mappings are leaves of their own."""
    found = []
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            found += leaves(value, path)
        else:
            found.append((path, value))
    return found


def lookup(tree: Any, path: KeyPath) -> tuple[bool, Any]:
    """(present, value) of the key at `path`."""
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return False, None
        tree = tree[part]
    return True, tree


def _is_object(doc: Any) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def classify(key: str, raw: Any) -> SecretEntry:
    """What one Secret data entry holds, decided without printing it."""
    text = str(raw if raw is not None else "").strip()
    if not text or (text.startswith("<") and text.endswith(">")):
        return SecretEntry(key, "placeholder")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return SecretEntry(key, "placeholder")
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            return SecretEntry(key, "placeholder")
        names = sorted(f"{san.kind}:{san.value}" for san in sans_of(cert))
        return SecretEntry(key, "certificate", names)
    if b"PRIVATE KEY-----" in data:
        return SecretEntry(key, "private key")
    return SecretEntry(key, "data")


def _secret(doc: dict[str, Any], position: int, path: Path) -> FileSecret:
    name = str((doc.get("metadata") or {}).get("name") or f"(unnamed, document {position})")
    data = doc.get("data") or {}
    if not isinstance(data, dict):
        raise CourtyardError(
            f"{path}: the Secret {name} (document {position}) has data that is not a mapping "
            "of file names; fix the Secret"
        )
    strings = doc.get("stringData") or {}
    entries = [classify(str(k), v) for k, v in data.items()]
    if isinstance(strings, dict):
        for key, value in strings.items():
            encoded = base64.b64encode(str(value).encode()).decode()
            entries.append(classify(str(key), encoded))
    return FileSecret(name, position, entries)


def read(path: Path) -> ValuesFile:
    """Read `path`; CourtyardError with one sentence when it cannot be a values file."""
    try:
        if path.is_dir():
            raise CourtyardError(f"{path} is a folder; pass the values file you give helm -f")
        if path.stat().st_size > MAX_VALUES_BYTES:
            raise CourtyardError(
                f"{path} is larger than {MAX_VALUES_BYTES // 1024} KiB; pass a Helm values file"
            )
        text = path.read_text(encoding="utf-8")
        documents = yamlsafe.load_all(text)
    except FileNotFoundError:
        raise CourtyardError(
            f"{path} does not exist; pass the values file you give helm -f"
        ) from None
    except (UnicodeDecodeError, PermissionError) as exc:
        raise CourtyardError(
            f"{path} cannot be read ({type(exc).__name__}); pass a readable YAML values file"
        ) from None
    except yaml.YAMLError as exc:
        what = "a values file Courtyard reads"
        raise CourtyardError(f"{path} {yamlsafe.failure(exc, what)}") from None
    present = [(i, doc) for i, doc in enumerate(documents, 1) if doc is not None]
    if not present:
        raise CourtyardError(f"{path} is empty; pass the values file you give helm -f")
    candidates = [(i, doc) for i, doc in present if not _is_object(doc)]
    if not candidates:
        kinds = ", ".join(f"{doc['kind']}" for _, doc in present)
        raise CourtyardError(
            f"{path} holds only Kubernetes objects ({yamlsafe.cut(kinds)}) and no values "
            "document; pass the values file you give helm -f"
        )
    if len(candidates) > 1:
        numbers = ", ".join(str(i) for i, _ in candidates)
        raise CourtyardError(
            f"{path} has {len(candidates)} documents that could be values (documents "
            f"{numbers}); keep one values document per file"
        )
    position, values = candidates[0]
    if not isinstance(values, dict):
        raise CourtyardError(
            f"{path}: the values document (document {position}) is "
            f"{_KINDS.get(type(values), 'a plain value')}, not a mapping of keys; write the "
            "values as key: value"
        )
    result = ValuesFile(path, values, position, present[0][0])
    for i, doc in present:
        if not _is_object(doc):
            continue
        if doc["kind"] == "Service":
            result.services.append(doc)
        elif doc["kind"] == "Secret":
            result.secrets.append(_secret(doc, i, path))
    return result
