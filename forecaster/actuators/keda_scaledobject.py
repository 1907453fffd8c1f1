"""keda-scaledobject: hold a KEDA ScaledObject's spec.minReplicaCount at the plan floor.

KEDA's ScaledObject is a custom resource (keda.sh/v1alpha1), so it goes through
CustomObjectsApi and a JSON merge patch (custom resources refuse strategic merge patches). For
scaling on our predicted load without any push, see the pull route ``GET
/v1/services/{name}/keda`` and docs/actuators.md.
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

GROUP, VERSION, PLURAL = "keda.sh", "v1alpha1", "scaledobjects"
KEDA_DEFAULT_MIN, KEDA_DEFAULT_MAX = 0, 100  # KEDA's own defaults when the fields are omitted


class KedaScaledObjectActuator(KubeFloorActuator):
    kind: ClassVar[str] = "keda-scaledobject"
    min_field: ClassVar[str] = "minReplicaCount"
    max_field: ClassVar[str] = "maxReplicaCount"
    lowest: ClassVar[int] = 0
    resource: ClassVar[str] = "scaledobjects.keda.sh"
    defaults: ClassVar[dict[str, int]] = {
        "minReplicaCount": KEDA_DEFAULT_MIN,
        "maxReplicaCount": KEDA_DEFAULT_MAX,
    }

    def read(self, api: ApiClient) -> Observed:
        from kubernetes.client import CustomObjectsApi

        obj = CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP,
            VERSION,
            self.config.namespace,
            PLURAL,
            self.config.name,
            _request_timeout=self.timeout,
        )
        if not isinstance(obj, dict):
            raise ValueError(f"ScaledObject {self.target} came back as {type(obj).__name__}")
        meta, spec = obj.get("metadata", {}), obj.get("spec", {})
        floor = Floor(
            minimum=int(spec.get(self.min_field, self.defaults[self.min_field])),
            maximum=int(spec.get(self.max_field, self.defaults[self.max_field])),
            annotations=ours_only(meta.get("annotations")),
            unset=frozenset({self.min_field, self.max_field} - set(spec)),
        )
        return Observed(floor, str(meta["resourceVersion"]))

    def patch(self, api: ApiClient, body: dict[str, Any]) -> None:
        from kubernetes.client import CustomObjectsApi

        CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.config.namespace,
            PLURAL,
            self.config.name,
            body,
            _content_type=MERGE_PATCH,
            _request_timeout=self.timeout,
        )
