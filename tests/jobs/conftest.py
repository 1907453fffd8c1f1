"""Job tests reuse the actuator fixtures (the fake Kubernetes API server)."""

from tests.actuators.conftest import exec_plugin, kube, kubeconfig  # noqa: F401  (fixtures)
