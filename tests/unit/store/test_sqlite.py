import threading

import pytest

from moorage.store import AlreadyExists, Conflict, Key, NotFound, SqliteStore

KEY = Key("111122223333", "us-west-2", "cluster", "demo")


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


def test_create_get_and_list(store):
    record = store.create(KEY, {"version": "1.37"}, {"status": "CREATING"})
    assert record.version == 1 and record.generation == 1
    assert store.get(KEY).spec == {"version": "1.37"}
    store.create(Key("111122223333", "us-west-2", "cluster", "a"), {})
    store.create(Key("111122223333", "eu-west-1", "cluster", "b"), {})
    assert [r.key.name for r in store.list("111122223333", "us-west-2", "cluster")] == ["a", "demo"]
    assert len(store.list(None, None, "cluster")) == 3


def test_duplicate_create_is_rejected(store):
    store.create(KEY, {})
    with pytest.raises(AlreadyExists):
        store.create(KEY, {"other": 1})
    assert store.get(KEY).spec == {}


def test_compare_and_set(store):
    first = store.create(KEY, {"n": 1})
    second = store.update_spec(first, {"n": 2})
    assert (second.version, second.generation) == (2, 2)
    with pytest.raises(Conflict):
        store.update_status(first, {"status": "ACTIVE"})
    third = store.update_status(second, {"status": "ACTIVE"})
    assert (third.version, third.generation) == (3, 2)
    assert store.get(KEY).spec == {"n": 2}


def test_delete_flow(store):
    record = store.mark_deleting(store.create(KEY, {}))
    assert record.deleting
    store.remove(record)
    assert store.get(KEY) is None
    with pytest.raises(NotFound):
        store.update_status(record, {})


def test_subscribers_hear_committed_changes(store):
    heard = []
    store.subscribe(heard.append)
    record = store.create(KEY, {})
    store.update_status(record, {"x": 1})
    assert heard == [KEY, KEY]


def test_survives_reopen(tmp_path):
    SqliteStore(tmp_path / "s.db").create(KEY, {"kept": True})
    assert SqliteStore(tmp_path / "s.db").get(KEY).spec == {"kept": True}


def test_concurrent_writers_never_lose_updates(store):
    store.create(KEY, {"count": 0})

    def bump():
        for _ in range(50):
            while True:
                record = store.get(KEY)
                try:
                    store.update_spec(record, {"count": record.spec["count"] + 1})
                    break
                except Conflict:
                    continue

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get(KEY).spec["count"] == 200


def test_settings_only_if_absent(store):
    assert store.set_setting("account", {"id": "1"}, only_if_absent=True) == {"id": "1"}
    assert store.set_setting("account", {"id": "2"}, only_if_absent=True) == {"id": "1"}
    assert store.setting("account") == {"id": "1"}
    assert store.setting("missing") is None


def test_write_all_is_all_or_nothing(store):
    old = store.create(Key("1", "r", "user", "old"), {"n": 1})
    child = store.create(Key("1", "r", "key", "k"), {"user": "old"})
    taken = store.create(Key("1", "r", "user", "taken"), {"n": 2})
    # A clash on the create: nothing is written.
    with pytest.raises(AlreadyExists):
        store.write_all(creates=[(taken.key, {"n": 3})], updates=[(child, {"user": "taken"})], removes=[old])
    assert store.get(old.key).spec == {"n": 1} and store.get(child.key).spec == {"user": "old"}
    # A stale version on an update: nothing is written, not even the create.
    store.update_spec(child, {"user": "old", "changed": True})
    new = Key("1", "r", "user", "new")
    with pytest.raises(Conflict):
        store.write_all(creates=[(new, {"n": 1})], updates=[(child, {"user": "new"})], removes=[old])
    assert store.get(new) is None and store.get(old.key) is not None
    # Fresh versions: everything at once.
    store.write_all(creates=[(new, {"n": 1})], updates=[(store.get(child.key), {"user": "new"})], removes=[store.get(old.key)])
    assert store.get(old.key) is None and store.get(new).spec == {"n": 1}
    assert store.get(child.key).spec == {"user": "new"}
