"""Fixtures of the console's tests: one seeded store with users per session, copied for each test;
the app over the copy, with Flask's test client. Passwords are argon2id with light parameters here
(the defaults cost ~0.1 s a sign-in, a hundred sign-ins in these tests); the hash records its
parameters, so verification follows them, and unknown names still verify the real-cost dummy."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from argon2 import PasswordHasher

from sentiment import store
from sentiment.web import users
from sentiment.web.app import create_app
from .web_fixtures import build_store, make_settings


@pytest.fixture(scope="session", autouse=True)
def light_argon2() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, light_argon2: None) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("seeded") / "web.db"
    ids = build_store(path)
    return path, ids


@pytest.fixture
def ids(seeded: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return seeded[1]


@pytest.fixture
def settings(tmp_path: Path, seeded: tuple[Path, dict[str, str]]) -> Any:
    settings = make_settings(tmp_path)
    shutil.copyfile(seeded[0], settings.db)
    return settings


@pytest.fixture
def db(settings: Any) -> Any:
    database = store.open_db(settings.db)
    yield database
    database.conn.close()


@pytest.fixture
def app(settings: Any) -> Any:
    return create_app(settings, {"TESTING": True})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
