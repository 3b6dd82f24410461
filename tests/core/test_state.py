"""reduce() and decide(): pure, so tested as tables of events and the actions they lead to."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from devloop.core import events as ev
from devloop.core.changes import SyncCopy
from devloop.core.plan import CancelBuild, StartBuild, StartDeploy, StartSync, decide
from devloop.core.spec import AppSpec, BuildSpec, Language, SyncRule
from devloop.core.state import EngineState, Phase, reduce, why_not_serving

SRC = Path("/src")


def spec(name: str = "web", depends_on: tuple[str, ...] = (), sync: bool = True) -> AppSpec:
    rules = (SyncRule("*.py", "/app"),) if sync else ()
    return AppSpec(name, SRC, BuildSpec(SRC, language=Language.PYTHON), depends_on=depends_on, sync=rules)


def run(state: EngineState, *events: ev.Event) -> EngineState:
    for event in events:
        state = reduce(state, event)
    return state


def deployed(state: EngineState, app: str = "web", image: str = "img:1") -> EngineState:
    return run(
        state,
        ev.PlatformReady("test"),
        ev.BuildStarted(app),
        ev.BuildSucceeded(app, image, 1.0, False),
        ev.DeployStarted(app, image),
        ev.DeploySucceeded(app, image, "http://127.0.0.1:8080", 0.0),
    )


def test_first_build_starts_before_the_platform_is_ready() -> None:
    state = EngineState.initial((spec(),))
    assert decide(state) == [StartBuild("web")]


def test_deploy_waits_for_the_platform() -> None:
    state = run(
        EngineState.initial((spec(),)), ev.BuildStarted("web"), ev.BuildSucceeded("web", "img:1", 1, False)
    )
    assert decide(state) == []
    assert decide(reduce(state, ev.PlatformReady("docker"))) == [StartDeploy("web", "img:1")]


def test_builds_run_in_parallel_up_to_the_limit() -> None:
    state = EngineState.initial((spec("a"), spec("b"), spec("c")))
    assert decide(state, max_parallel_builds=2) == [StartBuild("a"), StartBuild("b")]


def test_dependencies_deploy_first() -> None:
    state = EngineState.initial((spec("web", depends_on=("db",)), spec("db")))
    state = run(
        state,
        ev.PlatformReady("x"),
        ev.BuildStarted("web"), ev.BuildSucceeded("web", "w:1", 1, False),
        ev.BuildStarted("db"), ev.BuildSucceeded("db", "d:1", 1, False),
    )  # fmt: skip
    assert decide(state) == [StartDeploy("db", "d:1")]
    state = run(state, ev.DeployStarted("db", "d:1"))
    assert decide(state) == []
    state = run(state, ev.DeploySucceeded("db", "d:1", None, 0))
    assert decide(state) == [StartDeploy("web", "w:1")]


def test_a_save_during_a_build_cancels_it_and_builds_again() -> None:
    state = run(
        EngineState.initial((spec(sync=False),)),
        ev.BuildStarted("web"),
        ev.FilesChanged("web", frozenset({"app.py"})),
    )
    assert decide(state) == [CancelBuild("web")]
    state = reduce(state, ev.BuildCancelled("web"))
    assert decide(state) == [StartBuild("web")]


def test_synced_files_skip_the_build() -> None:
    state = deployed(EngineState.initial((spec(),)))
    state = reduce(state, ev.FilesChanged("web", frozenset({"app.py"})))
    assert decide(state) == [StartSync("web", (SyncCopy("app.py", "/app/app.py"),))]
    state = run(state, ev.SyncStarted("web", state.apps["web"].pending_sync), ev.SyncDone("web", 2))
    assert decide(state) == [] and state.apps["web"].phase is Phase.RUNNING


def test_other_files_rebuild() -> None:
    state = reduce(
        deployed(EngineState.initial((spec(),))), ev.FilesChanged("web", frozenset({"requirements.txt"}))
    )
    assert decide(state) == [StartBuild("web")]


def test_a_failed_sync_falls_back_to_a_rebuild() -> None:
    state = deployed(EngineState.initial((spec(),)))
    state = run(
        state,
        ev.FilesChanged("web", frozenset({"app.py"})),
        ev.SyncStarted("web", ()),
        ev.SyncFailed("web", "no"),
    )
    assert decide(state) == [StartBuild("web")]
    # The rebuild's image is the one running (the sync's files were the built ones): deployed
    # anyway, as the instances may hold half the sync or be down.
    image = state.apps["web"].deployed_image
    assert image is not None
    state = run(state, ev.BuildStarted("web"), ev.BuildSucceeded("web", image, 0.1, skipped=True))
    assert decide(state) == [StartDeploy("web", image)]


def test_a_failed_build_keeps_the_running_version_and_the_fix_clears_the_error() -> None:
    state = deployed(EngineState.initial((spec(sync=False),)))
    state = run(
        state,
        ev.FilesChanged("web", frozenset({"app.py"})),
        ev.BuildStarted("web"),
        ev.BuildFailed("web", "boom", ("line",)),
    )
    app = state.apps["web"]
    assert app.phase is Phase.FAILED and app.deployed_image == "img:1" and app.last_error == "boom"
    assert decide(state) == []
    state = run(
        state,
        ev.FilesChanged("web", frozenset({"app.py"})),
        ev.BuildStarted("web"),
        ev.BuildSucceeded("web", "img:2", 1, False),
    )
    assert decide(state) == [StartDeploy("web", "img:2")]
    state = run(state, ev.DeployStarted("web", "img:2"), ev.DeploySucceeded("web", "img:2", None, 1))
    assert state.apps["web"].phase is Phase.RUNNING and state.apps["web"].last_error is None


def test_a_failed_deploy_is_not_retried_by_itself_but_a_trigger_retries_it() -> None:
    state = run(deployed(EngineState.initial((spec(sync=False),))), ev.FilesChanged("web", frozenset({"a.py"})),
                ev.BuildStarted("web"), ev.BuildSucceeded("web", "img:2", 1, False), ev.DeployStarted("web", "img:2"),
                ev.DeployFailed("web", "img:2", "crashed"))  # fmt: skip
    assert state.apps["web"].phase is Phase.FAILED and state.apps["web"].deployed_image == "img:1"
    assert decide(state) == []
    assert decide(reduce(state, ev.TriggerRequested("web"))) == [StartBuild("web")]


def test_manual_mode_queues_changes_until_triggered() -> None:
    state = deployed(EngineState.initial((spec(sync=False),), manual=True))
    state = reduce(state, ev.FilesChanged("web", frozenset({"app.py"})))
    assert decide(state) == [] and state.apps["web"].pending_files == {"app.py"}
    state = reduce(state, ev.TriggerRequested("web"))
    assert decide(state) == [StartBuild("web")] and not state.apps["web"].pending_files


def test_crash_of_every_instance_shows_as_crashed_and_recovery_as_running() -> None:
    state = deployed(EngineState.initial((spec(),)))
    crashed = (ev.InstanceStatus("web", 0, "c0", "crashed", exit_code=1),)
    state = reduce(state, ev.InstancesChanged("web", crashed))
    assert state.apps["web"].phase is Phase.CRASHED
    state = reduce(state, ev.InstancesChanged("web", (ev.InstanceStatus("web", 0, "c0", "running"),)))
    assert state.apps["web"].phase is Phase.RUNNING


def test_prebuilt_images_are_deployed_without_a_build() -> None:
    app = AppSpec("redis", SRC, image="redis:7")
    state = reduce(EngineState.initial((app,)), ev.PlatformReady("x"))
    assert decide(state) == [StartDeploy("redis", "redis:7")]
    state = reduce(state, ev.FilesChanged("redis", frozenset({"x"})))
    assert not state.apps["redis"].build_wanted


def test_events_for_unknown_apps_are_ignored() -> None:
    state = EngineState.initial((spec(),))
    assert reduce(state, ev.FilesChanged("nope", frozenset({"a"}))) is state


def test_a_scale_sticks_across_a_config_edit_that_leaves_instances_alone() -> None:
    state = deployed(EngineState.initial((spec(),)))
    state = reduce(state, ev.ScaleRequested("web", 3))
    edited = replace(spec(), env=(("A", "1"),))  # the file changed something else
    state = reduce(state, ev.SpecChanged("web", edited))
    app = state.apps["web"]
    assert app.spec.instances == 3 and app.spec.env == (("A", "1"),)
    assert app.redeploy and decide(state) == [StartDeploy("web", "img:1")]


def test_a_config_edit_of_the_scaled_value_wins_over_the_scale() -> None:
    state = deployed(EngineState.initial((spec(),)))
    state = reduce(state, ev.ScaleRequested("web", 3, memory_mb=256))
    state = reduce(state, ev.SpecChanged("web", replace(spec(), instances=5)))
    app = state.apps["web"]
    assert (app.spec.instances, app.spec.memory_mb) == (5, 256)  # memory was not edited: kept
    assert app.scales == (("web", None, 256),)


def test_a_config_edit_identical_to_the_scaled_spec_redeploys_nothing() -> None:
    state = run(deployed(EngineState.initial((spec(),))), ev.ScaleRequested("web", 3))
    state = run(state, ev.DeployStarted("web", "img:1"), ev.DeploySucceeded("web", "img:1", "u", 1.0))
    state = reduce(state, ev.SpecChanged("web", spec()))  # the file as it was: only the scale differs
    assert state.apps["web"].spec.instances == 3 and not state.apps["web"].redeploy
    assert decide(state) == []


def test_a_failed_first_deploy_claims_no_previous_version_on_the_503_page() -> None:
    """A provider's "the previous version keeps serving" is untrue when nothing was deployed before."""
    state = run(EngineState.initial((spec(sync=False),)), ev.BuildStarted("web"),
                ev.BuildSucceeded("web", "img:1", 1, False), ev.DeployStarted("web", "img:1"),
                ev.DeployFailed("web", "img:1", "web: port check on 8080 did not pass within 5s; "
                                "the previous version keeps serving"))  # fmt: skip
    assert state.apps["web"].phase is Phase.CRASHED and state.apps["web"].deployed_image is None
    assert why_not_serving(state.apps["web"]) == "crashed: web: port check on 8080 did not pass within 5s"
