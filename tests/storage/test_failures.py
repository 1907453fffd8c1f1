"""Which database failures pass if tried again and which wait for an operator, read from
errors real SQLite files and PostgreSQL raise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import JSON, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from forecaster.storage.db import Database
from forecaster.storage.failures import (
    DAMAGED,
    DAMAGED_DATA,
    MIGRATE,
    POSTGRES_DAMAGED,
    TOO_LARGE,
    DatabaseFailure,
    classify,
)
from forecaster.storage.orm import Base


def _error_of(url: str, sql: str, params: dict[str, int] | None = None) -> DBAPIError:
    engine = create_engine(url)
    try:
        with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
            connection.execute(text(sql), params or {})
    finally:
        engine.dispose()
    return raised.value


def test_a_missing_table_waits_for_a_migration_on_either_database(database: Database) -> None:
    """SQLite says "no such table" (an operational error), PostgreSQL undefined_table (a
    programming one): the same failure, the same fix."""
    failure = classify(_error_of(database.url, "SELECT * FROM nowhere"))
    assert failure is not None and failure.fix == MIGRATE and "nowhere" in failure.reason


def test_a_missing_column_waits_for_a_migration_when_written_too(database: Database) -> None:
    """An INSERT names a missing column in other words than a SELECT on SQLite ("table t has
    no column named c"), which read as "retry shortly"."""
    failure = classify(_error_of(database.url, "INSERT INTO services (nowhere) VALUES (1)"))
    assert failure is not None and failure.fix == MIGRATE and "nowhere" in failure.reason


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'a",
        "SELEKT 1",
        "SELECT (1",
        "SELECT nope(1)",
        "SELECT abs(1, 2)",
        "SELECT json_extract('{}', '$a')",
    ],
    ids=["token", "syntax", "incomplete", "function", "arguments", "json-path"],
)
def test_a_mistake_in_our_own_sql_is_no_database_failure(database: Database, sql: str) -> None:
    """PostgreSQL files these as programming errors, SQLite as operational ones, which were
    taken to pass: "retry shortly" for a bug no retry mends. Neither is the database's state.
    A JSON path is ours too (SQLite: "JSON path error near 'a'"; PostgreSQL has no
    json_extract), unlike the stored text it reads."""
    assert classify(_error_of(database.url, sql)) is None


@pytest.mark.parametrize(
    "said", ["JSON path error near 'a'", "bad JSON path: '$a'"], ids=["before-3.45", "3.45"]
)
def test_a_json_path_is_our_mistake_in_either_sqlites_words(said: str) -> None:
    """The case above runs the installed SQLite, which says one of these: from 3.45 SQLite
    says "bad JSON path", which read as a failure that passes ("retry shortly")."""
    error = OperationalError("SELECT json_extract('{}', '$a')", {}, sqlite3.OperationalError(said))
    assert classify(error) is None


def test_a_damaged_schema_is_damage_though_sqlite_words_it_as_a_mistake(tmp_path: Path) -> None:
    """A schema SQLite cannot parse ("malformed database schema (t) - incomplete input") is
    the file's damage, not our SQL: the fix, not a 500."""
    path = tmp_path / "schema.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("PRAGMA writable_schema = ON")
        connection.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE t (x' WHERE name = 't'")
    failure = classify(_error_of(f"sqlite:///{path}", "SELECT * FROM t"))
    assert failure is not None and failure.fix == DAMAGED
    assert failure.reason == "malformed database schema (t) - incomplete input"


MANY = 40_000  # more variables than SQLite's 32,766, more depth than its 1,000


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT " + " + ".join(f":p{i}" for i in range(MANY)), {f"p{i}": i for i in range(MANY)}),
        ("SELECT 1" + " + 1" * 1_100, None),  # an expression tree deeper than 1,000
        ("SELECT " + "(" * 1_100 + "1" + ")" * 1_100, None),  # parentheses too deep to parse
    ],
    ids=["variables", "expression", "parentheses"],
)
def test_a_statement_beyond_sqlites_limits_does_not_pass(
    tmp_path: Path, sql: str, params: dict[str, int] | None
) -> None:
    failure = classify(_error_of(f"sqlite:///{tmp_path / 'a.db'}", sql, params))
    assert failure is not None and failure.fix == TOO_LARGE


def test_a_lock_or_a_database_gone_passes(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = create_engine(f"sqlite:///{path}").connect()
    holder.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        url = f"sqlite:///{path}?timeout=0.05"
        locked = classify(_error_of(url, "CREATE TABLE t (x INTEGER)"))
    finally:
        holder.close()
    assert locked is not None and locked.passes and locked.reason == "database is locked"
    refused = classify(_error_of("postgresql+psycopg://postgres@127.0.0.1:1/none", "SELECT 1"))
    assert refused is not None and refused.passes and "127.0.0.1" in refused.reason


def test_an_error_of_another_kind_is_none() -> None:
    assert classify(ValueError("no such table: but not the database's")) is None


def test_a_write_sent_to_a_standby_passes(database: Database) -> None:
    """During a failover a write can reach a standby (the old primary, a DNS name not yet
    moved): PostgreSQL says read_only_sql_transaction, which its driver files as an internal
    error, and it was no database failure at all (a bare 500). A retry reaches the primary."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL's standby")
    failure = classify(
        _error_of(
            database.url,
            "SET TRANSACTION READ ONLY; CREATE TABLE written (x INTEGER)",
        )
    )
    assert failure is not None and failure.passes and "read-only transaction" in failure.reason


@pytest.mark.parametrize("sqlstate", ["XX001", "XX002"])
def test_damaged_data_in_postgresql_waits_for_an_operator(
    database: Database, sqlstate: str
) -> None:
    """PostgreSQL's data_corrupted and index_corrupted, which its driver files as internal
    errors, were a bare 500: no retry mends them, a REINDEX or a backup does."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL's own codes")
    raising = f"DO $$ BEGIN RAISE EXCEPTION 'damaged' USING ERRCODE = '{sqlstate}'; END $$"
    failure = classify(_error_of(database.url, raising))
    assert failure is not None and failure.fix == POSTGRES_DAMAGED and "damaged" in failure.reason


def test_a_broken_rule_is_none_whatever_its_values_say(database: Database) -> None:
    """PostgreSQL's message of a broken unique rule repeats the key's values, a client's text:
    one that read "is not a database" was taken for a damaged file (a 503 naming a restore
    from backup), where a broken rule is no failure of the database at all."""
    engine = create_engine(database.url)
    try:
        with pytest.raises(DBAPIError) as raised, engine.connect() as connection:
            connection.execute(text("CREATE TEMPORARY TABLE keyed (name TEXT UNIQUE)"))
            for _ in range(2):
                connection.execute(text("INSERT INTO keyed VALUES ('is not a database')"))
    finally:
        engine.dispose()
    assert classify(raised.value) is None


def test_a_value_a_column_cannot_hold_is_none_whatever_it_says(database: Database) -> None:
    """PostgreSQL's words for a bad value quote it ("invalid input syntax ...: "no such
    table""): a client's text, not a schema waiting for a migration."""
    if database.is_sqlite:
        pytest.skip("SQLite casts any text to a number")
    error = _error_of(database.url, "SELECT CAST(:said AS INTEGER) + 1", {"said": "no such table"})
    assert "no such table" in str(error) and classify(error) is None


def test_malformed_json_in_a_stored_row_waits_for_an_operator(tmp_path: Path) -> None:
    """SQLite's JSON functions say "malformed JSON" of a stored text that is not JSON (an
    operational error, taken to pass: "retry shortly"); every retry reads the same row."""
    path = tmp_path / "json.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (doc TEXT)")
        connection.execute("""INSERT INTO t VALUES ('{"training": ')""")
    failure = classify(_error_of(f"sqlite:///{path}", "SELECT t.doc ->> '$.training' FROM t"))
    assert failure == DatabaseFailure("malformed JSON", DAMAGED_DATA)


def test_the_readme_names_every_json_column_the_fix_sends_an_operator_to() -> None:
    """The fix for damaged data points at the README's list of JSON columns: none left out."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    listed = readme.split("JSON columns:", 1)[1].split("\n\n", 1)[0]
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, JSON):
                assert f"{table.name}.{column.name}" in " ".join(listed.split())
