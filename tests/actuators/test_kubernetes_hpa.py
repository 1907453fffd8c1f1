"""kubernetes-hpa through the official client against the fake API server over real HTTP."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest

from forecaster.actuators.base import ActuatorContext
from forecaster.actuators.kube import (
    APPLIED_MAX,
    APPLIED_MIN,
    BASELINE_MAX,
    BASELINE_MIN,
    BASELINE_UNSET,
)
from forecaster.actuators.kubernetes_hpa import KubernetesHpaActuator
from forecaster.actuators.window import PlanStatus
from tests.actuators.conftest import (
    FAST,
    HANGS,
    HPA,
    TOKEN_THEN_HANGS,
    TWO_TOKENS_THEN_HANGS,
    ExecPlugin,
    hpa,
    window,
)
from tests.fakes.kube_api import FakeKubeApi


def actuator(
    kubeconfig: str, context: ActuatorContext = FAST, **config: object
) -> KubernetesHpaActuator:
    settings = {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig, **config}
    model = KubernetesHpaActuator.config_model.model_validate(settings)
    return KubernetesHpaActuator(model, context)


def spec(kube: FakeKubeApi) -> dict[str, object]:
    return kube.get(*HPA, "ml", "chat")["spec"]


def annotations(kube: FakeKubeApi) -> dict[str, str]:
    return kube.get(*HPA, "ml", "chat")["metadata"].get("annotations", {})


def test_a_min_replicas_left_out_of_the_manifest_is_the_servers_default_and_restored(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """The API server writes minReplicas: 1 into an HPA whose manifest leaves it out, so there
    is no field left out to put back (unlike a KEDA ScaledObject's)."""
    left_out = hpa(high=10)
    del left_out["spec"]["minReplicas"]
    kube.add(*HPA, left_out)
    assert spec(kube)["minReplicas"] == 1
    assert actuator(kubeconfig).apply(window(4), dry_run=False).outcome == "applied"
    assert spec(kube)["minReplicas"] == 4 and BASELINE_UNSET not in annotations(kube)
    result = actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert result.outcome == "restored", result.error
    assert (spec(kube)["minReplicas"], spec(kube)["maxReplicas"]) == (1, 10)
    assert annotations(kube) == {"team": "ml"}  # the object's own, ours gone


def test_raises_min_replicas_with_one_merge_patch_remembering_the_baseline(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    stored = kube.add(*HPA, hpa(low=2, high=10))
    result = actuator(kubeconfig).apply(window(6), dry_run=False)

    assert result.outcome == "applied", result.error
    assert result.before["minReplicas"] == 2 and result.after["minReplicas"] == 6
    assert spec(kube)["minReplicas"] == 6 and spec(kube)["maxReplicas"] == 10
    assert annotations(kube) == {  # others' annotations kept
        "team": "ml",
        BASELINE_MIN: "2",
        APPLIED_MIN: "6",
        APPLIED_MAX: "10",
    }
    [get, patch] = kube.requests
    assert (get.method, get.path) == (
        "GET",
        "/apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/chat",
    )
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    assert patch.body["spec"] == {"minReplicas": 6, "maxReplicas": 10}


def test_same_plan_again_changes_nothing(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    actuator(kubeconfig).apply(window(6), dry_run=False)
    again = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert again.outcome == "unchanged"
    assert len(kube.patches()) == 1


def test_lower_floor_follows_the_plan_but_never_below_the_baseline(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=3))
    actuator(kubeconfig).apply(window(8), dry_run=False)
    lower = actuator(kubeconfig).apply(window(5), dry_run=False)
    assert lower.outcome == "applied" and spec(kube)["minReplicas"] == 5
    below = actuator(kubeconfig).apply(window(1), dry_run=False)
    assert spec(kube)["minReplicas"] == 3  # the baseline, so forecaster lets go of the object
    assert BASELINE_MIN not in annotations(kube)
    assert any("below the baseline" in note for note in below.notes)


def test_allow_below_baseline_lets_the_plan_go_lower(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=3))
    result = actuator(kubeconfig, allow_below_baseline=True).apply(window(1), dry_run=False)
    assert result.outcome == "applied"
    assert spec(kube)["minReplicas"] == 1 and annotations(kube)[BASELINE_MIN] == "3"


def test_stale_or_missing_plan_restores_the_baseline(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    actuator(kubeconfig).apply(window(7), dry_run=False)
    for status in (PlanStatus.STALE, PlanStatus.MISSING, PlanStatus.FORECAST_ONLY):
        result = actuator(kubeconfig).apply(window(None, status=status), dry_run=False)
        assert spec(kube)["minReplicas"] == 2
        assert annotations(kube) == {"team": "ml"}
        assert result.outcome in {"restored", "unchanged"}
        assert result.notes[0].startswith("restore baseline")
    # the first restore did the work, the later ones found nothing to undo
    assert [p.status for p in kube.patches()] == [200, 200]


def test_an_untouched_hpa_is_left_alone_without_a_plan(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    result = actuator(kubeconfig).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert result.outcome == "unchanged" and kube.patches() == []


def test_never_exceeds_max_replicas_when_the_profile_honors_it(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2, high=10))
    result = actuator(kubeconfig).apply(window(25), dry_run=False)
    assert spec(kube)["minReplicas"] == 10
    assert spec(kube)["maxReplicas"] == 10
    assert any("capped (honor)" in note for note in result.notes)


def test_raising_max_is_bounded_remembered_and_restored(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2, high=10))
    plan = window(25, max_capacity_breach="increase", max_capacity_buffer_pct=20)
    actuator(kubeconfig).apply(plan, dry_run=False)
    assert (spec(kube)["minReplicas"], spec(kube)["maxReplicas"]) == (12, 12)
    assert annotations(kube)[BASELINE_MAX] == "10"
    actuator(kubeconfig).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert (spec(kube)["minReplicas"], spec(kube)["maxReplicas"]) == (2, 10)
    assert annotations(kube) == {"team": "ml"}


def test_step_per_actuation_is_capped(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2, high=20))
    plan = window(10, max_step_up=3)
    first = actuator(kubeconfig).apply(plan, dry_run=False)
    assert spec(kube)["minReplicas"] == 5 and any("step capped" in n for n in first.notes)
    actuator(kubeconfig).apply(plan, dry_run=False)
    assert spec(kube)["minReplicas"] == 8


def test_a_minimum_someone_else_set_becomes_the_baseline_instead_of_being_overwritten(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """A person raises minReplicas during an incident while a plan holds a floor: the next
    actuation keeps theirs under every plan, and a stale plan restores it, not the old one."""
    kube.add(*HPA, hpa(low=2, high=20))
    actuator(kubeconfig).apply(window(6), dry_run=False)
    kube.modify(*HPA, "ml", "chat", {"minReplicas": 9})

    kept = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert spec(kube)["minReplicas"] == 9 and kept.error is None
    assert any("minReplicas was set to 9 outside forecaster" in note for note in kept.notes)
    actuator(kubeconfig).apply(window(12), dry_run=False)
    assert spec(kube)["minReplicas"] == 12 and annotations(kube)[BASELINE_MIN] == "9"
    actuator(kubeconfig).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert spec(kube)["minReplicas"] == 9 and annotations(kube) == {"team": "ml"}


def test_a_maximum_someone_else_set_while_forecaster_raised_it_is_kept(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2, high=10))
    plan = window(12, max_capacity_breach="increase", max_capacity_buffer_pct=20)
    actuator(kubeconfig).apply(plan, dry_run=False)
    kube.modify(*HPA, "ml", "chat", {"maxReplicas": 30})
    actuator(kubeconfig).apply(plan, dry_run=False)
    assert (spec(kube)["minReplicas"], spec(kube)["maxReplicas"]) == (12, 30)
    actuator(kubeconfig).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert (spec(kube)["minReplicas"], spec(kube)["maxReplicas"]) == (2, 30)


def test_an_edited_baseline_annotation_is_read_or_named(kube: FakeKubeApi, kubeconfig: str) -> None:
    """QA: a baseline annotation edited to "2.0" failed every push and restore with int()'s
    "invalid literal for int() with base 10"."""
    kube.add(*HPA, hpa(low=2, high=20))
    actuator(kubeconfig).apply(window(12), dry_run=False)
    kube.modify(*HPA, "ml", "chat", {}, annotations={BASELINE_MIN: "3.0"})
    actuator(kubeconfig).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert spec(kube)["minReplicas"] == 3

    actuator(kubeconfig).apply(window(12), dry_run=False)
    kube.modify(*HPA, "ml", "chat", {}, annotations={BASELINE_MIN: "two"})
    failed = actuator(kubeconfig).apply(window(None, status=PlanStatus.STALE), dry_run=False)
    assert failed.outcome == "failed" and spec(kube)["minReplicas"] == 12
    assert f"annotation {BASELINE_MIN} holds 'two', not a replica count" in (failed.error or "")


def test_dry_run_shows_the_diff_and_writes_nothing(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    result = actuator(kubeconfig).apply(window(6), dry_run=True)
    assert result.outcome == "applied" and result.changed
    assert result.before["minReplicas"] == 2 and result.after["minReplicas"] == 6
    assert result.after["annotations"] == {BASELINE_MIN: "2", APPLIED_MIN: "6", APPLIED_MAX: "10"}
    assert kube.patches() == [] and spec(kube)["minReplicas"] == 2


def test_a_conflicting_write_is_re_read_and_recomputed(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    # someone else (kubectl apply) sets minReplicas to 4 between our GET and our PATCH
    kube.before_patch.append(lambda: kube.modify(*HPA, "ml", "chat", {"minReplicas": 4}))
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert [p.status for p in kube.patches()] == [409, 200]
    assert result.outcome == "applied"
    assert spec(kube)["minReplicas"] == 6
    assert annotations(kube)[BASELINE_MIN] == "4"  # the baseline is what the object held
    assert any("409" in note for note in result.notes)


def test_forbidden_is_recorded_with_a_clear_reason_and_not_retried(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2))
    kube.forbid("patch", "horizontalpodautoscalers")
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "failed"
    assert result.error is not None and result.error.startswith("forbidden:")
    assert "cannot patch" in result.error
    assert [p.status for p in kube.patches()] == [403]
    assert spec(kube)["minReplicas"] == 2


def test_missing_hpa_is_recorded_as_not_found(kube: FakeKubeApi, kubeconfig: str) -> None:
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "failed"
    assert result.error is not None and result.error.startswith("not found:")
    assert [r.method for r in kube.requests] == ["GET"]


def test_server_errors_are_retried_with_backoff(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    kube.fail("PATCH", 503, times=2)
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "applied"
    assert [p.status for p in kube.patches()] == [503, 503, 200]
    assert result.attempts == 4  # one GET, three PATCHes
    assert spec(kube)["minReplicas"] == 6


def test_persistent_server_errors_fail_and_leave_the_baseline(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2))
    kube.fail("PATCH", 500, times=10)
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "failed" and "500" in (result.error or "")
    assert len(kube.patches()) == 3
    assert spec(kube)["minReplicas"] == 2 and BASELINE_MIN not in annotations(kube)


def test_a_timed_out_patch_that_landed_is_confirmed_not_doubled(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2))
    kube.slow("PATCH", delay=4.0)  # applied on the server, answered after the client gave up
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "applied", result.error
    assert spec(kube)["minReplicas"] == 6
    assert annotations(kube)[BASELINE_MIN] == "2"  # not overwritten with the raised value


def test_a_timed_out_patch_that_landed_is_no_base_for_a_second_step_up(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Its retry meets a 409 (our own write moved the resourceVersion) and the object is read
    again: the step cap still counts from what this actuation found (2 -> 5, not -> 8)."""
    kube.add(*HPA, hpa(low=2, high=50))
    kube.slow("PATCH", delay=4.0)
    result = actuator(kubeconfig).apply(window(20, max_step_up=3), dry_run=False)
    assert result.outcome == "applied", result.error
    assert spec(kube)["minReplicas"] == 5


def test_a_failed_actuation_whose_patch_landed_audits_what_the_object_holds(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Every answer to the PATCH and its retries timed out, but the first one landed: the
    record said the object still held 2 while it held 6."""
    kube.add(*HPA, hpa(low=2))
    kube.slow("PATCH", delay=4.0, times=10)
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "failed" and "Timeout" in (result.error or "")
    assert spec(kube)["minReplicas"] == 6
    assert result.before["minReplicas"] == 2 and result.after["minReplicas"] == 6
    assert "partly applied: 'after' is what the object holds now" in result.notes


def test_timeouts_on_every_read_fail_cleanly(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2))
    kube.slow("GET", delay=4.0, times=3)
    result = actuator(kubeconfig).apply(window(6), dry_run=False)
    assert result.outcome == "failed" and "Timeout" in (result.error or "")
    assert spec(kube)["minReplicas"] == 2


def test_a_cluster_that_timed_out_is_not_waited_on_again_in_the_same_pass(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """QA: each HPA on a hung cluster cost ~43 s, one after another: seven of them and the
    5-minute pass pushed every healthy service after them late."""
    for name in ("chat", "search"):
        kube.add(*HPA, hpa(name=name, low=2))
    one_pass = replace(FAST, read_timeout=0.5, unreachable=set())
    ghost = actuator(kubeconfig, one_pass, name="ghost").apply(window(6), dry_run=False)
    kube.slow("GET", delay=2.0, times=3)
    chat = actuator(kubeconfig, one_pass).apply(window(6), dry_run=False)
    search = actuator(kubeconfig, one_pass, name="search").apply(window(6), dry_run=False)

    assert ghost.error is not None and ghost.error.startswith("not found:")  # the object's fault
    assert chat.outcome == "failed" and "Timeout" in (chat.error or "") and chat.attempts == 3
    assert search.outcome == "failed" and search.attempts == 0
    assert search.error == (
        f"UnreachableError: cluster {kube.url} unreachable earlier in this pass (timed out or "
        "refused): not tried again until the next"
    )
    assert len(kube.requests) == 4  # ghost's GET and chat's three
    next_pass = replace(one_pass, unreachable=set())
    retried = actuator(kubeconfig, next_pass, name="search").apply(window(6), dry_run=False)
    assert retried.outcome == "applied", retried.error


def test_a_kubeconfig_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """QA: a missing kubeconfig was recorded as "Invalid kube-config file. No configuration
    found." without saying which file was read."""
    missing = f"{tmp_path}/nowhere/kubeconfig"
    result = actuator(missing).apply(window(6), dry_run=False)
    assert result.outcome == "failed"
    assert f"kubeconfig {missing}: " in (result.error or "")


def test_a_kubeconfig_that_is_no_regular_file_is_not_loaded(
    kube: FakeKubeApi, kubeconfig: str, tmp_path: Path
) -> None:
    """A profile's kubeconfig path comes over the API and the file's exec plugin runs: a
    security review had an open temporary file (``/proc/self/fd/N``) loaded as one, and a
    FIFO hung every actuation."""
    kube.add(*HPA, hpa(low=2))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    linked = tmp_path / "linked"
    linked.symlink_to(kubeconfig)  # a link to a real kubeconfig is still one
    with tempfile.TemporaryFile() as upload:  # as a request's spooled file: no name on disk
        upload.write(Path(kubeconfig).read_bytes())
        upload.flush()
        descriptor = f"/proc/self/fd/{upload.fileno()}"
        for refused in (str(fifo), descriptor, str(tmp_path)):
            result = actuator(refused).apply(window(6), dry_run=True)
            assert result.outcome == "failed"
            assert f"kubeconfig {refused}: not a regular file" in (result.error or "")
    linked_result = actuator(str(linked)).apply(window(6), dry_run=True)
    assert linked_result.outcome != "failed", linked_result.error


PLUGIN_WAIT = replace(FAST, credential_timeout=1.0)


@pytest.mark.timeout(30)  # the client waits for the plugin forever
def test_a_hung_credential_plugin_fails_the_target_in_bounded_time_and_is_not_run_twice(
    kube: FakeKubeApi, exec_plugin: ExecPlugin
) -> None:
    """QA: a kubeconfig whose exec plugin hung (an auth helper whose token endpoint
    blackholed) held the actuate pass, and every service after it, until a restart."""
    kube.add(*HPA, hpa(low=2))
    hung = exec_plugin.kubeconfig(HANGS)

    started = time.monotonic()
    first = actuator(hung, PLUGIN_WAIT).apply(window(6), dry_run=False)
    took = time.monotonic() - started
    again = actuator(hung, PLUGIN_WAIT).apply(window(6), dry_run=False)

    assert first.outcome == "failed" and 1.0 <= took < 5
    assert f"credential plugin of kubeconfig {hung} gave no answer within 1 s" in (
        first.error or ""
    )
    # still running: the next actuation fails at once instead of starting another one
    assert again.outcome == "failed" and "still running from an earlier call" in (again.error or "")
    assert len(exec_plugin.runs()) == 1
    assert kube.requests == [] and spec(kube)["minReplicas"] == 2


@pytest.mark.timeout(30)
def test_a_credential_plugin_that_hangs_on_token_refresh_fails_the_call_in_bounded_time(
    kube: FakeKubeApi, exec_plugin: ExecPlugin
) -> None:
    """The client runs the plugin again, inside an API call, once its token has expired."""
    kube.add(*HPA, hpa(low=2))
    expiring = exec_plugin.kubeconfig(TOKEN_THEN_HANGS)

    result = actuator(expiring, PLUGIN_WAIT).apply(window(6), dry_run=False)

    assert result.outcome == "failed" and result.attempts == 1  # not retried
    assert "gave no answer within 1 s" in (result.error or "")
    assert len(exec_plugin.runs()) == 2
    assert spec(kube)["minReplicas"] == 2


@pytest.mark.timeout(30)
def test_a_refresh_after_the_first_request_is_bounded_too(
    kube: FakeKubeApi, exec_plugin: ExecPlugin
) -> None:
    """Review: the client sets its own refresh hook again at each refresh, so the bounded one
    held for the first request only; the patch after the read waited for the plugin."""
    kube.add(*HPA, hpa(low=2))
    expiring = exec_plugin.kubeconfig(TWO_TOKENS_THEN_HANGS)

    result = actuator(expiring, PLUGIN_WAIT).apply(window(6), dry_run=False)

    assert result.outcome == "failed" and "gave no answer within 1 s" in (result.error or "")
    assert len(exec_plugin.runs()) == 3  # the load, the read's refresh, the patch's
    assert spec(kube)["minReplicas"] == 2
