"""`up --debug` on kind: the web pods' spec (the wrapped command, the debugger's env, its port, no
liveness probe to kill a paused process), valid for the API server, the other processes untouched."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate

from devloop.core import debug
from devloop.core.spec import AppSpec, BuildSpec, HealthCheck, HealthCheckType, Language, ProcessSpec
from devloop.providers.kind.debugging import ANNOTATION, PAUSE_CHECKS, debug_objects, runtime_of_pod
from devloop.providers.kind.objects import app_objects
from tests.providers.kind.test_objects import K8S_VERSION

APP = AppSpec("web", Path("/src"), build=BuildSpec(Path("/src"), language=Language.PYTHON), debug="on",
              health=HealthCheck(HealthCheckType.HTTP, "/"),
              processes=(ProcessSpec("worker", command="python worker.py"),))  # fmt: skip


def deployments(app: AppSpec, runtime: debug.Runtime) -> dict[str, dict]:
    objects = debug_objects(app_objects(app, "localhost:5001/devloop-debug/web:abc", project="p"), app.name, runtime)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}


def test_the_web_pods_run_under_debugpy_with_its_port_and_no_liveness_probe() -> None:
    plan = debug.plan(APP, ("python", "app.py"))
    found = deployments(debug.debug_app(APP, plan), plan.runtime)
    web = found["web"]["spec"]["template"]
    container = web["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c", plan.command]
    assert "-m debugpy --listen 0.0.0.0:5678" in plan.command
    assert {"name": "debug", "containerPort": 5678} in container["ports"]
    assert "livenessProbe" not in container and container["readinessProbe"]["failureThreshold"] == PAUSE_CHECKS
    assert container["image"] == "localhost:5001/devloop-debug/web:abc"
    assert runtime_of_pod(web) is debug.PYTHON and web["metadata"]["annotations"][ANNOTATION] == "python"
    worker = found["web-worker"]["spec"]["template"]
    assert runtime_of_pod(worker) is None
    assert all(p.get("name") != "debug" for c in worker["spec"]["containers"] for p in c.get("ports") or [])


def test_node_pods_get_the_inspector_through_node_options() -> None:
    app = AppSpec("api", Path("/src"), build=BuildSpec(Path("/src"), language=Language.NODE), debug="on")
    plan = debug.plan(app, ("node", "server.js"))
    view = debug.debug_app(app, plan)
    assert dict(view.env)["NODE_OPTIONS"] == "--inspect=0.0.0.0:9229"
    container = deployments(view, plan.runtime)["api"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "debug", "containerPort": 9229} in container["ports"]
