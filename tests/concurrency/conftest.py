"""Fixtures of the fault-injection suite: ``world`` (template repositories, built once
per session, see :mod:`tests.faults.world`)."""
from __future__ import annotations

import pytest

from tests.faults.world import World, build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))
