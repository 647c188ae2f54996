from __future__ import annotations

from pathlib import Path

import pytest

from courtyard.project.loaded import Project, load_project
from tests.helpers import write_spec


@pytest.fixture
def project_factory(tmp_path: Path):
    """Build a Project in a temporary folder from the repo spec plus changes."""

    def make(changes: dict | None = None, root: Path | None = None) -> Project:
        return load_project(write_spec(root or tmp_path, changes))

    return make
