import pytest

from opscore import embedded_db
from tests.factories import AgentFactory, OperatorFactory


@pytest.fixture
def agent(db):
    return AgentFactory(slug="devops")


@pytest.fixture
def operator(db):
    return OperatorFactory()


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def pytest_sessionfinish(session, exitstatus):
    embedded_db.stop_if_started_here()
