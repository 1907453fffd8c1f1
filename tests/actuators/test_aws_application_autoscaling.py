"""aws-application-autoscaling through boto3 against moto's server mode (behind a fault proxy)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from forecaster.actuators.aws_application_autoscaling import (
    ApplicationAutoScalingActuator,
    ApplicationAutoScalingConfig,
)
from forecaster.actuators.window import PlanStatus
from tests.actuators.conftest import FAST, window
from tests.fakes.aws_faults import FaultProxy

REGION = "us-east-1"
VARIANT = "endpoint/llm/variant/AllTraffic"
SAGEMAKER = ("sagemaker", VARIANT, "sagemaker:variant:DesiredInstanceCount")
ECS = ("ecs", "service/prod/chat", "ecs:service:DesiredCount")


@pytest.fixture
def scaling(aws: FaultProxy) -> Any:
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=aws.upstream)
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(
        family="chat", containerDefinitions=[{"name": "chat", "image": "chat:1", "memory": 512}]
    )
    ecs.create_service(cluster="prod", serviceName="chat", taskDefinition="chat", desiredCount=1)
    client = boto3.client("application-autoscaling", region_name=REGION, endpoint_url=aws.upstream)
    for namespace, resource, dimension in (SAGEMAKER, ECS):
        client.register_scalable_target(
            ServiceNamespace=namespace,
            ResourceId=resource,
            ScalableDimension=dimension,
            MinCapacity=1,
            MaxCapacity=8,
        )
    client.put_scheduled_action(  # someone else's: never ours to touch
        ServiceNamespace="sagemaker",
        ResourceId=VARIANT,
        ScalableDimension=SAGEMAKER[2],
        ScheduledActionName="weekend-floor",
        Schedule="cron(0 8 ? * SAT *)",
        ScalableTargetAction={"MinCapacity": 2},
    )
    return client


def actuator(aws: FaultProxy, target: tuple[str, str, str] = SAGEMAKER) -> Any:
    config = {
        "region": REGION,
        "endpoint_url": aws.url,
        "service_namespace": target[0],
        "resource_id": target[1],
    }
    return ApplicationAutoScalingActuator(ApplicationAutoScalingConfig.model_validate(config), FAST)


def capacity(client: Any, target: tuple[str, str, str] = SAGEMAKER) -> tuple[int, int]:
    found = client.describe_scalable_targets(
        ServiceNamespace=target[0], ResourceIds=[target[1]], ScalableDimension=target[2]
    )["ScalableTargets"][0]
    return found["MinCapacity"], found["MaxCapacity"]


def scheduled(client: Any, target: tuple[str, str, str] = SAGEMAKER) -> dict[str, Any]:
    listed = client.describe_scheduled_actions(
        ServiceNamespace=target[0], ResourceId=target[1], ScalableDimension=target[2]
    )["ScheduledActions"]
    return {a["ScheduledActionName"]: a for a in listed}


def test_sagemaker_variant_follows_the_plan_with_at_schedules(
    aws: FaultProxy, scaling: Any
) -> None:
    plan = window(3, points=[(1, 5), (2, 2)], hours=6)
    result = actuator(aws).apply(plan, dry_run=False)
    assert result.outcome == "applied", result.error
    assert capacity(scaling) == (3, 8)
    actions = scheduled(scaling)
    assert "weekend-floor" in actions
    ours = {k: v for k, v in actions.items() if k.startswith("forecaster-")}
    assert ours.pop("forecaster-restore")["ScalableTargetAction"]["MinCapacity"] == 1
    assert sorted(a["ScalableTargetAction"]["MinCapacity"] for a in ours.values()) == [2, 5]
    for action in ours.values():
        assert action["Schedule"].startswith("at(") and action["Timezone"] == "UTC"
    # the same plan again writes nothing
    aws.calls.clear()
    assert actuator(aws).apply(plan, dry_run=False).outcome == "unchanged"
    assert [op for op, _ in aws.calls if not op.startswith("Describe")] == []


def test_ecs_service_and_restore_on_a_stale_plan(aws: FaultProxy, scaling: Any) -> None:
    actuator(aws, ECS).apply(window(4, points=[(1, 6)], hours=6), dry_run=False)
    assert capacity(scaling, ECS) == (4, 8)
    assert capacity(scaling) == (1, 8)  # the other target is untouched
    result = actuator(aws, ECS).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert result.outcome == "restored"
    assert capacity(scaling, ECS) == (1, 8)
    assert [k for k in scheduled(scaling, ECS) if k.startswith("forecaster-")] == []
    assert "weekend-floor" in scheduled(scaling)


def test_throttled_put_is_retried(aws: FaultProxy, scaling: Any) -> None:
    aws.fail("PutScheduledAction", 400, "ThrottlingException", times=2)
    result = actuator(aws).apply(window(3, points=[(1, 5)], hours=6), dry_run=False)
    assert result.outcome == "applied", result.error
    assert aws.operations("PutScheduledAction")[:3] == [400, 400, 200]


def test_a_put_refused_part_way_records_the_actions_already_written(
    aws: FaultProxy, scaling: Any
) -> None:
    """Found by a QA pass: the record said nothing was written while the first actions were on
    AWS, and would fire."""
    aws.slow("PutScheduledAction", 0.0, times=2)  # the first two land
    aws.fail("PutScheduledAction", 400, "AccessDeniedException", times=1)
    result = actuator(aws).apply(window(3, points=[(1, 5), (2, 2)], hours=6), dry_run=False)
    assert result.outcome == "failed"
    written = {k for k in scheduled(scaling) if k.startswith("forecaster-")}
    assert len(written) == 2 and set(result.after["actions"]) == written
    assert "partly applied" in result.notes[-1]


def test_one_refused_action_leaves_the_others_and_the_floor_now_set(
    aws: FaultProxy, scaling: Any
) -> None:
    """QA: a refused scheduled action (a start time past by AWS's clock) kept the floor now
    from being set; AWS refuses each PutScheduledAction on its own."""
    aws.slow("PutScheduledAction", 0.0, times=1)  # the restore lands
    aws.fail("PutScheduledAction", 400, "ValidationException", times=1)
    result = actuator(aws).apply(window(3, points=[(1, 5), (2, 2)], hours=6), dry_run=False)
    assert result.outcome == "failed" and "AWS refused 1 scheduled actions" in (result.error or "")
    assert capacity(scaling) == (3, 8)
    written = {k for k in scheduled(scaling) if k.startswith("forecaster-")}
    assert len(written) == 2 and set(result.after["actions"]) == written
    assert result.after["MinCapacity"] == 3


def test_unregistered_target_is_a_clear_failure(aws: FaultProxy, scaling: Any) -> None:
    ghost = ("sagemaker", "endpoint/ghost/variant/AllTraffic", SAGEMAKER[2])
    result = actuator(aws, ghost).apply(window(3), dry_run=False)
    assert result.outcome == "failed"
    assert "not a registered scalable target" in (result.error or "")


def test_credentials_found_in_part_are_named_as_such(
    aws: FaultProxy, scaling: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore raises it making the client, before any call is worded: it was its bare
    "PartialCredentialsError: Partial credentials found in env, ..." (the ASG's twin)."""
    for key in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    result = actuator(aws).apply(window(3), dry_run=False)
    assert result.outcome == "failed" and aws.calls == [] and result.attempts == 0
    assert (result.error or "").startswith("credentials incomplete: ")
    assert capacity(scaling) == (1, 8)


def test_resource_id_must_match_the_namespace() -> None:
    with pytest.raises(ValidationError, match="endpoint/<endpoint>/variant/<variant>"):
        ApplicationAutoScalingConfig.model_validate(
            {"region": REGION, "service_namespace": "sagemaker", "resource_id": "service/a/b"}
        )


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest",  # the instance's metadata service
        "https://collector.example.com",
        "http://autoscaling.us-east-1.amazonaws.com",  # AWS, but in the clear
        "https://amazonaws.com.example.net",
        "file:///etc/passwd",
        # urllib3 reads these hosts as 127.0.0.2 and evil.example (review): no '\\' or '@'
        "http://127.0.0.2:18190\\@localhost:4566",
        "https://evil.example\\@autoscaling.eu-west-1.amazonaws.com",
        "https://user@autoscaling.eu-west-1.amazonaws.com",
        "http://127.0.0.1.nip.io:4566",  # a name: it resolves where its owner likes
        "http://0.0.0.0:4566",
    ],
)
def test_calls_carrying_credentials_go_only_to_aws_or_an_emulator_here(endpoint: str) -> None:
    """The endpoint comes over the API and calls are signed with the server's credentials: a
    security review had a session token sent to an address of its choosing."""
    config = {"region": REGION, "service_namespace": "ecs", "resource_id": "service/a/b"}
    with pytest.raises(ValidationError, match="endpoint_url"):
        ApplicationAutoScalingConfig.model_validate(config | {"endpoint_url": endpoint})
    for allowed in (
        "https://application-autoscaling.eu-west-1.amazonaws.com",
        "https://vpce-0a1b-x.application-autoscaling.us-east-1.vpce.amazonaws.com",
        "http://localhost:4566",
        "http://127.0.0.2:4566",  # any loopback address, as `serve` judges its host
        "http://[::1]:4566",
    ):
        ApplicationAutoScalingConfig.model_validate(config | {"endpoint_url": allowed})
