"""The kind provider: each app is a Deployment on a local Kubernetes (kind, or any --context).

The Provider protocol's face, delegating each job to its module: the cluster
(`cluster`: kind create/reuse, or a context), image delivery (`delivery`),
objects in and rollouts waited for (`rollout`), the router's per-pod
port-forwards (`forwards`), backing services (`services`), and what a pod's
status means (`pods`). What stays here is the glue: an app's objects and
bindings, the pod cache the watch keeps, logs, sync and restart, shells, teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from devloop.adapters.kube import Forward, KubeClient
from devloop.adapters.kubewire import Obj
from devloop.core.changes import SyncCopy
from devloop.core.events import InstancesChanged, InstanceStatus
from devloop.core.logbuffer import LogLine
from devloop.core.processes import WEB, process_name, process_types, process_view
from devloop.core.services import ServiceSpec
from devloop.core.spec import AppSpec, ProjectSpec, TaskSpec
from devloop.errors import ProviderError
from devloop.providers.base import Deployed, Progress, TaskOutput
from devloop.providers.kind import objects, user_objects
from devloop.providers.kind.cluster import Cluster, namespace_for
from devloop.providers.kind.debugging import KindDebug
from devloop.providers.kind.forwards import DRAIN_S, Forwards
from devloop.providers.kind.pods import (
    Indexes,
    app_of,
    container_of,
    deployment_view,
    instance_statuses,
    pod_state,
    process_of,
    selector,
)
from devloop.providers.kind.rollout import POLL_S, Rollouts, for_root_image, runs_as_numeric_non_root
from devloop.providers.kind.service_objects import binding_secret, read_bindings, service_claims_selector
from devloop.providers.kind.services import Services
from devloop.providers.kind.tasks import JobRun, current_image, remove_tasks
from devloop.providers.shared import (
    bound_services,
    parse_log_line,
    project_id,
    shell_argv,
    signal_argv,
    split_sync,
    wait_serving,
)
from devloop.providers.synctar import sync_archive
from devloop.router.router import Router


class KindProvider:
    name = "kind"

    def __init__(
        self, project: ProjectSpec, *, context: str | None = None, router: Router | None = None
    ) -> None:
        self.project = project
        self.context = context or project.context
        self.namespace = namespace_for(project)
        self.project_label = objects.label_value(project_id(project.file))
        self.cluster = Cluster(project, self.context)
        self.router = router or Router(project.router_port)  # devloop.cli.context hands in the one it built
        self.rollouts = Rollouts(self.cluster, self.namespace, self.project_label)
        self._indexes = Indexes()
        self._pods: dict[str, Obj] = {}  # pod name -> last seen object, from the watch
        self._forwards = Forwards(
            self.cluster, self.router, self.namespace, self.project_label, self._indexes, self._cached_pods
        )
        self.services = Services(self.cluster, self.rollouts, self.namespace, self.project_label)
        self.debugging = KindDebug(project_id(project.file), lambda: self.kube, self._cached_pods)

    # --- platform -------------------------------------------------------------------------------

    @property
    def kube(self) -> KubeClient:
        return self.cluster.kube

    @property
    def forwards(self) -> dict[str, dict[str, Forward]]:
        """app -> pod -> the port-forward the router reaches it through."""
        return self._forwards.by_app

    async def connect(self, progress: Progress, create: bool = True) -> KubeClient:
        return await self.cluster.connect(progress, create)

    async def ensure_platform(self, progress: Progress) -> str:
        return await self.cluster.ensure_platform(progress, self.namespace)

    async def deliver(self, app: AppSpec, image: str, progress: Progress) -> str:
        image = await self.debugging.prepare(app, image, progress)  # the debug layer when debugged
        delivery = await self.cluster.delivery()
        return await delivery.deliver(image, self.cluster.registry, progress)

    # --- deploy ---------------------------------------------------------------------------------

    def objects(self, app: AppSpec, image: str) -> list[Obj]:
        if app.manifests is not None:
            return user_objects.load(app, image)
        built = objects.app_objects(
            app,
            image,
            project=self.project_label,
            namespace=self.namespace,
            secret_values=True,
            autoscale=False,
            local=True,  # the Cloud Foundry env of a pod behind devloop's router
            router_port=self.project.router_port,
        )
        # Pods read env from the ConfigMap and Secret only at start: a hash of the values in the
        # pod template makes an env change roll the pods, as a new image does.
        values = json.dumps([sorted(app.env), sorted(app.secret_env)]).encode()
        env_hash = hashlib.sha256(values).hexdigest()[:16]
        for obj in built:
            if obj["kind"] == "Deployment":
                meta = obj["spec"]["template"]["metadata"]
                meta["annotations"] = {**meta.get("annotations", {}), "devloop.dev/env": env_hash}
        return built

    async def _bind(self, app: AppSpec, objects: list[Obj], progress: Progress) -> list[Obj]:
        """The app's services ready, its binding Secret applied, its containers reading it."""
        if not app.services:
            return objects
        bound = bound_services(self.project, app)
        passwords = {s.name: await self.services.ensure(s, progress) for s in bound}
        secret = binding_secret(app.name, bound, passwords, self.project_label, self.namespace)
        # A hash of the bindings in the pod template: new credentials roll the pods.
        digest = hashlib.sha256(json.dumps(secret["stringData"], sort_keys=True).encode()).hexdigest()[:16]
        for obj in read_bindings(objects, app.name):
            if obj["kind"] == "Deployment":
                meta = obj["spec"]["template"].setdefault("metadata", {})
                meta["annotations"] = {**meta.get("annotations", {}), "devloop.dev/bindings": digest}
        return [secret, *objects]

    async def deploy(self, app: AppSpec, image: str, progress: Progress) -> Deployed:
        app = self.debugging.view(app)
        objects = await self._bind(app, self.debugging.objects(app, self.objects(app, image)), progress)
        if app.manifests is not None:
            for warning in user_objects.privilege_warnings(objects):
                progress(f"warning: {warning}")  # applied as written: the user's YAML is the truth
        if app.manifests is None and not await asyncio.to_thread(runs_as_numeric_non_root, image):
            # The kubelet refuses runAsNonRoot for an image whose user is root or a name. The dev
            # loop runs what the user built (the build already warned); `devloop export` keeps it.
            progress(
                f"{image} runs as root or a named user: its pods run without runAsNonRoot, "
                "with the container runtime's default capabilities (as on the docker provider)"
            )
            objects = [for_root_image(o) for o in objects]
        progress(f"applying {len(objects)} object(s) to namespace {self.namespace}")
        await self.rollouts.apply(app.name, objects)
        await self.rollouts.prune(app, {(o["kind"], o["metadata"]["name"]) for o in objects})
        for obj in objects:
            if obj["kind"] == "Deployment":
                await self.rollouts.wait(deployment_view(app, obj), obj["metadata"]["name"], image, progress)
        notice = await self.router.ensure(app)
        await self._forwards.refresh(app)
        if app.debug:  # each instance's debug port forwarded, said once
            await self.instances(app)
            await self.debugging.announce(self._statuses(app), progress)
        return Deployed(self.router.url(app), notice)

    # --- instances and logs ---------------------------------------------------------------------

    def _cached_pods(self, app: str) -> list[Obj]:
        """The app's pods as the last list or watch event left them."""
        return [p for p in self._pods.values() if app_of(p) == app]

    def _statuses(self, app: AppSpec) -> InstancesChanged:
        return instance_statuses(app, self._cached_pods(app.name), self._indexes)

    def snapshot(self, app: AppSpec) -> InstancesChanged:
        return self._statuses(app)

    async def instances(self, app: AppSpec) -> InstancesChanged:
        if not await self.cluster.connect_if_any():
            return InstancesChanged(app.name, ())  # no cluster: nothing runs
        listing = await self.kube.list_objects(
            "v1", "pods", self.namespace, selector(self.project_label, app.name)
        )
        for name in [n for n, p in self._pods.items() if app_of(p) == app.name]:
            del self._pods[name]  # the listing is the whole truth for this app
        for pod in listing.get("items") or []:
            self._pods[pod["metadata"]["name"]] = pod
        return await self.debugging.follow(self._statuses(app), forward_new=False)  # a one-off look

    async def watch_instances(self, apps: list[AppSpec]) -> AsyncIterator[InstancesChanged]:
        if not await self.cluster.connect_if_any():  # `devloop logs`: its history needs no cluster
            for app in apps:
                yield InstancesChanged(app.name, ())  # no cluster: nothing runs
            return
        by_name = {a.name: a for a in apps}
        everything = selector(self.project_label)
        listing = await self.kube.list_objects("v1", "pods", self.namespace, everything)
        self._pods = {p["metadata"]["name"]: p for p in listing.get("items") or []}
        for app in apps:
            yield await self.debugging.follow(self._statuses(app))
        since = (listing.get("metadata") or {}).get("resourceVersion")
        async for kind, pod in self.kube.watch("v1", "pods", self.namespace, everything, since):
            if kind == "BOOKMARK":
                continue
            if kind == "ERROR":
                return  # e.g. 410 Gone: the caller lists again
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                self._pods.pop(name, None)
            else:
                self._pods[name] = pod
            changed = by_name.get(app_of(pod) or "")
            if changed is not None:
                with contextlib.suppress(ProviderError):
                    await self._forwards.refresh(changed, self._cached_pods(changed.name))
                yield await self.debugging.follow(self._statuses(changed))

    async def tail(
        self, instance: InstanceStatus, since_ns: int | None, *, follow: bool = True, last: int | None = None
    ) -> AsyncIterator[LogLine]:
        since = None
        if since_ns:
            since = datetime.fromtimestamp(since_ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with contextlib.suppress(ProviderError, OSError):
            async for raw in self.kube.logs(
                self.namespace,
                instance.id,
                instance.sidecar or container_of(self._pods.get(instance.id) or {}, instance.app),
                follow=follow,
                since_time=since,
                tail_lines=last,
            ):
                line = parse_log_line(instance, raw)
                # sinceTime has whole seconds only; a line without a timestamp (0) always shows
                if not line.timestamp_ns or since_ns is None or line.timestamp_ns > since_ns:
                    yield line

    # --- sync and restart -----------------------------------------------------------------------

    async def _running_pods(self, app: AppSpec) -> list[Obj]:
        listing = await self.kube.list_objects(
            "v1", "pods", self.namespace, selector(self.project_label, app.name)
        )
        running = [
            p
            for p in listing.get("items") or []
            if process_of(p) in process_types(app) and pod_state(p, app.name).state == "running"
        ]
        self._pods.update((p["metadata"]["name"], p) for p in running)
        return running

    async def sync(self, app: AppSpec, copies: tuple[SyncCopy, ...]) -> int:
        pods = await self._running_pods(app)
        present, gone = split_sync(app, copies)
        archive = sync_archive(app, present) if present else None
        for pod in pods:
            name = pod["metadata"]["name"]
            if app.sync_restart is None or process_of(pod) != WEB:
                await self._sync_into(app, name, archive, gone)  # a worker restarts in place
                continue
            # One pod at a time, out of rotation: the next restarts only once this one serves.
            address = self._forwards.address(app.name, name)
            async with self.router.paused(app.name, address, DRAIN_S):
                await self._sync_into(app, name, archive, gone)
                await self._wait_serving(app, name)
        return len(pods)

    async def _sync_into(self, app: AppSpec, name: str, archive: bytes | None, gone: list[str]) -> None:
        if archive is not None:
            # -m: the files' times are now, so reloaders that look at mtimes notice.
            # --overwrite: write into existing files, so a folder the app user cannot
            # write (a root-owned WORKDIR) still takes the app user's own files.
            await self._exec_checked(
                app, name, ["tar", "-x", "-m", "--overwrite", "-f", "-", "-C", "/"], archive
            )
        if gone:
            await self._exec_checked(app, name, ["rm", "-f", "--", *gone])
        restart = app.sync_restart
        if restart is not None and restart.signal:
            await self._exec_checked(app, name, signal_argv(restart.signal))  # PID 1 is the app
        elif restart is not None and restart.command:
            await self._exec_checked(app, name, shell_argv(restart.command))

    async def _exec_checked(
        self, app: AppSpec, pod: str, command: list[str], stdin: bytes | None = None
    ) -> None:
        container = container_of(self._pods.get(pod) or {}, app.name)
        result = await self.kube.exec(self.namespace, pod, container, command, stdin)
        if result.code != 0:
            detail = (result.stderr or result.stdout).decode(errors="replace").strip()[:300]
            what = f"{app.name}: `{' '.join(command[:3])}` in pod {pod}"
            if result.message and not detail:  # it never ran: the API server's Status says why
                raise ProviderError(f"{what} could not run: {result.message[:300]}")
            raise ProviderError(f"{what} exited {result.code}: {detail}")

    async def _wait_serving(self, app: AppSpec, pod: str) -> None:
        """The pod is ready again (its readiness probe passes) after a sync's restart step."""

        async def ready() -> bool:
            current = await self.kube.get("v1", f"pods/{pod}", self.namespace)
            return current is not None and pod_state(current, app.name).ready

        failure = f"{app.name}: pod {pod} did not serve again within {app.health.timeout_s}s"
        await wait_serving(ready, app.health.timeout_s, POLL_S, failure)

    async def restart(self, app: AppSpec, progress: Progress) -> int:
        """A rolling restart of each process type's Deployment, as `kubectl rollout restart` does:
        a new template annotation."""
        count = 0
        for process in process_types(app):
            name = process_name(app.name, process)
            count += await self.rollouts.restart(process_view(app, process), name, progress)
        await self._forwards.refresh(app)
        return count

    def shell_argv(self, instance: InstanceStatus, command: str | None = None, tty: bool = True) -> list[str]:
        """A shell in the pod over the API server's exec WebSocket (providers.kind.shell): no kubectl."""
        shell = shell_argv(command)
        container = instance.sidecar or container_of(self._pods.get(instance.id) or {}, instance.app)
        return self._exec_argv(instance.id, container, shell)

    def _exec_argv(self, pod: str, container: str, command: list[str]) -> list[str]:
        """`command` in a pod's container over the API server's exec WebSocket; a tty when both
        ends are terminals (devloop.providers.kind.shell decides)."""
        kubeconfig = self.cluster.kubeconfig
        return [
            sys.executable, "-m", "devloop.providers.kind.shell",
            "--kubeconfig", str(kubeconfig or ""), "--context", self.context or "",
            "--namespace", self.namespace, "--pod", pod, "--container", container, "--", *command,
        ]  # fmt: skip

    # --- tasks (cf run-task): Jobs ---------------------------------------------------------------

    async def current_image(self, app: AppSpec) -> str | None:
        await self.connect(lambda _text: None, create=False)
        return await current_image(self.kube, self.namespace, app)

    async def run_task(
        self, app: AppSpec, image: str, task: TaskSpec, output: TaskOutput, progress: Progress
    ) -> int:
        env = [o for o in self.objects(app, image) if o["kind"] in ("ConfigMap", "Secret")]
        run = JobRun(self.kube, self.namespace, self.project_label, self.project.router_port)
        return await run.run(app, image, task, await self._bind(app, env, progress), output, progress)

    # --- backing services: the cf service commands -----------------------------------------------

    async def service_states(self) -> dict[str, str]:
        """Service name -> `running` (its pod is ready) or `starting`; none without a cluster."""
        return await self.services.states()

    async def service_password(self, service: ServiceSpec) -> str | None:
        """The password kept in the service's credentials Secret (made by the first deploy)."""
        return await self.services.password(service)

    def service_shell_argv(self, service: ServiceSpec, args: tuple[str, ...], tty: bool) -> list[str]:
        """The service's own client in its pod, over the API server's exec WebSocket."""
        return self._exec_argv(f"{service.name}-0", service.name, [*service.type.shell_command, *args])

    # --- teardown -------------------------------------------------------------------------------

    async def remove(self, apps: list[AppSpec] | None, purge: bool = False) -> int:
        if not await self.cluster.connect_if_any():
            return 0  # no cluster: nothing to remove
        pods = await self.kube.list_objects("v1", "pods", self.namespace, selector(self.project_label))
        names = {a.name for a in apps} if apps is not None else None
        counted = [p for p in pods.get("items") or [] if app_of(p) and (names is None or app_of(p) in names)]
        for target in list(apps) if apps is not None else [None]:
            await self.rollouts.prune(target, keep=set(), keep_credentials=not purge)
        await remove_tasks(self.kube, self.namespace, self.project_label, names)  # cf: a deleted app's too
        if purge and apps is None:  # the services' data: their volume claims outlive the StatefulSets
            # The StatefulSet controller labels a claim with its template's labels and the selector's,
            # not with the StatefulSet's own: select by the template's.
            claims = await self.kube.list_objects(
                "v1", "persistentvolumeclaims", self.namespace, service_claims_selector(self.project_label)
            )
            for claim in claims.get("items") or []:
                await self.kube.delete(
                    "v1", f"persistentvolumeclaims/{claim['metadata']['name']}", self.namespace
                )
        return len(counted)

    async def delete_cluster(self) -> None:
        await self.cluster.delete()

    async def close(self) -> None:
        await self.debugging.close()
        await self._forwards.close()
        await self.router.close()
        await self.cluster.close()


__all__ = ["KindProvider"]
