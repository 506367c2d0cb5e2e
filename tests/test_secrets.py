"""A PostgreSQL password, in the URL's netloc or as ``?password=``, never shows: not in a repr,
a str, a dump, an error, a log line or the CLI's output (issue 10, point 1), whatever form the
database is given in, accepted or refused, and however the password is written (issue 20). The
pytest plugin's reports: ``pytest_plugin/tests/test_plugin_secrets.py``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from session_history import (
    DatabaseError,
    HistoryConfig,
    SchemaTooNewError,
    SessionHistory,
    StoreClosedError,
    SyncSessionHistory,
)
from session_history.cli import cli

from .helpers import raw_sql, session, turn

SECRET = "hunter2-s3cret"
# Nothing listens on port 1: opening fails at once, with the driver's own message.
UNREACHABLE = [
    f"postgresql://agent:{SECRET}@127.0.0.1:1/db",
    f"postgresql://agent@127.0.0.1:1/db?password={SECRET}",
    f"postgres://agent@127.0.0.1:1/db?sslmode=disable&password={SECRET}&schema=x",
    f"postgresql://agent:{SECRET}@127.0.0.1:abc/db",  # malformed: a bad port
    f"postgresql://agent:{SECRET}@[::1/db",  # malformed: an unclosed bracket
]


def assert_hidden(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text), text


@pytest.mark.parametrize("url", UNREACHABLE)
def test_the_config_never_shows_the_password(url: str) -> None:
    config = HistoryConfig(enabled=True, url=url)
    assert_hidden(
        repr(config),
        str(config),
        repr(config.model_dump()),
        config.model_dump(),  # printing a dict shows the reprs of its values
        config.model_dump_json(),
        config.model_dump(mode="json"),
        config.location,
        repr(config.url),
    )
    # The URL itself is still the real one, for the driver and for callers...
    assert config.url == url and isinstance(config.url, str)
    # ...and a Python dump validates back to it (a JSON dump hides it, as SecretStr's does).
    assert HistoryConfig.model_validate(config.model_dump()).url == url
    assert "***" in config.model_dump_json()


def test_a_url_given_as_db_path_or_in_the_environment_is_hidden_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = UNREACHABLE[0]
    assert_hidden(repr(HistoryConfig.model_validate({"db_path": url})))
    monkeypatch.setenv("SESSION_HISTORY_DB", UNREACHABLE[1])
    assert_hidden(repr(HistoryConfig()), HistoryConfig().model_dump_json())


@pytest.mark.parametrize("url", UNREACHABLE)
async def test_errors_and_the_store_never_show_the_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
    try:
        history = SessionHistory(config)  # a malformed URL is refused here
    except DatabaseError as exc:
        error = exc
    else:
        assert_hidden(repr(history))
        with pytest.raises(DatabaseError) as info:
            await history.open()  # an unreachable server here
        error = info.value
    assert_hidden(str(error), repr(error), error.path, caplog.text)
    assert "127.0.0.1" in str(error) or "[::1" in str(error)


def test_driver_messages_lose_the_secrets_of_their_url() -> None:
    from session_history._urls import redact_url, scrub

    url = f"postgresql://agent:{SECRET}@db/app?password={SECRET}x"
    message = f"auth failed for {url} (password {SECRET}x, then {SECRET})"
    assert_hidden(scrub(message, url))
    assert scrub(message, url).startswith("auth failed for postgresql://agent:***@db/app")
    encoded = "postgresql://agent@db/app?password=p%40ss"
    assert "p@ss" not in scrub("the password p@ss was refused", encoded)
    assert redact_url("postgresql:/agent:pw@db/app") == "postgresql:/agent:***@db/app"


POSTGRES = pytest.mark.session_history(backends=["postgresql"])


@pytest.fixture
def secret_url(session_history_db: str) -> str:
    """The test's own schema, with a password in the URL (a server that trusts the client, as
    the one of the tests does, ignores it)."""
    return f"{session_history_db}&password={SECRET}"


@POSTGRES
async def test_a_live_stores_errors_never_show_the_password(secret_url: str) -> None:
    config = HistoryConfig(enabled=True, url=secret_url, load_entrypoint_plugins=False)
    async with SessionHistory(config) as history:
        await history.create_session(session("a", messages=turn(0)))
        await raw_sql(history, "", "INSERT INTO {s}.migrations VALUES ('m999_new', now())")
        assert_hidden(repr(history))
    errors: list[DatabaseError] = []
    with pytest.raises(SchemaTooNewError) as newer:
        await SessionHistory(config).open()
    errors.append(newer.value)
    closed = SessionHistory(config)
    await closed.close()
    with pytest.raises(StoreClosedError) as used:
        await closed.session_count()
    errors.append(used.value)
    for error in errors:
        assert_hidden(str(error), error.path)
        assert "password=***" in str(error)


@POSTGRES
def test_the_cli_never_shows_the_password(
    secret_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a URL taken for a path would become a file
    db = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("a", messages=turn(0)))
    for args in (
        ["--db", str(db), "copy", secret_url],
        ["--db", secret_url, "list"],
        ["--db", secret_url, "demo", "--path", secret_url],
        ["--db", UNREACHABLE[1], "stats"],
        ["--db", UNREACHABLE[3], "list"],
    ):
        result = CliRunner().invoke(cli, args)
        assert_hidden(result.output)
        # Done, or a one-line error: never an exception with the URL in its traceback.
        assert result.exception is None or isinstance(result.exception, SystemExit)
    copied = CliRunner().invoke(cli, ["--db", str(db), "copy", secret_url])
    assert "to postgresql://" in copied.output and "password=***" in copied.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]


# -- every form a database may be given in, over every surface (issue 20) ------------------------

PARTS = ("Kx7Qm", "Zr9Pw")
"""The two halves of the password of every form below: neither may show, anywhere (a password
with an unencoded '/' used to show its second half, or its first as "the port 'Kx7Qm'")."""
FORMS = [
    "postgresql://agent:Kx7QmZr9Pw@127.0.0.1:1/db",
    "postgres://agent:Kx7QmZr9Pw@127.0.0.1:1/db",
    "postgresql+asyncpg://agent:Kx7QmZr9Pw@127.0.0.1:1/db",
    "postgresql+psycopg://agent:Kx7QmZr9Pw@127.0.0.1:1/db",
    "postgresql+psycopg2://agent:Kx7QmZr9Pw@127.0.0.1:1/db",
    "POSTGRESQL://agent:Kx7QmZr9Pw@127.0.0.1:1/db",
    "postgresql://agent:Kx7Qm/Zr9Pw@127.0.0.1:1/db",
    "postgresql://agent:Kx7Qm#Zr9Pw@127.0.0.1:1/db",
    "postgresql://agent:Kx7Qm?Zr9Pw@127.0.0.1:1/db",
    "postgresql://agent:Kx7Qm@Zr9Pw@127.0.0.1:1/db",
    "postgresql://agent:Kx7Qm:Zr9Pw@127.0.0.1:1/db",
    "postgresql://agent:Kx7Qm%2FZr9Pw@127.0.0.1:1/db?application_name=me@home",
    "postgresql://agent@127.0.0.1:1/db?password=Kx7QmZr9Pw",
    "postgres://agent@127.0.0.1:1/db?sslmode=disable&password=Kx7Qm#Zr9Pw&schema=x",
    "postgresql://agent:Kx7QmZr9Pw@127.0.0.1:1,127.0.0.1:2/db",
    "postgresql://agent:Kx7QmZr9Pw@[::1]:1/db",
    "postgresql://agent:Kx7QmZr9Pw@127.0.0.1:abc/db",  # malformed: a bad port
    "postgresql://agent:Kx7QmZr9Pw@[::1/db",  # malformed: an unclosed bracket
    "postgresql:/agent:Kx7QmZr9Pw@127.0.0.1:1/db",  # what a Path makes of a URL
    "mysql://agent:Kx7QmZr9Pw@127.0.0.1/db",  # refused from here on
    "host=127.0.0.1 port=1 user=agent password=Kx7QmZr9Pw dbname=db",
    "host=127.0.0.1 password='Kx7Qm Zr9Pw' dbname=db",
    "http://agent:Kx7Qm/Zr9Pw@example.com/db",
]
REFUSED = FORMS[FORMS.index("mysql://agent:Kx7QmZr9Pw@127.0.0.1/db") :]
ACCEPTED = FORMS[: len(FORMS) - len(REFUSED)]


def ids(forms: list[str]) -> list[str]:
    """Test ids that name a form by its place, not by its text (a test id is printed)."""
    return [f"form{FORMS.index(form)}" for form in forms]


def assert_no_part(*texts: object) -> None:
    for text in texts:
        for part in PARTS:
            assert part not in str(text), text


def configs(form: str, monkeypatch: pytest.MonkeyPatch) -> list[HistoryConfig]:
    """The form given in each of the three places a database is named."""
    made = [HistoryConfig(db_path=form), HistoryConfig(url=form)]  # type: ignore[arg-type]
    with monkeypatch.context() as env:
        env.setenv("SESSION_HISTORY_DB", form)
        made.append(HistoryConfig())
    return made


@pytest.mark.parametrize("form", ACCEPTED, ids=ids(ACCEPTED))
async def test_an_accepted_form_never_shows_its_password(
    form: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for config in configs(form, monkeypatch):
        assert config.url is not None
        assert_no_part(
            repr(config),
            str(config),
            config.model_dump(),
            config.model_dump_json(),
            config.location,
            repr(config.url),
        )
        try:
            history = SessionHistory(config)  # a malformed URL is refused here
            assert_no_part(repr(history))
            await history.open()  # nothing listens on port 1
        except DatabaseError as exc:
            assert_no_part(str(exc), repr(exc), exc.path)
        else:
            await history.close()
            pytest.fail(f"{form} opened")
    assert_no_part(caplog.text)


@pytest.mark.parametrize("form", REFUSED, ids=ids(REFUSED))
def test_a_refused_form_is_one_line_naming_the_accepted_ones_without_its_password(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for given in ({"db_path": form}, {"url": form}, {}):
        with monkeypatch.context() as env:
            env.setenv("SESSION_HISTORY_DB", form)
            with pytest.raises(DatabaseError) as info:
                HistoryConfig.model_validate(given)
        message = str(info.value)
        assert_no_part(message, repr(info.value), info.value.path)
        assert "***" in message and "\n" not in message
        assert "postgresql+asyncpg://" in message and "sqlite:///PATH" in message


@pytest.mark.parametrize("form", FORMS, ids=ids(FORMS))
def test_the_cli_never_shows_the_password_of_any_form(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a form taken for a path would become a file
    db = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("a", messages=turn(0)))
    for args in (["--db", form, "list"], ["--db", form, "stats"], ["--db", str(db), "copy", form]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert_no_part(result.output)
        assert result.output.startswith("Error: ") and len(result.output.splitlines()) == 1
    with monkeypatch.context() as env:
        env.setenv("SESSION_HISTORY_DB", form)
        result = CliRunner().invoke(cli, ["show", "a"])
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert_no_part(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]


@pytest.mark.parametrize("form", FORMS, ids=ids(FORMS))
def test_a_validation_error_never_shows_the_value_given(form: str) -> None:
    # Bytes are no path and no URL: refused by pydantic, whose errors quote their input unless
    # told not to.
    for fields in (
        {"db_path": form.encode()},
        {"url": form.encode()},
        {"url": form, "max_sessions": -1},
    ):
        with pytest.raises((ValidationError, DatabaseError)) as info:
            HistoryConfig.model_validate(fields)
        assert_no_part(str(info.value), repr(info.value))
