"""`up --debug` on kind against the fake API server (pods as real containers): the debug layer is
delivered, the pod runs under debugpy, and its debug port is port-forwarded behind a stable loopback
port where a Debug Adapter Protocol client gets its answers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from devloop.providers.kind.provider import KindProvider
from tests.dap import DapClient
from tests.providers.kind.test_provider import provider, web_app, web_image  # noqa: F401 (fixtures)

pytestmark = pytest.mark.docker


async def test_a_debugged_pod_answers_the_debugger_on_its_stable_port(
    provider: KindProvider, web_image: str, tmp_path: Path  # noqa: F811 (the fixtures)
) -> None:
    said: list[str] = []
    await provider.ensure_platform(lambda _text: None)
    app = replace(web_app(tmp_path), instances=1, debug="on")
    image = await provider.deliver(app, web_image, said.append)
    assert "devloop-debug/web:" in image
    await provider.deploy(app, image, said.append)
    change = await provider.instances(app)
    [web] = [i for i in change.instances if i.is_web]
    assert web.debug == "debugpy" and web.debug_address is not None
    assert f"web/0 debug: {web.debug_address} (debugpy)" in said
    host, _, port = web.debug_address.rpartition(":")

    def initialize() -> dict[str, object]:
        client = DapClient(host, int(port))
        try:
            return client.request("initialize", clientID="devloop-tests", adapterID="debugpy")
        finally:
            client.close()

    answer = await asyncio.to_thread(initialize)
    assert answer["success"] and answer["command"] == "initialize"
