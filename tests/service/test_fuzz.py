"""Schema-driven fuzzing of the running service (schemathesis on its /openapi.json): whatever a
request holds, the answer is JSON and never a 5xx."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import hypothesis
import pytest
import schemathesis

from .server import Service, running_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Tight limits: the valid jobs the fuzzer submits are tiny, and the queue fills (429) quickly.
    options = ("--max-params", "5000", "--max-sample-epochs", "20000", "--max-concurrent", "1", "--max-queued", "4")
    with running_service(tmp_path_factory.mktemp("service"), *options) as service:
        yield service


@pytest.fixture(scope="module")
def api(service: Service) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json", headers=service.headers)
    # The event streams stay open while jobs run; tests/service/test_recovery.py reads them.
    return schema.exclude(path_regex="events$")


def fuzz(schema: schemathesis.BaseSchema, examples: int, check: Callable[[schemathesis.Case], None]) -> int:
    """Run ``check`` on ``examples`` generated requests for each operation; return how many ran.
    (schemathesis's own pytest plugin does not run under pytest 9, so each operation's strategy is
    given to hypothesis directly.)"""
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        # Valid requests and invalid ones (schemathesis's negative mode breaks the schema on purpose).
        cases = operation.as_strategy() | operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)

        @hypothesis.given(case=cases)
        @hypothesis.settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck))
        def run(case: schemathesis.Case) -> None:
            nonlocal ran
            ran += 1
            check(case)

        run()
    return ran


def test_no_request_gets_a_5xx_or_an_answer_that_is_not_json(api: schemathesis.BaseSchema, service: Service) -> None:
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers=service.headers, timeout=30)
        assert response.status_code < 500, response.text
        assert response.headers["content-type"] == ["application/json"], response.headers
        response.json()

    assert fuzz(api, 40, check) >= 200


def test_without_the_token_every_request_but_health_and_login_is_refused(api: schemathesis.BaseSchema) -> None:
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": ""}, timeout=30)
        assert response.headers["content-type"] == ["application/json"]
        if case.path not in ("/health", "/login"):
            assert response.status_code == 401, response.text

    assert fuzz(api, 10, check) >= 50
