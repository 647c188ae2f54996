"""Subject alternative names written as `DNS:name` or `IP:address`, parsed strictly."""

import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def is_dns_name(name: str, *, allow_wildcard: bool = False) -> bool:
    """True for a valid host name; `*.rest` too when allow_wildcard."""
    if not name or len(name) > 253 or name.endswith("."):
        return False
    labels = name.split(".")
    if allow_wildcard and labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]
    return all(_LABEL.match(label) for label in labels)


@dataclass(frozen=True, order=True)
class San:
    """One SAN: kind is "DNS" or "IP"; value is the name or the normalised address."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def to_x509(self) -> x509.GeneralName:
        if self.kind == "IP":
            return x509.IPAddress(ipaddress.ip_address(self.value))
        return x509.DNSName(self.value)


def dns(name: str) -> San:
    return San("DNS", name.lower())


def parse_san(entry: str) -> San:
    """Parse `DNS:name` or `IP:address`; ValueError naming the entry otherwise."""
    kind, sep, value = entry.strip().partition(":")
    kind, value = kind.strip().upper(), value.strip()
    if not sep or kind not in ("DNS", "IP"):
        raise ValueError(f"SAN {entry.strip()!r} must start with DNS: or IP:")
    if kind == "IP":
        try:
            return San("IP", str(ipaddress.ip_address(value)))
        except ValueError:
            raise ValueError(f"SAN {entry.strip()!r} is not a valid IP address") from None
    if not is_dns_name(value, allow_wildcard=True):
        raise ValueError(f"SAN {entry.strip()!r} is not a valid DNS name")
    return dns(value)


def parse_san_list(text: str) -> list[San]:
    """Parse the armory script's form: `DNS:a, DNS:b, IP:127.0.0.1`."""
    entries = text.split(",")
    if not text.strip() or any(not entry.strip() for entry in entries):
        raise ValueError(f"SAN list {text!r} has an empty entry; write it as 'DNS:a, DNS:b'")
    return [parse_san(entry) for entry in entries]


def sans_of(cert: x509.Certificate) -> set[San]:
    """The SANs a certificate carries, as San values."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    found = {dns(name) for name in ext.get_values_for_type(x509.DNSName)}
    found |= {San("IP", str(ip)) for ip in ext.get_values_for_type(x509.IPAddress)}
    return found
