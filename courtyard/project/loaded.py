"""One loaded project: the spec, the names derived from it and where its files live."""

from __future__ import annotations

import os
from dataclasses import dataclass

from courtyard.project.layout import Layout
from courtyard.project.load import load_spec
from courtyard.project.model import Spec
from courtyard.project.naming import ClusterNames, names_for


@dataclass(frozen=True)
class Project:
    spec: Spec
    names: ClusterNames
    layout: Layout

    @property
    def spec_file(self) -> str:
        return str(self.spec.path)


def load_project(spec_file: str | os.PathLike[str] | None = None) -> Project:
    """Load and validate the spec (explicit path, $COURTYARD_SPEC or config/courtyard.yaml)."""
    spec = load_spec(spec_file)
    return Project(spec=spec, names=names_for(spec), layout=Layout(spec.root))
