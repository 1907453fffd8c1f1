"""aws-autoscaling-group through boto3 against moto server mode on loopback, via a fault proxy."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from forecaster.actuators.aws_autoscaling_group import AutoScalingGroupActuator
from forecaster.actuators.schedule import align_down
from forecaster.actuators.window import ChangePoint, PlanStatus, PlanWindow
from tests.actuators.conftest import FAST, window
from tests.fakes.aws_faults import FaultProxy

REGION = "us-east-1"


@pytest.fixture
def asg(aws: FaultProxy) -> Any:
    client = boto3.client("autoscaling", region_name=REGION, endpoint_url=aws.upstream)
    client.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    client.create_auto_scaling_group(
        AutoScalingGroupName="gpu",
        LaunchConfigurationName="lc",
        MinSize=2,
        MaxSize=10,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
    )
    # someone else's action on the same group: never ours to touch
    client.put_scheduled_update_group_action(
        AutoScalingGroupName="gpu",
        ScheduledActionName="nightly-batch",
        Recurrence="0 1 * * *",
        MinSize=3,
        MaxSize=10,
    )
    return client


def actuator(aws: FaultProxy, **config: Any) -> AutoScalingGroupActuator:
    settings = {"region": REGION, "endpoint_url": aws.url, "group": "gpu", **config}
    return AutoScalingGroupActuator(
        AutoScalingGroupActuator.config_model.model_validate(settings), FAST
    )


def group(asg: Any) -> dict[str, Any]:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=["gpu"])["AutoScalingGroups"][0]


def actions(asg: Any) -> dict[str, dict[str, Any]]:
    listed = asg.describe_scheduled_actions(AutoScalingGroupName="gpu")
    return {a["ScheduledActionName"]: a for a in listed["ScheduledUpdateGroupActions"]}


def ours(asg: Any) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in actions(asg).items() if k.startswith("forecaster-")}


def wiggle_after(points: list[ChangePoint]) -> list[ChangePoint]:
    last = points[-1]
    return [
        ChangePoint(last.at + (k + 1) * timedelta(minutes=45), 3 + (k % 2) * 3) for k in range(20)
    ]


def busy_plan(**profile: Any) -> PlanWindow:
    return window(4, points=[(1, 6), (2, 9), (3, 5), (4, 3)], hours=6, **profile)


def test_sets_the_floor_now_and_schedules_the_change_points(aws: FaultProxy, asg: Any) -> None:
    plan = busy_plan()
    result = actuator(aws).apply(plan, dry_run=False)
    assert result.outcome == "applied", result.error
    assert group(asg)["MinSize"] == 4 and group(asg)["MaxSize"] == 10
    scheduled = ours(asg)
    restore = scheduled.pop("forecaster-restore")
    assert (restore["MinSize"], restore["MaxSize"]) == (2, 10)  # remembers the baseline
    points = sorted((a["StartTime"], a["MinSize"]) for a in scheduled.values())
    assert [m for _, m in points] == [6, 9, 5, 3]
    for start, _ in points:
        assert start.astimezone(UTC) > plan.now  # AWS takes only future start times
    first = min(s for s, _ in points).astimezone(UTC)
    assert first <= plan.now.replace(microsecond=0) + (plan.change_points[1].at - plan.now)
    assert "nightly-batch" in actions(asg)
    assert aws.operations("BatchPutScheduledUpdateGroupAction") == [200]


def test_the_same_plan_again_writes_nothing(aws: FaultProxy, asg: Any) -> None:
    plan = busy_plan()
    actuator(aws).apply(plan, dry_run=False)
    aws.calls.clear()
    again = actuator(aws).apply(plan, dry_run=False)
    assert again.outcome == "unchanged", again.notes
    writes = [op for op, _ in aws.calls if not op.startswith("Describe")]
    assert writes == []


def test_a_restore_that_cannot_delete_the_plans_rises_leaves_the_plan_whole(
    aws: FaultProxy, asg: Any
) -> None:
    """The group went back to its baseline, then the delete of our actions was throttled
    past the retries: the plan's rises stayed scheduled and would fire on it."""
    actuator(aws).apply(window(4, points=[(1, 6), (2, 9)], hours=6), dry_run=False)
    aws.fail("BatchDeleteScheduledAction", 400, "Throttling", times=3)
    failed = actuator(aws).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert failed.outcome == "failed"
    assert group(asg)["MinSize"] == 4 and len(ours(asg)) == 3  # as the plan left it
    restored = actuator(aws).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert restored.outcome == "restored" and group(asg)["MinSize"] == 2 and not ours(asg)


def test_no_plan_action_shares_the_restores_time(aws: FaultProxy, asg: Any) -> None:
    """A rise in the last, partial 15-minute block before the plan ends: its block starts
    where the restore action does, two actions at one time in an undefined order."""
    actuator(aws).apply(window(4, points=[(6 - 1 / 3600, 8)], hours=6), dry_run=False)
    times = [action["StartTime"] for action in ours(asg).values()]
    assert "forecaster-restore" in ours(asg) and len(times) == len(set(times))


def test_a_new_plan_replaces_our_actions_and_deletes_stale_ones(aws: FaultProxy, asg: Any) -> None:
    actuator(aws).apply(busy_plan(), dry_run=False)
    old = set(ours(asg))
    actuator(aws).apply(window(3, points=[(2.5, 7)], hours=6), dry_run=False)
    new = ours(asg)
    assert sorted(a["MinSize"] for k, a in new.items() if k != "forecaster-restore") == [7]
    assert old - set(new), "stale actions were deleted"
    assert group(asg)["MinSize"] == 3
    assert "nightly-batch" in actions(asg)


def test_a_stale_plan_restores_the_baseline_and_removes_our_actions(
    aws: FaultProxy, asg: Any
) -> None:
    actuator(aws).apply(busy_plan(), dry_run=False)
    result = actuator(aws).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert result.outcome == "restored"
    assert (group(asg)["MinSize"], group(asg)["MaxSize"]) == (2, 10)
    assert ours(asg) == {} and "nightly-batch" in actions(asg)
    again = actuator(aws).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert again.outcome == "unchanged"


def test_many_change_points_fit_the_batch_and_group_limits(aws: FaultProxy, asg: Any) -> None:
    # a floor alternating every 45 minutes on the 15-minute grid for 40 hours
    plan = window(3, hours=48)
    base = align_down(plan.now, timedelta(minutes=15)) + timedelta(hours=1)
    wiggle = [ChangePoint(base + k * timedelta(minutes=45), 3 + (k % 2) * 3) for k in range(53)]
    plan = replace(plan, change_points=(plan.change_points[0], *wiggle))
    result = actuator(aws, horizon_hours=48, max_actions=100, hold_seconds=900).apply(
        plan, dry_run=False
    )
    assert result.outcome == "applied", result.error
    # one other action on the group: ours may use at most (125 - 1) // 2 = 62
    # 52 changes (the first point repeats the floor in force) and the restore action
    assert len(ours(asg)) == 53
    assert aws.operations("BatchPutScheduledUpdateGroupAction") == [200, 200]  # 50 + 3
    # with one other action on the group ours may use at most (125 - 1) // 2 = 62
    crowded = replace(plan, change_points=(plan.change_points[0], *wiggle, *wiggle_after(wiggle)))
    actuator(aws, horizon_hours=48, max_actions=100).apply(crowded, dry_run=False)
    assert len(ours(asg)) <= 62 and "nightly-batch" in actions(asg)


def test_max_size_is_honored_or_raised_within_the_buffer(aws: FaultProxy, asg: Any) -> None:
    honored = actuator(aws).apply(window(30), dry_run=False)
    assert (group(asg)["MinSize"], group(asg)["MaxSize"]) == (10, 10)
    assert any("honor" in n for n in honored.notes)
    actuator(aws).apply(
        window(30, max_capacity_breach="increase", max_capacity_buffer_pct=50), dry_run=False
    )
    assert (group(asg)["MinSize"], group(asg)["MaxSize"]) == (15, 15)
    assert ours(asg)["forecaster-restore"]["MaxSize"] == 10
    actuator(aws).apply(window(None, status=PlanStatus.DISABLED), dry_run=False)
    assert (group(asg)["MinSize"], group(asg)["MaxSize"]) == (2, 10)


def test_scheduled_rises_never_set_desired_capacity(aws: FaultProxy, asg: Any) -> None:
    """A scheduled action's DesiredCapacity is what the group is set to when it fires: a rise
    to 8 carrying it would cut a group its own policies had taken to 15. Raising MinSize
    alone lifts a lower desired capacity, so the option only touches the update made now."""
    actuator(aws, set_desired_capacity=True).apply(
        window(4, points=[(1, 8), (2, 3)], hours=6), dry_run=False
    )
    assert all("DesiredCapacity" not in action for action in ours(asg).values())
    assert {a["MinSize"] for a in ours(asg).values()} >= {8, 3}
    assert group(asg)["DesiredCapacity"] >= 4


def test_dry_run_shows_the_schedule_and_writes_nothing(aws: FaultProxy, asg: Any) -> None:
    result = actuator(aws).apply(busy_plan(), dry_run=True)
    assert result.outcome == "applied"
    assert result.after["MinSize"] == 4 and len(result.after["actions"]) == 5
    assert ours(asg) == {} and group(asg)["MinSize"] == 2


def test_missing_group_is_recorded_as_not_found(aws: FaultProxy) -> None:
    result = actuator(aws, group="ghost").apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and (result.error or "").find("not found") >= 0


def test_throttling_and_5xx_are_retried(aws: FaultProxy, asg: Any) -> None:
    aws.fail("BatchPutScheduledUpdateGroupAction", 400, "Throttling", times=1)
    aws.fail("UpdateAutoScalingGroup", 503, "ServiceUnavailable", times=1)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "applied", result.error
    assert aws.operations("BatchPutScheduledUpdateGroupAction") == [400, 200]
    assert aws.operations("UpdateAutoScalingGroup") == [503, 200]
    assert group(asg)["MinSize"] == 4


def test_a_failure_midway_leaves_the_group_at_its_baseline_with_a_restore_scheduled(
    aws: FaultProxy, asg: Any
) -> None:
    aws.fail("UpdateAutoScalingGroup", 500, "InternalFailure", times=10)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and "InternalFailure" in (result.error or "")
    assert len(aws.operations("UpdateAutoScalingGroup")) == 3  # the retry budget
    assert group(asg)["MinSize"] == 2  # the baseline, not something in between
    assert ours(asg)["forecaster-restore"]["MinSize"] == 2  # the dead-man's switch exists
    assert any("written" in note for note in result.notes)  # the record says what was done
    # ... and holds it: the written actions are in 'after' (QA: it read as nothing done)
    assert set(result.after["actions"]) == set(ours(asg)) != set(result.before["actions"])
    assert result.after["MinSize"] == 2 and "partly applied" in result.notes[-1]


def test_refused_credentials_are_named_plainly_and_not_retried(aws: FaultProxy, asg: Any) -> None:
    aws.fail("UpdateAutoScalingGroup", 403, "AccessDenied", times=5)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert aws.operations("UpdateAutoScalingGroup") == [403]
    assert (result.error or "").startswith(
        "forbidden: the credentials may not update capacity us-east-1/gpu (AccessDenied: "
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ExpiredToken"),
        (403, "InvalidClientTokenId"),
        (403, "SignatureDoesNotMatch"),
        (400, "InvalidSignatureException"),  # the JSON protocols' word for it
    ],
)
def test_credentials_aws_does_not_accept_are_named_as_such_and_not_retried(
    aws: FaultProxy, asg: Any, status: int, code: str
) -> None:
    """An expired token read "forbidden: the credentials may not ...", sending the operator to
    the IAM policy; a wrong secret was a plain "failed" (QA)."""
    aws.fail("DescribeAutoScalingGroups", status, code, times=5)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed"
    assert aws.operations("DescribeAutoScalingGroups") == [status]
    assert result.error == (
        "credentials refused: AWS does not accept them (expired, revoked, unknown or a wrong "
        f"secret); renew them (describe us-east-1/gpu: {code}: injected fault)"
    )
    assert group(asg)["MinSize"] == 2


def test_no_credentials_at_all_are_named_as_such(
    aws: FaultProxy, asg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read "describe us-east-1/gpu: NoCredentialsError: Unable to locate credentials"."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and aws.calls == []
    assert result.error == (
        "no AWS credentials: none in the environment, the shared files or an instance or pod "
        "role, so nothing was sent to describe us-east-1/gpu"
    )


def test_credentials_found_in_part_are_named_as_such(
    aws: FaultProxy, asg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key id alone read "PartialCredentialsError: Partial credentials found in env, missing:
    AWS_SECRET_ACCESS_KEY": botocore raises it making the client, before any call is worded."""
    for key in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and aws.calls == [] and result.attempts == 0
    assert result.error == (
        "credentials incomplete: some parts of the AWS credentials are set but not all; set the "
        "missing one, or unset the others so the next source in the chain is used "
        "(us-east-1/gpu: PartialCredentialsError: Partial credentials found in env, missing: "
        "AWS_SECRET_ACCESS_KEY)"
    )


def test_a_profile_not_in_the_config_files_is_named_as_a_credentials_problem(
    aws: FaultProxy, asg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and aws.calls == [] and result.attempts == 0
    error = result.error or ""
    assert error.startswith("credentials profile not found: ")
    assert "AWS_PROFILE (or AWS_DEFAULT_PROFILE); name one they hold, or add it" in error
    assert error.endswith("ProfileNotFound: The config profile (nope) could not be found)")


def test_a_failing_credential_source_is_named_as_such_and_run_once(
    aws: FaultProxy, asg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    script = tmp_path / "credentials.sh"
    script.write_text(f"#!/bin/sh\necho run >> {runs}\necho 'token expired' >&2\nexit 1\n")
    script.chmod(0o755)
    failing = from_credential_process(aws, tmp_path, monkeypatch, str(script))
    result = failing.apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and aws.calls == [] and result.attempts == 0
    assert runs.read_text() == "run\n"  # not retried
    error = result.error or ""
    assert error.startswith("credentials not fetched: their source failed (")
    assert "fix it or renew what it holds" in error and "CredentialRetrievalError: " in error


def test_a_client_setting_botocore_refuses_is_not_called_a_credentials_problem(
    aws: FaultProxy, asg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore raises InvalidConfigError for a bad credential setting and for a bad setting of
    the client alike: a blank AWS_CA_BUNDLE read "credentials misconfigured: ... its credential
    settings cannot be followed", with the credentials in the environment sound."""
    monkeypatch.setenv("AWS_CA_BUNDLE", " ")
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and aws.calls == []
    error = result.error or ""
    assert not error.startswith("credentials"), error
    assert error.startswith("InvalidConfigError: Invalid CA bundle")


def test_a_dry_run_says_what_it_would_write(aws: FaultProxy, asg: Any) -> None:
    result = actuator(aws).apply(busy_plan(), dry_run=True)
    assert ours(asg) == {} and group(asg)["MinSize"] == 2
    assert any(note.endswith("scheduled actions would be written") for note in result.notes)


def test_a_timed_out_update_that_landed_is_retried_harmlessly(aws: FaultProxy, asg: Any) -> None:
    aws.slow("UpdateAutoScalingGroup", delay=4.0)
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "applied", result.error
    assert group(asg)["MinSize"] == 4
    # describe group, describe actions, put actions, update (timed out), update again
    assert result.attempts == 5


def test_names_and_times_are_utc() -> None:
    plan = busy_plan()
    assert plan.now.tzinfo is not None and plan.now.utcoffset() == datetime.now(UTC).utcoffset()


def test_the_restore_fires_when_the_plan_stops_being_trusted(aws: FaultProxy, asg: Any) -> None:
    """A plan pushed minutes before its data reaches the age limit scheduled rises and falls
    for the next 12 hours, and the restore after them: a forecaster that died then left a
    stale plan driving the group all that time."""
    plan = window(4, points=[(2, 12), (6, 3)], hours=24)
    trusted_until = plan.now + timedelta(minutes=50)
    actuator(aws).apply(replace(plan, trusted_until=trusted_until), dry_run=False)
    scheduled = ours(asg)
    restore = scheduled.pop("forecaster-restore")
    assert restore["StartTime"].astimezone(UTC) <= trusted_until
    assert (restore["MinSize"], restore["MaxSize"]) == (2, 10)
    assert scheduled == {}  # no rise to 12 left to fire on a plan nobody trusts any more


def test_a_capped_ramp_is_not_undone_by_the_first_scheduled_action(
    aws: FaultProxy, asg: Any
) -> None:
    """The push raised the floor to 5 ahead of a rise to 10 under a cap of 2, and the first
    scheduled action took it back to the plan's 3, then climbed from there a step late."""
    plan = window(5, points=[(0.5, 3), (1.5, 10)], hours=6, max_step_up=2)
    actuator(aws).apply(plan, dry_run=False)
    scheduled = sorted(
        (a for name, a in ours(asg).items() if name != "forecaster-restore"),
        key=lambda a: a["StartTime"],
    )
    mins = [a["MinSize"] for a in scheduled]
    climb = mins[: 1 + mins.index(10)]
    assert group(asg)["MinSize"] == 4  # 2 + the cap, now
    assert climb[0] > 4 and climb == sorted(climb), mins
    assert all(b - a <= 2 for a, b in zip([4, *climb], climb, strict=False))


def aws_clock_ahead(by: timedelta) -> Any:
    """AWS's answer to a start time already past by its clock, ``by`` ahead of ours."""

    def refuse(name: str, start: datetime) -> str | None:
        late = start <= datetime.now(UTC) + by
        return "Given start time is in the past" if late else None

    return refuse


def test_an_action_already_due_by_awss_clock_is_set_now_and_blocks_nothing(
    aws: FaultProxy, asg: Any
) -> None:
    """QA: forecaster's clock behind AWS's, the first action was refused as past and the
    group stayed at its baseline 2, though the plan's floor then was 6 (then 8)."""
    plan = window(6, points=[(0.5, 8), (1.5, 9)], hours=6)
    aws.refuse = aws_clock_ahead(timedelta(minutes=31))
    result = actuator(aws).apply(plan, dry_run=False)
    assert result.outcome == "applied", result.error
    assert group(asg)["MinSize"] == 8  # the refused action's floor, due now by AWS's clock
    assert sorted(a["MinSize"] for a in ours(asg).values()) == [2, 9]  # restore, the rise
    assert set(result.after["actions"]) == set(ours(asg)) and result.after["MinSize"] == 8
    assert any("already due" in note for note in result.notes)


def test_refused_later_actions_leave_the_floor_now_set_and_are_recorded_as_refused(
    aws: FaultProxy, asg: Any
) -> None:
    plan = busy_plan()
    late = plan.now + timedelta(hours=2.5)
    aws.refuse = lambda name, at: "Invalid" if at > late and "restore" not in name else None
    result = actuator(aws).apply(plan, dry_run=False)
    assert result.outcome == "failed"
    assert (result.error or "").startswith("AWS refused 2 scheduled actions on us-east-1/gpu: ")
    assert group(asg)["MinSize"] == 4  # the floor now does not wait on the refused ones
    assert set(result.after["actions"]) == set(ours(asg)) != set(result.before["actions"])
    assert sorted(a["MinSize"] for a in ours(asg).values()) == [2, 6, 9]
    assert result.after["MinSize"] == 4 and "partly applied" in result.notes[-1]


def test_a_refused_restore_action_keeps_the_group_at_its_baseline(
    aws: FaultProxy, asg: Any
) -> None:
    aws.refuse = lambda name, start: "Invalid" if name.endswith("restore") else None
    result = actuator(aws).apply(busy_plan(), dry_run=False)
    assert result.outcome == "failed" and "forecaster-restore" in (result.error or "")
    assert group(asg)["MinSize"] == 2  # no dead-man's switch, so nothing to fall back on


def from_credential_process(
    aws: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> AutoScalingGroupActuator:
    """An actuator whose credentials come only from a profile's ``credential_process``, with
    a credential timeout of one second."""
    config = tmp_path / "aws-config"
    config.write_text(f"[profile ci]\ncredential_process = {command}\n")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ci")
    settings = {"region": REGION, "endpoint_url": aws.url, "group": "gpu"}
    return AutoScalingGroupActuator(
        AutoScalingGroupActuator.config_model.model_validate(settings),
        replace(FAST, credential_timeout=1.0),
    )


def test_a_hung_credential_process_fails_the_target_in_bounded_time(
    aws: FaultProxy, asg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore waits for a ``credential_process`` without a timeout: a hung one held the
    actuate pass, and every service after it (the Kubernetes exec plugin's twin)."""
    hung = from_credential_process(aws, tmp_path, monkeypatch, "sleep 30")
    started = time.monotonic()
    result = hung.apply(busy_plan(), dry_run=False)
    assert time.monotonic() - started < 10
    assert result.outcome == "failed"
    assert "the AWS credential chain (profile ci) gave no answer within 1 s" in (result.error or "")
    assert group(asg)["MinSize"] == 2 and aws.operations("DescribeAutoScalingGroups") == []


def test_credentials_from_a_credential_process_sign_the_calls(
    aws: FaultProxy, asg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = {"Version": 1, "AccessKeyId": "from-process", "SecretAccessKey": "secret"}
    script = tmp_path / "credentials.sh"
    script.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}'\n")
    script.chmod(0o755)
    result = from_credential_process(aws, tmp_path, monkeypatch, str(script)).apply(
        busy_plan(), dry_run=False
    )
    assert result.outcome == "applied", result.error
    assert group(asg)["MinSize"] > 2
