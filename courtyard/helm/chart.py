"""The real nats/nats chart, loaded and rendered offline by the Helm SDK (`[helm]` extra).

Where a chart comes from, in order: the path the user passes (`--chart`: a chart folder or
.tgz); `$COURTYARD_CHARTS`, a folder holding `nats-<version>/` or `nats-<version>.tgz`;
Helm's own repository cache (`helm pull` leaves `nats-<version>.tgz` there); a download
from the nats repository. Which values layout a chart reads follows its major version: 0.x
is `legacy`, 1.x and later `current`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from courtyard.core.errors import CourtyardError
from courtyard.project import naming

CHART_REPO_URL = "https://nats-io.github.io/k8s/helm/charts/"
CHARTS_ENV = "COURTYARD_CHARTS"


@dataclass
class Chart:
    sdk: Any  # helm_python.Chart
    label: str  # where it came from, for messages
    version: str

    @property
    def layout(self) -> str:
        return layout_of(self.version)

    @property
    def defaults(self) -> dict[str, Any]:
        return self.sdk.values or {}


def layout_of(version: str) -> str:
    return "legacy" if version.split(".", 1)[0] == "0" else "current"


def _helm():
    try:
        import helm_python
    except ImportError:
        raise CourtyardError(
            "the Helm SDK for Python is not installed; run pip install -e '.[helm]'"
        ) from None
    return helm_python


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def load(path: Path) -> Chart:
    """The chart at `path`: a chart folder or a .tgz; one sentence when it is neither."""
    helm = _helm()
    if not path.exists():
        raise CourtyardError(f"chart {path} does not exist; pass a chart folder or .tgz")
    if path.is_dir() and not (path / "Chart.yaml").is_file():
        raise CourtyardError(
            f"{path} is not a Helm chart (it has no Chart.yaml); pass the nats chart's folder "
            "or .tgz"
        )
    try:
        sdk = helm.Chart.load(path) if path.is_dir() else helm.Chart.load_archive(path.read_bytes())
    except (helm.HelmError, OSError) as exc:
        raise CourtyardError(
            f"{path} is not a Helm chart that loads ({_first_line(exc)}); pass the nats "
            "chart's folder or .tgz"
        ) from None
    metadata = sdk.metadata or {}
    if metadata.get("name") != naming.CHART_NAME:
        raise CourtyardError(
            f"{path} is the chart {metadata.get('name')!r}, not nats/nats; pass the nats "
            "chart's folder or .tgz"
        )
    return Chart(sdk, str(path), str(metadata.get("version", "?")))


def _cached(version: str) -> Path | None:
    """A copy of `version` in $COURTYARD_CHARTS or in Helm's repository cache."""
    folders = [Path(os.environ[CHARTS_ENV])] if os.environ.get(CHARTS_ENV) else []
    if os.environ.get("HELM_REPOSITORY_CACHE"):
        folders.append(Path(os.environ["HELM_REPOSITORY_CACHE"]))
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folders.append(cache / "helm" / "repository")
    for folder in folders:
        for candidate in (folder / f"nats-{version}", folder / f"nats-{version}.tgz"):
            if candidate.exists():
                return candidate
    return None


def find(path: Path | None, version: str) -> Chart:
    """The chart at `path`, else nats/nats `version` from a local copy or the repository."""
    if path is not None:
        return load(path)
    local = _cached(version)
    if local is not None:
        return load(local)
    helm = _helm()
    with tempfile.TemporaryDirectory(prefix="courtyard-chart-") as tmp:
        try:
            helm.pull("nats", repo_url=CHART_REPO_URL, version=version, destination=tmp)
        except helm.HelmError as exc:
            raise CourtyardError(
                f"cannot find the nats chart {version}: not in ${CHARTS_ENV} or Helm's cache, "
                f"and the download from {CHART_REPO_URL} failed ({_first_line(exc)}); pass "
                "--chart PATH to a chart folder or .tgz"
            ) from None
        archives = sorted(Path(tmp).glob("*.tgz"))
        if not archives:
            raise CourtyardError(
                f"the nats chart {version} download left no archive; pass --chart PATH"
            )
        chart = load(archives[0])
        chart.label = f"nats/nats {version}"
        return chart


def render_files(
    chart: Chart, values: dict[str, Any], release: str, namespace: str
) -> dict[str, str]:
    """The chart's rendered templates by file name, as `helm template` prints them."""
    helm = _helm()
    try:
        return chart.sdk.render(values, name=release, namespace=namespace, is_install=True)
    except helm.HelmError as exc:
        raise CourtyardError(
            f"the chart {chart.label} does not render with these values: {_first_line(exc)}"
        ) from None


def render(chart: Chart, values: dict[str, Any], release: str, namespace: str) -> list[dict]:
    """Every Kubernetes object the chart renders (NOTES.txt and other text is skipped)."""
    objects = []
    for name, text in sorted(render_files(chart, values, release, namespace).items()):
        if not name.endswith((".yaml", ".yml")):
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise CourtyardError(
                f"the chart {chart.label} renders {name} as something that is not YAML "
                f"({_first_line(exc)}); is it the nats/nats chart?"
            ) from None
        objects += [doc for doc in docs if isinstance(doc, dict) and doc.get("kind")]
    return objects


def nats_conf_text(objects: list[dict]) -> str:
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and "nats.conf" in (obj.get("data") or {}):
            return obj["data"]["nats.conf"]
    raise CourtyardError(
        "the rendered chart has no ConfigMap with nats.conf; is it the nats/nats chart?"
    )


def kind(objects: list[dict], wanted: str) -> list[dict]:
    return [obj for obj in objects if obj.get("kind") == wanted]


def statefulset(objects: list[dict]) -> dict[str, Any]:
    """The rendered StatefulSet of the nats pods; one sentence when there is none."""
    found = kind(objects, "StatefulSet")
    if not found:
        raise CourtyardError("the rendered chart has no StatefulSet; is it the nats/nats chart?")
    return found[0]
