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


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_the_store_and_its_wal_files_are_owner_only(tmp_path):
    store = SqliteStore(tmp_path / "data" / "state.db")
    store.create(Key("1", "r", "k", "n"), {"secret": "x"})
    files = [tmp_path / "data" / name for name in ("state.db", "state.db-wal", "state.db-shm")]
    assert all(path.exists() for path in files)
    assert [_mode(path) for path in files] == [0o600] * 3
    assert _mode(tmp_path / "data") == 0o700


def test_a_store_left_readable_by_an_older_moorage_is_tightened_on_open(tmp_path):
    SqliteStore(tmp_path / "state.db").create(Key("1", "r", "k", "n"), {})
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (tmp_path / name).chmod(0o644)
    reopened = SqliteStore(tmp_path / "state.db")
    assert reopened.get(Key("1", "r", "k", "n")) is not None  # nothing lost
    assert {_mode(tmp_path / name) for name in ("state.db", "state.db-wal", "state.db-shm")} == {0o600}


def test_the_data_dir_is_created_owner_only_and_tightened_on_upgrade(tmp_path):
    from moorage.config import prepare_data_dir

    prepare_data_dir(tmp_path / "new" / "moorage")
    assert _mode(tmp_path / "new" / "moorage") == 0o700
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    old.chmod(0o755)
    prepare_data_dir(old)
    assert _mode(old) == 0o700
