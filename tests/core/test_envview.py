"""`devloop env` as `cf env`: system-provided then user-provided, every credential masked."""

from __future__ import annotations

import json

from devloop.core.credentials import MASK
from devloop.core.envview import env_report, parse_environ, user_lines

VCAP_SERVICES = json.dumps({"redis": [{"name": "cache", "credentials": {
    "uri": "redis://:s3cret-pw@cache:6379", "password": "s3cret-pw", "hostname": "cache"}}]})  # fmt: skip
RUNNING = {
    "PATH": "/usr/bin",
    "HOME": "/home/app",
    "PORT": "8080",
    "CF_INSTANCE_INDEX": "0",
    "VCAP_APPLICATION": json.dumps({"application_name": "web", "instance_index": 0}),
    "VCAP_SERVICES": VCAP_SERVICES,
    "REDIS_URL": "redis://:s3cret-pw@cache:6379",
    "GREETING": "hi (running)",
    "API_TOKEN": "planted-77",
}


def test_system_and_user_provided_from_the_running_instance_secrets_masked() -> None:
    lines = env_report((("GREETING", "hi"),), (("API_TOKEN", "planted-77"),), RUNNING, source="instance 0")
    text = "\n".join(lines)
    system, user = text.split("User-Provided:")
    assert system.startswith("System-Provided: (read from instance 0)")
    for name in ("VCAP_APPLICATION:", "VCAP_SERVICES:", "REDIS_URL:", "PORT: 8080", "CF_INSTANCE_INDEX: 0"):
        assert name in system
    assert "PATH" not in text and "HOME" not in text  # the image's own variables are neither
    assert "s3cret-pw" not in text and "planted-77" not in text
    assert f"REDIS_URL: redis://:{MASK}@cache:6379" in system and f'"password": "{MASK}"' in system
    assert user.split("\n")[1:] == ["GREETING: hi (running)", f"API_TOKEN: {MASK}  (secret)"]


def test_show_secrets_shows_them() -> None:
    text = "\n".join(env_report((), (("API_TOKEN", "planted-77"),), RUNNING, show_secrets=True))
    assert "s3cret-pw" in text and "API_TOKEN: planted-77  (secret)" in text


def test_without_a_running_instance_the_config_alone_and_a_note() -> None:
    lines = env_report((("DATABASE_URL", "postgres://u:pw1@db/x"),), (), None)
    assert lines[0] == "System-Provided:" and "no instance runs" in lines[1]
    assert lines[-1] == f"DATABASE_URL: postgres://u:{MASK}@db/x"  # a credential in env: masked too
    assert user_lines((), ()) == ["(none set)"]


def test_parse_environ() -> None:
    assert parse_environ(b"A=1\0B=x=y\0\0") == {"A": "1", "B": "x=y"}
