"""Actuators push capacity plans to autoscalers (Kubernetes HPA and KEDA, AWS Auto Scaling).

Each kind is one module, found by name through the ``forecaster.actuators`` entry-point group
(see :mod:`forecaster.actuators.registry` and docs/actuators.md).
"""
