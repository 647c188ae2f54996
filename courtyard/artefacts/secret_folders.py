"""The certificate folders every node mounts, as the chart mounts its three Secrets.

`run/secrets/<name>/` holds exactly the files of one exported Secret: the route pair and the
client-facing pair (`tls.crt`, `tls.key`, `ca.crt`) and the CA (`ca.crt`). Folders, not
single files, are mounted: certificates are written atomically (a rename), which a running
container sees inside a mounted folder but not through a single-file mount (that pins the
old inode). So a node reloads new certificates without being recreated.

`ca.crt` is the trust bundle: the CA, plus during a CA rotation the other CA the cluster
must still (or already) trust (`certs/rotation/also-trusted.crt`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from courtyard.artefacts.files import write_file
from courtyard.project import naming
from courtyard.project.layout import Layout

CA_NAME = Path(naming.CA_FILE).name
# Container folder -> the name of its host folder under run/secrets/.
FOLDERS = {
    naming.ROUTE_TLS_DIR: "cluster",
    naming.CLIENT_TLS_DIR: "nats",
    naming.CA_DIR: "ca",
}

# Container folder -> the files its Secret holds.
FILES = {
    naming.ROUTE_TLS_DIR: (naming.TLS_CERT, naming.TLS_KEY, CA_NAME),
    naming.CLIENT_TLS_DIR: (naming.TLS_CERT, naming.TLS_KEY, CA_NAME),
    naming.CA_DIR: (CA_NAME,),
}


def host_folder(layout: Layout, container_dir: str) -> Path:
    return layout.secrets / FOLDERS[container_dir]


def trust_bundle(layout: Layout) -> bytes:
    """What every node and client trusts: the CA, and the other CA during a rotation."""
    bundle = layout.ca_cert.read_bytes()
    if layout.also_trusted.is_file():
        bundle = bundle.rstrip(b"\n") + b"\n" + layout.also_trusted.read_bytes()
    return bundle


def contents(layout: Layout) -> dict[str, dict[str, bytes]]:
    """Container folder -> file name -> bytes: exactly the data of each exported Secret."""
    bundle = trust_bundle(layout)

    def pair(base: str) -> dict[str, bytes]:
        return {
            naming.TLS_CERT: layout.cert(base).read_bytes(),
            naming.TLS_KEY: layout.key(base).read_bytes(),
            CA_NAME: bundle,
        }

    return {
        naming.ROUTE_TLS_DIR: pair("route"),
        naming.CLIENT_TLS_DIR: pair("server"),
        naming.CA_DIR: {CA_NAME: bundle},
    }


def digest(layout: Layout) -> str:
    """A short hash of every file in the folders: what a node loaded when it last (re)read
    its certificates."""
    sha = hashlib.sha256()
    for folder, files in sorted(contents(layout).items()):
        for name, data in sorted(files.items()):
            sha.update(f"{folder}/{name}\0".encode() + hashlib.sha256(data).digest())
    return sha.hexdigest()[:16]


def sync(layout: Layout) -> list[str]:
    """Make each folder hold exactly its Secret's files (keys mode 0600), and
    `certs/ca-bundle.crt` the trust bundle for clients; returns the container folders whose
    files changed."""
    changed = []
    for container_dir, files in contents(layout).items():
        folder = host_folder(layout, container_dir)
        wrote = [
            write_file(folder / name, data, private=name == naming.TLS_KEY)
            for name, data in files.items()
        ]
        extra = [p for p in folder.iterdir() if p.name not in files and not p.name.startswith(".")]
        for path in extra:
            path.unlink()
        if any(wrote) or extra:
            changed.append(container_dir)
    write_file(layout.ca_bundle, trust_bundle(layout))
    return changed
