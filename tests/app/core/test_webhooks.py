"""Webhook signing and the callback-URL allow-list (pure functions, no services)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from app.core import webhooks
from app.core.config import Settings
from mattergen_e.client import verify_signature


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"data":{"state":"succeeded"}}'
    headers = webhooks.signed_headers("whsec_abc", 1_700_000_000, body, "job.succeeded", "d-1")
    expected = hmac.new(b"whsec_abc", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers["X-MatterGen-Signature"] == f"sha256={expected}"
    assert headers["X-MatterGen-Timestamp"] == "1700000000"
    assert headers["X-MatterGen-Event"] == "job.succeeded" and headers["X-MatterGen-Delivery"] == "d-1"


def test_client_verify_signature_accepts_only_the_signed_fresh_request():
    body, now = b'{"x":1}', int(time.time())
    headers = webhooks.signed_headers("whsec_k", now, body, "job.failed", "d")
    lower = {k.lower(): v for k, v in headers.items()}
    assert verify_signature("whsec_k", body, headers)
    assert verify_signature("whsec_k", body, lower)  # header names are case-insensitive
    assert not verify_signature("whsec_other", body, headers)
    assert not verify_signature("whsec_k", body + b" ", headers)  # body changed
    # A replay: the same request long after it was signed, or with a new timestamp (breaks the HMAC).
    assert not verify_signature("whsec_k", body, headers, now=now + 3600)
    assert not verify_signature("whsec_k", body, {**headers, "X-MatterGen-Timestamp": str(now + 5)})
    assert not verify_signature("whsec_k", body, {k: v for k, v in headers.items() if "Signature" not in k})


def test_new_secrets_differ_and_fit_the_column():
    a, b = webhooks.new_secret(), webhooks.new_secret()
    assert a != b and a.startswith("whsec_") and len(a) <= 128


def _settings(hosts: str) -> Settings:
    return Settings(webhook_allowed_hosts=hosts)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "http://localhost/x", "https://[::1]:9000/", "http://127.0.0.2/"],
)
def test_default_allows_loopback(url):
    assert webhooks.check_callback_url(url, _settings("localhost,127.0.0.0/8,::1")) == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://127.0.0.1/x", "http:// or https://"),
        ("http:///nohost", "no host"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http://user:pw@127.0.0.1/", "credentials"),
        ("http://example.org/hook", "WEBHOOK_ALLOWED_HOSTS"),
        ("http://10.0.0.1/hook", "WEBHOOK_ALLOWED_HOSTS"),
        ("http://localhost.evil.example/", "WEBHOOK_ALLOWED_HOSTS"),
        ("http://127.0.0.1/a b", "whitespace"),
        ("not a url", "whitespace"),
        ("http://" + "a" * 2100, "longer than"),
    ],
)
def test_bad_or_disallowed_urls_say_why(url, fragment):
    with pytest.raises(ValueError) as info:
        webhooks.check_callback_url(url, _settings("localhost,127.0.0.0/8,::1"))
    assert fragment in str(info.value)


def test_allow_list_patterns_and_networks():
    rules = webhooks.HostRules.parse("*.lab.example, lims.example.org, 10.20.0.0/16")
    assert rules.allows("hooks.lab.example") and rules.allows("HOOKS.Lab.Example.")
    assert not rules.allows("lab.example.attacker.net") and not rules.allows("lab.example")
    assert rules.allows("lims.example.org") and not rules.allows("lims.example.org.evil")
    assert rules.allows("10.20.3.4") and not rules.allows("10.21.0.1")
    # An IP literal is only matched against networks, never against name patterns.
    assert not webhooks.HostRules.parse("*").allows("169.254.169.254")


def test_backoff_doubles_up_to_its_cap():
    s = Settings(webhook_backoff_base=2.0, webhook_backoff_max=10.0)
    assert [webhooks.backoff_seconds(n, s) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
