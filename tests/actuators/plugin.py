"""A third-party actuator package written to a temporary directory, as a wheel would install it.

The package is a module plus a ``.dist-info`` with ``entry_points.txt``: the same metadata pip
writes, so the test exercises real entry-point discovery on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

MODULE = """
from typing import ClassVar

from forecaster.actuators.base import ActuationResult, ActuatorConfig


class EchoConfig(ActuatorConfig):
    label: str


class EchoActuator:
    kind: ClassVar[str] = "acme-echo"
    config_model = EchoConfig

    def __init__(self, config, context):
        self.config = config

    @property
    def target(self):
        return "echo/" + self.config.label

    def apply(self, plan, *, dry_run):
        outcome = "applied" if plan.active else "restored"
        return ActuationResult(self.target, outcome, {"floor": None}, {"floor": plan.floor})


class BrokenActuator(EchoActuator):
    kind: ClassVar[str] = "acme-broken"

    def apply(self, plan, *, dry_run):
        raise RuntimeError("plugin bug")


class UnbuildableActuator(EchoActuator):
    kind: ClassVar[str] = "acme-unbuildable"

    def __init__(self, config, context):
        raise RuntimeError("constructor bug")
"""

ENTRY_POINTS = """[forecaster.actuators]
acme-echo = acme_actuators:EchoActuator
acme-broken = acme_actuators:BrokenActuator
acme-unbuildable = acme_actuators:UnbuildableActuator
acme-uninstalled = acme_actuators_gone:GoneActuator
"""


def write_plugin(root: Path) -> Path:
    """Install the plugin under ``root`` (to be put on sys.path); returns ``root``."""
    (root / "acme_actuators.py").write_text(MODULE)
    dist = root / "acme_actuators-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-actuators\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    return root
