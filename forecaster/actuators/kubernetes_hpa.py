"""kubernetes-hpa: hold an autoscaling/v2 HorizontalPodAutoscaler's minReplicas at the plan floor.

The HPA keeps scaling on its own metrics above that floor; forecaster only makes sure enough
replicas are already up when the forecast load arrives. See :mod:`forecaster.actuators.kube`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from forecaster.actuators.kube import (
    MERGE_PATCH,
    Floor,
    KubeFloorActuator,
    Observed,
    ours_only,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


class KubernetesHpaActuator(KubeFloorActuator):
    kind: ClassVar[str] = "kubernetes-hpa"
    min_field: ClassVar[str] = "minReplicas"
    max_field: ClassVar[str] = "maxReplicas"
    lowest: ClassVar[int] = 1
    resource: ClassVar[str] = "horizontalpodautoscalers.autoscaling"

    def read(self, api: ApiClient) -> Observed:
        from kubernetes.client import AutoscalingV2Api

        hpa = AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(
            self.config.name, self.config.namespace, _request_timeout=self.timeout
        )
        meta, spec = hpa.metadata, hpa.spec
        if meta is None or spec is None or meta.resource_version is None:
            raise ValueError(f"HPA {self.target} came back without metadata or spec")
        floor = Floor(
            minimum=spec.min_replicas if spec.min_replicas is not None else 1,
            maximum=spec.max_replicas,
            annotations=ours_only(meta.annotations),
        )
        return Observed(floor, meta.resource_version)

    def patch(self, api: ApiClient, body: dict[str, Any]) -> None:
        from kubernetes.client import AutoscalingV2Api

        AutoscalingV2Api(api).patch_namespaced_horizontal_pod_autoscaler(
            self.config.name,
            self.config.namespace,
            body,
            _content_type=MERGE_PATCH,
            _request_timeout=self.timeout,
        )
