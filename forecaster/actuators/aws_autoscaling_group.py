"""aws-autoscaling-group: an EC2 Auto Scaling group's MinSize follows the plan.

The floor in force now goes through UpdateAutoScalingGroup; the coming change points become
one-time scheduled actions (BatchPutScheduledUpdateGroupAction, at most 50 a call; AWS allows
125 a group), UTC start times, named with our prefix. See :mod:`forecaster.actuators.aws`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from forecaster.actuators.aws import (
    AwsScheduleActuator,
    AwsTargetConfig,
    Capacity,
    ScheduledFloor,
    aws_client,
    chunks,
)
from forecaster.actuators.base import ActuationFailedError
from forecaster.timeutil import as_utc

BATCH = 50


class AutoScalingGroupConfig(AwsTargetConfig):
    object_fields: ClassVar[tuple[str, ...]] = (*AwsTargetConfig.object_fields, "group")
    group: str = Field(min_length=1, max_length=255, description="the Auto Scaling group name")
    set_desired_capacity: bool = Field(
        default=False,
        description="the update made now also lifts a lower DesiredCapacity to the floor "
        "(MinSize alone already does); scheduled actions never carry one: AWS sets the group "
        "to exactly that number when they fire, cutting what its own policies added",
    )


class AutoScalingGroupActuator(AwsScheduleActuator):
    kind: ClassVar[str] = "aws-autoscaling-group"
    config_model: ClassVar[type[AwsTargetConfig]] = AutoScalingGroupConfig
    min_key: ClassVar[str] = "MinSize"
    max_key: ClassVar[str] = "MaxSize"
    group_limit: ClassVar[int] = 125
    config: AutoScalingGroupConfig

    @property
    def target(self) -> str:
        return f"{self.config.region}/{self.config.group}"

    def client(self) -> Any:
        return aws_client("autoscaling", self.config, self.context)

    def lowest(self) -> int:
        return 0

    def read_capacity(self, client: Any) -> Capacity:
        groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[self.config.group])
        found = groups.get("AutoScalingGroups", [])
        if not found:
            raise ActuationFailedError(
                f"not found: Auto Scaling group {self.target} does not exist"
            )
        group = found[0]
        return Capacity(group["MinSize"], group["MaxSize"], group.get("DesiredCapacity"))

    def list_actions(self, client: Any) -> tuple[list[ScheduledFloor], int]:
        pages = client.get_paginator("describe_scheduled_actions").paginate(
            AutoScalingGroupName=self.config.group
        )
        actions = [a for page in pages for a in page.get("ScheduledUpdateGroupActions", [])]
        ours = [
            ScheduledFloor(
                name=a["ScheduledActionName"],
                at=as_utc(a["StartTime"]),
                minimum=a["MinSize"],
                maximum=a["MaxSize"],
                desired=a.get("DesiredCapacity"),
            )
            for a in actions
            if self.owned(a["ScheduledActionName"]) and a.get("StartTime") is not None
        ]
        return ours, len(actions)

    def put_actions(self, client: Any, actions: list[ScheduledFloor]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for batch in chunks(actions, BATCH):
            answer = client.batch_put_scheduled_update_group_action(
                AutoScalingGroupName=self.config.group,
                ScheduledUpdateGroupActions=[self._action(a) for a in batch],
            )
            for failed in answer.get("FailedScheduledUpdateGroupActions", []):
                refused[failed["ScheduledActionName"]] = (
                    f"{failed.get('ErrorCode', '')} {failed.get('ErrorMessage', '')}".strip()
                )
        return refused

    def delete_actions(self, client: Any, names: list[str]) -> None:
        for batch in chunks(names, BATCH):
            answer = client.batch_delete_scheduled_action(
                AutoScalingGroupName=self.config.group, ScheduledActionNames=batch
            )
            failed = answer.get("FailedScheduledActions", [])
            if failed:
                # a retried call finds some already deleted: only those still there matter
                left = {a.name for a in self.list_actions(client)[0]} & set(batch)
                if left:
                    raise ActuationFailedError(f"AWS kept scheduled actions: {_failures(failed)}")

    def set_capacity(self, client: Any, wanted: Capacity, current: Capacity) -> None:
        arguments: dict[str, Any] = {
            "AutoScalingGroupName": self.config.group,
            "MinSize": wanted.minimum,
            "MaxSize": wanted.maximum,
        }
        desired = current.desired
        if self.config.set_desired_capacity and desired is not None and desired < wanted.minimum:
            arguments["DesiredCapacity"] = wanted.minimum
        client.update_auto_scaling_group(**arguments)

    def _action(self, action: ScheduledFloor) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ScheduledActionName": action.name,
            "StartTime": action.at,
            "MinSize": action.minimum,
            "MaxSize": action.maximum,
        }
        if action.desired is not None:
            body["DesiredCapacity"] = action.desired
        return body


def _failures(failed: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{f.get('ScheduledActionName')}: {f.get('ErrorCode', '')} {f.get('ErrorMessage', '')}"
        for f in failed
    )
