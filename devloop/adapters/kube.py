"""The Kubernetes API, the one way devloop talks to it: kr8s's session and auth, explicit paths.

kr8s reads kubeconfigs, authenticates and speaks HTTP and WebSocket; the few
calls it lacks are written here against the API reference: server-side apply
(a PATCH with `application/apply-patch+yaml`) and exec with stdin, which needs
the `v5.channel.k8s.io` protocol so the far end sees stdin close.
"""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import httpx_ws
import kr8s
import kr8s.asyncio
from kr8s import _exceptions as kr8s_errors
from kr8s.asyncio.objects import Pod
from kr8s.asyncio.portforward import PortForward as KrPortForward

from devloop.adapters.kubewire import (
    KNOWN_VERSIONS,
    RESOURCES,
    Obj,
    as_data,
    exit_code,
    failure_message,
    failure_text,
    object_url,
    version_tuple,
)
from devloop.adapters.portforward import Endpoint, PortForward, Slots
from devloop.core.versions import MIN_KUBERNETES, kubernetes_upgrade_hint, shown
from devloop.errors import ProviderError

FIELD_MANAGER = "devloop"
CONNECT_FOR_S = 30.0  # an API server that just started (kind) may take a moment to answer
REQUEST_S = 30.0  # every plain request's deadline (a hung API server is one message, not a freeze)
CONNECT_S = 10.0
WATCH_S = 300  # the server ends each watch after this (timeoutSeconds); the caller lists and watches again
MAX_STREAMS = 512  # open watches, log follows and exec WebSockets (port-forwards have their own bound)
STREAM_POOL_S = 30.0  # how long a new stream waits for a free slot before it fails
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})  # worth asking again after a moment

class Forward(Protocol):
    """A running port-forward: connections to 127.0.0.1:local_port reach the pod's port."""

    local_port: int

    async def start(self) -> int: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class ExecResult:
    code: int
    stdout: bytes
    stderr: bytes
    message: str = ""  # the final Status's message when the command could not run (no such binary)


class KubeClient:
    """One cluster, one namespace; every call raises ProviderError with a reason a user can act on."""

    def __init__(self, api: Any, server: str) -> None:
        self.api = api  # plain requests: their own pool, each with a deadline
        self.server = server
        api.timeout = httpx.Timeout(REQUEST_S, connect=CONNECT_S)
        # Long-lived streams (watches, log follows, exec and port-forward WebSockets) get a client
        # of their own: however many the router and the log pane hold open, API calls still go
        # out. A shallow copy shares kr8s's auth; only the session differs.
        self.streams = copy.copy(api)
        self.streams._session = None
        self.streams._timeout = httpx.Timeout(None, connect=CONNECT_S, write=REQUEST_S, pool=STREAM_POOL_S)
        self._discovered: dict[str, dict[str, tuple[str, bool]]] = {}  # apiVersion -> kind -> resource
        self.forward_slots = Slots()  # port-forward WebSockets in flight, across every pod
        self._forward_endpoint: Endpoint | None = None

    @classmethod
    async def connect(
        cls, kubeconfig: Path | None, context: str | None, within_s: float = CONNECT_FOR_S
    ) -> KubeClient:
        """A client for the context; an unreachable server is retried with backoff for `within_s`."""
        where = f"context {context!r}" if context else "the current context"
        source = kubeconfig or "~/.kube/config"
        deadline = time.monotonic() + within_s
        attempt = 0
        while True:
            try:
                api = await kr8s.asyncio.api(
                    kubeconfig=str(kubeconfig) if kubeconfig else None, context=context
                )
            except (httpx.TransportError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise ProviderError(
                        f"the Kubernetes API server of {where} in {source} is not answering: {exc}",
                        hint="is the cluster running? `docker ps` shows kind's node containers",
                    ) from None
                await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1
                continue
            except Exception as exc:  # kr8s raises plain ValueErrors/KeyErrors for bad kubeconfigs
                raise ProviderError(
                    f"cannot use {where} of {source}: {exc}",
                    hint="check `--context` against the contexts in your kubeconfig",
                ) from None
            return cls(api, str(api.auth.server))

    async def close(self) -> None:
        for api in (self.api, self.streams):
            session = getattr(api, "_session", None)
            if session is not None:
                await session.aclose()

    async def _streams_session(self) -> None:
        """The streams' own pool, bounded: past MAX_STREAMS a new stream waits STREAM_POOL_S, then fails."""
        if self.streams._session is None or self.streams._session.is_closed:
            await self.streams._create_session()
            old = self.streams._session
            self.streams._session = httpx.AsyncClient(
                base_url=old.base_url, headers=old.headers, verify=await self.streams.auth.ssl_context(),
                timeout=self.streams._timeout, follow_redirects=True, proxy=self.streams.auth.proxy,
                limits=httpx.Limits(max_connections=MAX_STREAMS, max_keepalive_connections=8),
            )  # fmt: skip
            await old.aclose()

    # --- requests ------------------------------------------------------------------------------

    async def request(
        self, method: str, version: str, url: str, namespace: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One API call; a transient answer (429, 5xx, or 409 to a server-side apply) is retried
        a few times with backoff, since every call devloop makes is idempotent (GET, apply, DELETE)."""
        for attempt in range(len(BACKOFF_S) + 1):
            try:
                async with self.api.call_api(
                    method, version=version, namespace=namespace, url=url, raise_for_status=False, **kwargs
                ) as response:
                    pass
            except (httpx.TimeoutException, kr8s_errors.APITimeoutError):
                what = f"{method} {url or kwargs.get('base')}"
                raise ProviderError(
                    f"the Kubernetes API server at {self.server} did not answer {what} within {REQUEST_S:g}s"
                ) from None
            except (httpx.TransportError, OSError) as exc:
                raise ProviderError(
                    f"the Kubernetes API server at {self.server} is not answering: {exc}"
                ) from None
            transient = response.status_code in TRANSIENT_STATUS or (
                response.status_code == 409 and method == "PATCH"
            )
            if not transient or attempt == len(BACKOFF_S):
                return response  # type: ignore[no-any-return]
            await asyncio.sleep(BACKOFF_S[attempt])  # backoff before asking again
        raise AssertionError("unreachable")

    async def wait_ready(self, within_s: float = CONNECT_FOR_S, on_kind: bool = False) -> Obj:
        """The server's version, retried with backoff while it is unreachable; refuses one too old."""
        deadline = time.monotonic() + within_s
        attempt = 0
        while True:
            try:
                response = await self.request("GET", "", "", base="/version")
            except ProviderError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1
                continue
            if response.status_code == 200:
                info: Obj = response.json()
                if version_tuple(info) < MIN_KUBERNETES:
                    raise ProviderError(
                        f"Kubernetes {info.get('gitVersion', '?')} at {self.server} is too old; "
                        f"devloop needs {shown(MIN_KUBERNETES)} or newer",
                        hint=kubernetes_upgrade_hint(on_kind),
                    )
                return info
            raise ProviderError(failure_text("GET /version", response))

    async def get(self, version: str, url: str, namespace: str | None = None) -> Obj | None:
        response = await self.request("GET", version, url, namespace)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(failure_text(f"GET {url}", response))
        return response.json()  # type: ignore[no-any-return]

    async def list_objects(self, version: str, plural_name: str, namespace: str | None, selector: str) -> Obj:
        response = await self.request(
            "GET", version, plural_name, namespace, params={"labelSelector": selector}
        )
        if response.status_code != 200:
            raise ProviderError(failure_text(f"list {plural_name}", response))
        return response.json()  # type: ignore[no-any-return]

    async def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from the server's discovery document of its group version."""
        if kind in RESOURCES and api_version in KNOWN_VERSIONS.get(kind, (api_version,)):
            return RESOURCES[kind]
        if api_version not in self._discovered:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            response = await self.request("GET", "", "", base=base)
            if response.status_code == 404:
                raise ProviderError(
                    f"the cluster at {self.server} does not serve {api_version} (kind {kind})",
                    hint="is its CustomResourceDefinition installed, or the apiVersion misspelt?",
                )
            if response.status_code != 200:
                raise ProviderError(failure_text(f"discovery of {api_version}", response))
            self._discovered[api_version] = {
                r["kind"]: (r["name"], bool(r.get("namespaced")))
                for r in response.json().get("resources") or []
                if "/" not in r.get("name", "")  # subresources (deployments/scale) are no kinds
            }
        found = self._discovered[api_version].get(kind)
        if found is None:
            raise ProviderError(
                f"the cluster at {self.server} serves no kind {kind} in {api_version}",
                hint="check the manifest's kind and apiVersion (`kubectl api-resources` lists them)",
            )
        return found

    async def apply(self, obj: Obj, namespace: str | None) -> Obj:
        """Server-side apply as field manager `devloop`, taking over fields others set (force)."""
        version, ns, url = object_url(obj, namespace, await self.resource(obj["apiVersion"], obj["kind"]))
        body = as_data(obj)
        if ns:
            body["metadata"] = {**obj["metadata"], "namespace": ns}
        response = await self.request(
            "PATCH",
            version,
            url,
            ns,
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
            content=json.dumps(body).encode(),  # JSON is YAML: no second serializer
        )
        if response.status_code not in (200, 201):
            raise ProviderError(failure_text(f"apply {obj['kind']}/{obj['metadata']['name']}", response))
        return response.json()  # type: ignore[no-any-return]

    async def delete(self, version: str, url: str, namespace: str | None) -> bool:
        response = await self.request(
            "DELETE", version, url, namespace, params={"propagationPolicy": "Background"}
        )
        if response.status_code in (200, 202):
            return True
        if response.status_code == 404:
            return False
        raise ProviderError(failure_text(f"delete {url}", response))

    # --- streams -------------------------------------------------------------------------------

    async def watch(
        self, version: str, plural_name: str, namespace: str | None, selector: str, since: str | None
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Watch events after resourceVersion `since`; ends when the server closes the stream."""
        params = {"watch": "true", "labelSelector": selector, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(WATCH_S)}  # fmt: skip
        if since:
            params["resourceVersion"] = since
        await self._streams_session()
        # The server ends the watch after WATCH_S; silence well past that is a dead connection.
        timeout = httpx.Timeout(WATCH_S + 30, connect=CONNECT_S, pool=STREAM_POOL_S)
        try:
            async with self.streams.call_api(
                "GET", version=version, namespace=namespace, url=plural_name, stream=True,
                params=params, timeout=timeout,
            ) as response:  # fmt: skip
                async for line in response.aiter_lines():
                    if line.strip():
                        try:
                            event = json.loads(line)
                        except json.JSONDecodeError:
                            return  # cut mid-event: like any ended watch, the caller lists again
                        yield event["type"], event["object"]
        except (httpx.TransportError, OSError, kr8s_errors.APITimeoutError) as exc:
            raise ProviderError(f"the watch on {plural_name} at {self.server} broke: {exc}") from None

    async def logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool,
        since_time: str | None,
        tail_lines: int | None,
    ) -> AsyncIterator[str]:
        """The container's lines, each prefixed with its RFC 3339 nanosecond timestamp."""
        params: dict[str, str] = {"container": container, "timestamps": "true"}
        if follow:
            params["follow"] = "true"
        if since_time:
            params["sinceTime"] = since_time
        if tail_lines is not None:
            params["tailLines"] = str(tail_lines)
        await self._streams_session()
        try:
            async with self.streams.call_api(
                "GET", version="v1", namespace=namespace, url=f"pods/{pod}/log", stream=True,
                params=params, raise_for_status=False,
                timeout=httpx.Timeout(None if follow else REQUEST_S, connect=CONNECT_S, pool=STREAM_POOL_S),
            ) as response:  # fmt: skip
                if response.status_code != 200:
                    return
                async for line in response.aiter_lines():
                    yield line
        except (httpx.TransportError, OSError, kr8s_errors.APITimeoutError):
            return  # a dropped stream just ends; the caller resumes from its last timestamp

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], stdin: bytes | None = None
    ) -> ExecResult:
        """Run `command` in the container; stdin, when given, is sent and then closed."""
        params: list[tuple[str, str]] = [("command", part) for part in command]
        params += [("container", container), ("stdout", "true"), ("stderr", "true")]
        params.append(("stdin", "true" if stdin is not None else "false"))
        out, err = bytearray(), bytearray()
        await self._streams_session()
        try:
            async with self.streams.open_websocket(
                version="v1",
                namespace=namespace,
                url=f"pods/{pod}/exec",
                subprotocols=("v5.channel.k8s.io", "v4.channel.k8s.io"),
                params=params,
            ) as ws:
                if stdin is not None:
                    if ws.subprotocol != "v5.channel.k8s.io":
                        raise ProviderError(
                            f"the API server at {self.server} cannot close an exec's stdin "
                            f"(it speaks {ws.subprotocol}); Kubernetes 1.30 or newer can"
                        )
                    for start in range(0, len(stdin), 1 << 20):
                        await ws.send_bytes(b"\x00" + stdin[start : start + (1 << 20)])
                    await ws.send_bytes(b"\xff\x00")  # close channel 0: stdin is done
                while True:
                    message = await ws.receive_bytes()
                    channel, payload = message[0], message[1:]
                    if channel == 1:
                        out += payload
                    elif channel == 2:
                        err += payload
                    elif channel == 3:
                        return ExecResult(
                            exit_code(payload), bytes(out), bytes(err), failure_message(payload) or ""
                        )
        except (httpx_ws.HTTPXWSException, httpx.TransportError, OSError) as exc:
            raise ProviderError(f"exec in pod {pod} failed: {exc}") from None

    async def port_forward(self, pod: Obj, port: int) -> Forward:
        """A loopback listener on a free port whose connections reach `port` of `pod`, each over a
        WebSocket of its own (devloop/adapters/portforward.py), never through the requests' pool.
        Through an HTTP proxy (kr8s speaks to those), kr8s's own forward over the streams' pool."""
        if self.streams.auth.proxy:
            await self._streams_session()
            return KrPortForward(Pod(pod, api=self.streams), port, local_port="auto")
        meta = pod["metadata"]
        return PortForward(self._endpoint, self._reauthenticate, meta["namespace"], meta["name"], port,
                           self.forward_slots)  # fmt: skip

    async def _endpoint(self) -> Endpoint:
        if self._forward_endpoint is None:
            auth = self.streams.auth
            context = await auth.ssl_context()
            if not isinstance(context, ssl.SSLContext):  # True: the system's trust store
                context = ssl.create_default_context()
            headers = [("User-Agent", "devloop")]
            if auth.token:
                headers.append(("Authorization", f"Bearer {auth.token}"))
            self._forward_endpoint = Endpoint(str(auth.server), context, auth.tls_server_name, tuple(headers))
        return self._forward_endpoint

    async def _reauthenticate(self) -> None:
        """Credentials read again (a token an exec plugin renews), for the next WebSocket."""
        await self.streams.auth.reauthenticate()
        self._forward_endpoint = None


