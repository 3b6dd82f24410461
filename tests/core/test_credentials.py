"""Which env values are credentials."""

from __future__ import annotations

import pytest

from devloop.core.credentials import looks_secret, mask_url, split_credentials


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("DATABASE_URL", "postgres://orders:PASSWORD@db:5432/orders", True),
        ("DATABASE_URL", "postgres://db:5432/orders", False),
        ("STRIPE_API_KEY", "sk", True),
        ("DB_PASSWORD", "x", True),
        ("JWT_SECRET", "x", True),
        ("GITHUB_TOKEN", "x", True),
        ("GREETING", "hello", False),
        ("KEYBOARD_LAYOUT", "us", False),
        ("TOKEN_COUNT", "3", False),
    ],
)
def test_looks_secret(name: str, value: str, secret: bool) -> None:
    assert looks_secret(name, value) is secret


def test_mask_url_and_split() -> None:
    assert mask_url("amqp://app:p%40ss@mq:5672/app", "***") == "amqp://app:***@mq:5672/app"
    assert mask_url("not a url") == "not a url"
    plain, names = split_credentials((("A", "1"), ("X_TOKEN", "t"), ("U", "redis://:pw@r:6379")))
    assert plain == (("A", "1"),) and names == ("X_TOKEN", "U")
