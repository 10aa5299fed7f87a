"""The filter-pattern language: each form, its SQL pre-filter agreeing with the Python meaning, and
the errors of malformed patterns."""

import json
import sqlite3

import pytest

from moorage.core.errors import AwsError
from moorage.services.logs.filter_pattern import compile_pattern

MESSAGES = [
    "ERROR disk full on /dev/sda1",
    "WARN disk almost full",
    "INFO all good",
    "DEBUG ERROR in debug",
    "FATAL: kernel panic",
    json.dumps({"verb": "create", "objectRef": {"resource": "namespaces", "name": "team-a"}, "code": 201, "ok": True}),
    json.dumps({"verb": "delete", "objectRef": {"resource": "pods"}, "code": 404, "ok": False, "user": None}),
    json.dumps({"verb": "get", "items": [{"id": 7}, {"id": 9}], "latency": 12.5}),
    '127.0.0.1 frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    '10.0.0.2 - [10/Oct/2000:13:56:00 -0700] "POST /login HTTP/1.1" 404 1500',
    '10.0.0.3 bob [10/Oct/2000:13:57:00 -0700] "GET /big HTTP/1.1" 404 900',
]


def python_matches(pattern: str) -> list[str]:
    compiled = compile_pattern(pattern)
    return [m for m in MESSAGES if compiled.matches(m)]


def sql_candidates(pattern: str) -> list[str]:
    compiled = compile_pattern(pattern)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (message TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(m,) for m in MESSAGES])
    where, args = compiled.sql
    rows = db.execute(f"SELECT message FROM t WHERE {where or '1'} ORDER BY rowid", args).fetchall()
    return [r[0] for r in rows]


CASES = [
    ("", 11),
    ("ERROR", 2),
    ("ERROR disk", 1),
    ('"disk full"', 1),
    ("?ERROR ?WARN", 3),
    ("ERROR -DEBUG", 1),
    ("error", 0),  # case-sensitive
    ("{ $.verb = \"create\" }", 1),
    ("{ $.verb = \"create\" && $.objectRef.resource = \"namespaces\" }", 1),
    ("{ $.verb = \"create\" || $.verb = \"delete\" }", 2),
    ("{ $.verb != \"create\" }", 2),
    ("{ $.verb = \"cr*\" }", 1),
    ("{ $.verb = \"*e*\" }", 3),
    ("{ $.code > 300 }", 1),
    ("{ $.code >= 201 && $.code < 404 }", 1),
    ("{ $.code = 404 }", 1),
    ("{ $.latency > 10 }", 1),
    ("{ $.items[1].id = 9 }", 1),
    ("{ $.user IS NULL }", 1),
    ("{ $.user NOT EXISTS }", 2),
    ("{ $.ok IS TRUE }", 1),
    ("{ $.ok IS FALSE }", 1),
    ("{ ($.verb = \"get\" || $.verb = \"delete\") && $.code = 404 }", 1),
    ("{ $.objectRef.name = team-a }", 1),
    ("[ip, user, timestamp, request, status, size]", 3),
    ("[ip, user, timestamp, request, status=404, size]", 2),
    ("[ip, user, timestamp, request, status=404, size>1000]", 1),
    ("[ip, ..., status=4*, size]", 2),
    ("[ip=10.*, ...]", 2),
    ("[ip=1*, user!=bob, ...]", 2),
    ("[..., size<1000]", 1),
    ("[ip, user, timestamp, request, status=200 || status=404, size]", 3),
    ("[a, b]", 0),
]


@pytest.mark.parametrize("pattern,count", CASES)
def test_pattern_matches(pattern, count):
    matched = python_matches(pattern)
    assert len(matched) == count, matched
    # The SQL pre-filter never loses a match.
    candidates = sql_candidates(pattern)
    assert set(matched) <= set(candidates)
    if compile_pattern(pattern).exact:
        assert set(candidates) == set(matched)


@pytest.mark.parametrize("pattern", [
    "{ $.verb = ", "{ $.verb = \"x\"", "{ verb = 1 }", "{ $.a > \"x\" }", "{ $.a = 1 && }", "{ }", "{ $.a IS MAYBE }",
    "[ip, user", "[]", "[a, a]", "[a>x]", "user@example.com", '""', '"unterminated', "a=b", "?",
])
def test_malformed_patterns(pattern):
    with pytest.raises(AwsError) as caught:
        compile_pattern(pattern)
    assert caught.value.code == "InvalidParameterException"
    assert caught.value.message.startswith("Invalid filter pattern")


def test_term_characters_error_names_the_term():
    with pytest.raises(AwsError) as caught:
        compile_pattern("user@example.com")
    assert caught.value.message == "Invalid filter pattern: Invalid character(s) in term 'user@example.com'"


def test_unicode_escapes_still_match_json_patterns():
    message = '{"verb": "cr\\u0065ate"}'
    assert compile_pattern('{ $.verb = "create" }').matches(message)
