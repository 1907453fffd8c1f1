"""aws-application-autoscaling: a SageMaker variant's or ECS service's MinCapacity follows the plan.

The floor in force now goes through RegisterScalableTarget (which updates a registered target);
the coming change points become ``at(...)`` scheduled actions in UTC (PutScheduledAction, one
per call), named with our prefix. See :mod:`forecaster.actuators.aws`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from forecaster.actuators.aws import (
    AwsScheduleActuator,
    AwsTargetConfig,
    Capacity,
    ScheduledFloor,
    aws_client,
)
from forecaster.actuators.base import ActuationFailedError
from forecaster.errors import quoted

DIMENSIONS = {
    "sagemaker": "sagemaker:variant:DesiredInstanceCount",
    "ecs": "ecs:service:DesiredCount",
}
RESOURCE_IDS = {
    "sagemaker": re.compile(r"^endpoint/[^/\s]+/variant/[^/\s]+$"),
    "ecs": re.compile(r"^service/[^/\s]+/[^/\s]+$"),
}
AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")


class ApplicationAutoScalingConfig(AwsTargetConfig):
    object_fields: ClassVar[tuple[str, ...]] = (
        *AwsTargetConfig.object_fields,
        "service_namespace",
        "resource_id",
    )
    service_namespace: Literal["sagemaker", "ecs"]
    resource_id: str = Field(
        max_length=1600,
        description="endpoint/<endpoint>/variant/<variant> or service/<cluster>/<service>",
    )

    @model_validator(mode="after")
    def _check_resource_id(self) -> ApplicationAutoScalingConfig:
        if not RESOURCE_IDS[self.service_namespace].match(self.resource_id):
            shapes = {
                "sagemaker": "endpoint/<endpoint>/variant/<variant>",
                "ecs": "service/<cluster>/<service>",
            }
            raise ValueError(
                f"resource_id {quoted(self.resource_id)} is not of the form "
                f"{shapes[self.service_namespace]}"
            )
        return self

    @property
    def dimension(self) -> str:
        return DIMENSIONS[self.service_namespace]


class ApplicationAutoScalingActuator(AwsScheduleActuator):
    kind: ClassVar[str] = "aws-application-autoscaling"
    config_model: ClassVar[type[AwsTargetConfig]] = ApplicationAutoScalingConfig
    min_key: ClassVar[str] = "MinCapacity"
    max_key: ClassVar[str] = "MaxCapacity"
    group_limit: ClassVar[int] = 200
    config: ApplicationAutoScalingConfig

    @property
    def target(self) -> str:
        return f"{self.config.region}/{self.config.resource_id}"

    @property
    def _ids(self) -> dict[str, str]:
        return {
            "ServiceNamespace": self.config.service_namespace,
            "ResourceId": self.config.resource_id,
            "ScalableDimension": self.config.dimension,
        }

    def client(self) -> Any:
        return aws_client("application-autoscaling", self.config, self.context)

    def lowest(self) -> int:
        return 1 if self.config.service_namespace == "sagemaker" else 0

    def read_capacity(self, client: Any) -> Capacity:
        answer = client.describe_scalable_targets(
            ServiceNamespace=self.config.service_namespace,
            ResourceIds=[self.config.resource_id],
            ScalableDimension=self.config.dimension,
        )
        found = answer.get("ScalableTargets", [])
        if not found:
            raise ActuationFailedError(
                f"not found: {self.target} is not a registered scalable target "
                f"({self.config.dimension}); register it with Application Auto Scaling first"
            )
        return Capacity(found[0]["MinCapacity"], found[0]["MaxCapacity"])

    def list_actions(self, client: Any) -> tuple[list[ScheduledFloor], int]:
        pages = client.get_paginator("describe_scheduled_actions").paginate(**self._ids)
        actions = [a for page in pages for a in page.get("ScheduledActions", [])]
        ours: list[ScheduledFloor] = []
        for action in actions:
            match = AT.match(action.get("Schedule", ""))
            if not self.owned(action["ScheduledActionName"]) or match is None:
                continue
            limits = action.get("ScalableTargetAction", {})
            ours.append(
                ScheduledFloor(
                    name=action["ScheduledActionName"],
                    at=datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC),
                    minimum=limits.get("MinCapacity", 0),
                    maximum=limits.get("MaxCapacity", 0),
                )
            )
        return ours, len(actions)

    def put_actions(self, client: Any, actions: list[ScheduledFloor]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for action in actions:
            try:
                self._put(client, action)
            except client.exceptions.ValidationException as error:  # this one, not the others
                refused[action.name] = str(error.response.get("Error", {}).get("Message", ""))
        return refused

    def _put(self, client: Any, action: ScheduledFloor) -> None:
        client.put_scheduled_action(
            **self._ids,
            ScheduledActionName=action.name,
            Schedule=f"at({action.at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
            Timezone="UTC",
            ScalableTargetAction={
                "MinCapacity": action.minimum,
                "MaxCapacity": action.maximum,
            },
        )

    def delete_actions(self, client: Any, names: list[str]) -> None:
        for name in names:
            try:
                client.delete_scheduled_action(**self._ids, ScheduledActionName=name)
            except client.exceptions.ObjectNotFoundException:
                continue  # already gone (a retried call): what we wanted

    def set_capacity(self, client: Any, wanted: Capacity, current: Capacity) -> None:
        client.register_scalable_target(
            **self._ids, MinCapacity=wanted.minimum, MaxCapacity=wanted.maximum
        )
