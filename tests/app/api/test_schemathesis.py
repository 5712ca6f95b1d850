"""A bounded property-based pass (schemathesis) over every operation of the OpenAPI schema, with an API
key, in-process against the real database: whatever the generated input, no 5xx.

The number of examples per operation is capped (SCHEMATHESIS_EXAMPLES, default 25) so `make test`
stays bounded; raise it for a deeper local run."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from app.main import app
from tests.conftest import make_key

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_key(services):
    # Quotas high so most valid submissions are accepted (the jobs go to a queue no worker consumes).
    return make_key("schemathesis")


# Loaded at collection: building the OpenAPI document needs no database. Requests run inside the test,
# after the fixtures have pointed the settings at the test servers.
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, fuzz_key, model_env):
    if case.operation.path == "/readyz":
        # 503 is this route's documented answer while no worker runs (none does here); anything else
        # from it must still be well-formed.
        response = case.call(headers=fuzz_key.headers)
        if response.status_code == 503:
            assert {e["code"] for e in response.json()["errors"]} == {"not_ready"}, response.text
        else:
            assert response.status_code < 500, response.text
        return
    case.call_and_validate(headers=fuzz_key.headers, checks=[not_a_server_error])
