"""CloudWatch Logs against a running Moorage, with boto3, the AWS CLI v1 (/work/main/.venv/bin/aws) and the
AWS CLI v2 (`aws logs tail` exists in v2 only; the official build ships in the PyPI wheel
aws-cdk-asset-awscli-v2). Bad input always gets AWS's error, never a 5xx."""

import io
import json
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT_ID, REGION

AWS_V1 = str(Path(sys.executable).parent / "aws")
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def error_of(call, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    return caught.value


def code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


@pytest.fixture(scope="module")
def logs(moorage):
    return moorage.client("logs")


@pytest.fixture(scope="module")
def unchecked(moorage):
    """A client that sends what it is given (no client-side validation), to see the server's answer."""
    return moorage.client("logs", config=Config(retries={"max_attempts": 1}, parameter_validation=False))


@pytest.fixture
def group(logs):
    name = f"/moorage/test/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName="s1")
    return name


@pytest.fixture(scope="session")
def aws_v2(tmp_path_factory) -> str:
    """The official AWS CLI v2 build inside the PyPI wheel aws-cdk-asset-awscli-v2 (a Lambda layer)."""
    import importlib.metadata

    distribution = importlib.metadata.distribution("aws-cdk-asset-awscli-v2")
    tgz = next(f for f in distribution.files if f.name.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(tgz.locate().read_bytes())) as archive:
        layer = archive.extractfile("package/lib/layer.zip").read()
    target = tmp_path_factory.mktemp("awscli-v2")
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        for info in archive.infolist():
            path = archive.extract(info, target)
            mode = info.external_attr >> 16
            if mode:
                Path(path).chmod(mode & 0o777)
    return str(next(target.glob("awscli/v2/*/dist/aws")))


def cli(moorage, binary, *args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([binary, *args], env=moorage.env(), capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


# --- log groups ---------------------------------------------------------------------------------


def test_log_group_lifecycle_tags_retention_and_kms(logs):
    name = f"/moorage/groups/{uuid.uuid4().hex[:8]}"
    kms = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    logs.create_log_group(logGroupName=name, tags={"team": "a"}, kmsKeyId=kms, logGroupClass="INFREQUENT_ACCESS")
    assert code(error_of(logs.create_log_group, logGroupName=name)) == "ResourceAlreadyExistsException"
    [found] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}"
    assert found["arn"] == f"{arn}:*" and found["logGroupArn"] == arn
    assert found["kmsKeyId"] == kms and found["logGroupClass"] == "INFREQUENT_ACCESS" and "retentionInDays" not in found

    logs.put_retention_policy(logGroupName=name, retentionInDays=30)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["retentionInDays"] == 30
    error = error_of(logs.put_retention_policy, logGroupName=name, retentionInDays=2)
    assert code(error) == "InvalidParameterException" and "[1, 3, 5, 7, 14, 30" in str(error)
    logs.delete_retention_policy(logGroupName=name)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]

    logs.tag_log_group(logGroupName=name, tags={"env": "dev"})
    assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"team": "a", "env": "dev"}
    logs.untag_log_group(logGroupName=name, tags=["team"])
    logs.tag_resource(resourceArn=arn, tags={"cost": "1"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev", "cost": "1"}
    # The ':*' form DescribeLogGroups shows in `arn` breaks the model's pattern for resourceArn, as at AWS.
    assert code(error_of(logs.list_tags_for_resource, resourceArn=f"{arn}:*")) == "InvalidParameterException"
    logs.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"cost": "1"}

    logs.disassociate_kms_key(logGroupName=name)
    assert "kmsKeyId" not in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    logs.associate_kms_key(logGroupName=name, kmsKeyId=kms)
    assert code(error_of(logs.associate_kms_key, logGroupName=name, kmsKeyId="not-a-key")) == "InvalidParameterException"

    logs.delete_log_group(logGroupName=name)
    error = error_of(logs.delete_log_group, logGroupName=name)
    assert code(error) == "ResourceNotFoundException" and "The specified log group does not exist." in str(error)
    assert code(error_of(logs.list_tags_for_resource, resourceArn=arn)) == "ResourceNotFoundException"


def test_describe_log_groups_prefix_pattern_and_pages(logs):
    base = f"/moorage/pages/{uuid.uuid4().hex[:8]}"
    for i in range(5):
        logs.create_log_group(logGroupName=f"{base}/g{i}")
    first = logs.describe_log_groups(logGroupNamePrefix=base, limit=2)
    assert len(first["logGroups"]) == 2 and first["nextToken"]
    names = [g["logGroupName"] for g in first["logGroups"]]
    token = first["nextToken"]
    while token:
        page = logs.describe_log_groups(logGroupNamePrefix=base, limit=2, nextToken=token)
        names += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
    assert names == [f"{base}/g{i}" for i in range(5)]
    paginated = [g["logGroupName"] for p in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}) for g in p["logGroups"]]
    assert paginated == names
    pattern = base.split("/")[-1].upper()  # the pattern is a case-insensitive substring
    assert len(logs.describe_log_groups(logGroupNamePattern=pattern)["logGroups"]) == 5
    assert code(error_of(logs.describe_log_groups, logGroupNamePrefix=base, logGroupNamePattern="x")) == "InvalidParameterException"
    assert code(error_of(logs.describe_log_groups, nextToken="garbage")) == "InvalidParameterException"


def test_bad_group_names(unchecked):
    for bad in ("", "has space", "colon:name", "x" * 513):
        assert code(error_of(unchecked.create_log_group, logGroupName=bad)) == "InvalidParameterException"


# --- streams and events ---------------------------------------------------------------------------


def test_streams_describe_order_and_figures(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="s2")
    assert code(error_of(logs.create_log_stream, logGroupName=group, logStreamName="s2")) == "ResourceAlreadyExistsException"
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s2", logEvents=[{"timestamp": t - 10, "message": "a"}])
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[{"timestamp": t, "message": "bb"}])
    by_name = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["s1", "s2"]
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in latest] == ["s1", "s2"]
    assert latest[0]["firstEventTimestamp"] == t == latest[0]["lastEventTimestamp"]
    assert latest[0]["lastIngestionTime"] >= t - 5000 and latest[0]["storedBytes"] == 2
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="s2")["logStreams"]] == ["s2"]
    assert code(error_of(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                         logStreamNamePrefix="s")) == "InvalidParameterException"
    logs.delete_log_stream(logGroupName=group, logStreamName="s2")
    error = error_of(logs.delete_log_stream, logGroupName=group, logStreamName="s2")
    assert "The specified log stream does not exist." in str(error)


def test_put_log_events_rules(logs, unchecked, group):
    t = now_ms()
    error = error_of(logs.put_log_events, logGroupName=group, logStreamName="nope", logEvents=[{"timestamp": t, "message": "x"}])
    assert code(error) == "ResourceNotFoundException" and "The specified log stream does not exist." in str(error)
    error = error_of(logs.put_log_events, logGroupName="/no/such/group", logStreamName="s1", logEvents=[{"timestamp": t, "message": "x"}])
    assert "The specified log group does not exist." in str(error)
    error = error_of(logs.put_log_events, logGroupName=group, logStreamName="s1",
                     logEvents=[{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}])
    assert "chronological order" in str(error)
    error = error_of(logs.put_log_events, logGroupName=group, logStreamName="s1",
                     logEvents=[{"timestamp": t - 25 * 3_600_000, "message": "a"}, {"timestamp": t, "message": "b"}])
    assert "cannot span more than 24 hours" in str(error)
    error = error_of(logs.put_log_events, logGroupName=group, logStreamName="s1",
                     logEvents=[{"timestamp": t, "message": "x" * 600_000}, {"timestamp": t, "message": "y" * 600_000}])
    assert "Upload too large" in str(error)
    error = error_of(logs.put_log_events, logGroupName=group, logStreamName="s1",
                     logEvents=[{"timestamp": t, "message": "x"}] * 10_001)
    assert code(error) == "InvalidParameterException"
    assert code(error_of(unchecked.put_log_events, logGroupName=group, logStreamName="s1", logEvents=[])) == "InvalidParameterException"

    # Sequence tokens are ignored; too old and too new events are rejected, the rest stored.
    answer = logs.put_log_events(logGroupName=group, logStreamName="s1", sequenceToken="whatever", logEvents=[
        {"timestamp": t - 15 * DAY_MS, "message": "too old"},
        {"timestamp": t - 1000, "message": "kept 1"},
        {"timestamp": t, "message": "kept 2"},
        {"timestamp": t + 3 * 3_600_000, "message": "too new"},
    ])
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 3}
    events = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["kept 1", "kept 2"]


def test_retention_hides_and_refuses_expired_events(logs, group):
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": t - 3 * DAY_MS, "message": "three days ago"}, {"timestamp": t - 2 * DAY_MS, "message": "two days ago"}])
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[{"timestamp": t, "message": "now"}])
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == ["now"]
    assert [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName="s1")["events"]] == ["now"]
    answer = logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": t - 2 * DAY_MS, "message": "expired"}, {"timestamp": t, "message": "fine"}])
    assert answer["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    logs.delete_retention_policy(logGroupName=group)  # purged events do not come back
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == ["now", "fine"]


def test_get_log_events_tokens_forward_and_backward(logs, group):
    t = now_ms() - 100_000
    logs.put_log_events(logGroupName=group, logStreamName="s1",
                        logEvents=[{"timestamp": t + i, "message": f"m{i}"} for i in range(25)])
    page = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True, limit=10)
    seen = [e["message"] for e in page["events"]]
    assert page["nextForwardToken"].startswith("f/") and page["nextBackwardToken"].startswith("b/")
    token = page["nextForwardToken"]
    while True:
        page = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=token, limit=10)
        if page["nextForwardToken"] == token:  # the end: the same token comes back
            assert page["events"] == []
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == [f"m{i}" for i in range(25)]
    latest = logs.get_log_events(logGroupName=group, logStreamName="s1", limit=10)  # newest events by default
    assert [e["message"] for e in latest["events"]] == [f"m{i}" for i in range(15, 25)]
    before = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=latest["nextBackwardToken"], limit=10)
    assert [e["message"] for e in before["events"]] == [f"m{i}" for i in range(5, 15)]
    window = logs.get_log_events(logGroupName=group, logStreamName="s1", startTime=t + 3, endTime=t + 6, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["m3", "m4", "m5"]
    assert code(error_of(logs.get_log_events, logGroupName=group, logStreamName="s1", nextToken="f/bad")) == "InvalidParameterException"


def test_filter_log_events_patterns_streams_and_pages(logs, group):
    logs.create_log_stream(logGroupName=group, logStreamName="audit-1")
    t = now_ms() - 60_000
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": t, "message": "ERROR disk full"}, {"timestamp": t + 2, "message": "WARN slow"}])
    logs.put_log_events(logGroupName=group, logStreamName="audit-1", logEvents=[
        {"timestamp": t + 1, "message": json.dumps({"verb": "create", "objectRef": {"resource": "namespaces"}, "n": 5})},
        {"timestamp": t + 3, "message": json.dumps({"verb": "delete", "objectRef": {"resource": "pods"}, "n": 1})}])
    def messages(**kwargs):
        return [e["message"][:12] for e in logs.filter_log_events(logGroupName=group, **kwargs)["events"]]
    assert messages() == ["ERROR disk f", '{"verb": "cr', "WARN slow", '{"verb": "de']  # interleaved by time
    assert messages(filterPattern="?ERROR ?WARN") == ["ERROR disk f", "WARN slow"]
    assert messages(filterPattern='{ $.verb = "create" && $.objectRef.resource = "namespaces" }') == ['{"verb": "cr']
    assert messages(filterPattern="{ $.n > 3 || $.verb = \"delete\" }") == ['{"verb": "cr', '{"verb": "de']
    assert messages(logStreamNamePrefix="audit") == ['{"verb": "cr', '{"verb": "de']
    assert messages(logStreamNames=["s1"], startTime=t + 1, endTime=t + 2) == ["WARN slow"]
    assert messages(filterPattern="[level=ERROR, ...]") == ["ERROR disk f"]
    pages = list(logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={"PageSize": 1}))
    assert [e["message"][:5] for p in pages for e in p["events"]] == ["ERROR", '{"ver', "WARN ", '{"ver']
    event = logs.filter_log_events(logGroupName=group, limit=1)["events"][0]
    assert event["logStreamName"] == "s1" and event["eventId"] and event["ingestionTime"] >= t
    for bad in ("{ $.verb = ", "{ $.a > \"x\" }", "[a, a]", "user@example.com"):
        error = error_of(logs.filter_log_events, logGroupName=group, filterPattern=bad)
        assert code(error) == "InvalidParameterException" and "Invalid filter pattern" in str(error)
    assert code(error_of(logs.filter_log_events, logGroupName=group, logStreamNames=["nope"])) == "ResourceNotFoundException"
    assert code(error_of(logs.filter_log_events, logGroupName="/no/such")) == "ResourceNotFoundException"


# --- Logs Insights --------------------------------------------------------------------------------


def query(logs, group, text, **kwargs):
    query_id = logs.start_query(logGroupName=group, startTime=int(time.time()) - 3600, endTime=int(time.time()) + 60,
                                queryString=text, **kwargs)["queryId"]
    deadline = time.monotonic() + 30
    while True:
        result = logs.get_query_results(queryId=query_id)
        if result["status"] not in ("Scheduled", "Running") or time.monotonic() > deadline:
            return query_id, result
        time.sleep(0.05)


def test_insights_queries(logs, group):
    t = now_ms() - 60_000
    events = [{"timestamp": t + i, "message": json.dumps({"verb": v, "user": {"username": u}, "latency": i * 10})}
              for i, (v, u) in enumerate([("create", "alice"), ("delete", "bob"), ("delete", "alice"), ("get", "carol")])]
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=events)
    _, result = query(logs, group, "fields @timestamp, user.username | filter verb = 'delete' | sort @timestamp asc")
    assert result["status"] == "Complete"
    rows = [{c["field"]: c["value"] for c in row} for row in result["results"]]
    assert [r["user.username"] for r in rows] == ["bob", "alice"] and all("@ptr" in r for r in rows)
    assert result["statistics"]["recordsMatched"] == 2 and result["statistics"]["recordsScanned"] == 4
    _, result = query(logs, group, "stats count(*) as n, avg(latency) as avg by verb | sort n desc | limit 1")
    assert [{c["field"]: c["value"] for c in row} for row in result["results"]] == [{"verb": "delete", "n": "2", "avg": "15"}]
    _, result = query(logs, group, "stats count(*) by bin(5m)")
    assert sum(int(row[1]["value"]) for row in result["results"]) == 4
    query_id, _ = query(logs, group, "stats pct(latency, 50) as p50")
    listed = logs.describe_queries(logGroupName=group)["queries"]
    assert query_id in [q["queryId"] for q in listed] and all(q["status"] == "Complete" for q in listed)
    assert logs.stop_query(queryId=query_id)["success"] is False  # already complete

    for bad in ("fields", "filter verb = ", "stats verb", "limit 0", "sort", "nosuchcommand x", "parse @message /x/"):
        error = error_of(logs.start_query, logGroupName=group, startTime=0, endTime=10, queryString=bad)
        assert code(error) == "MalformedQueryException", bad
        assert "queryCompileError" in error.response
    assert code(error_of(logs.start_query, logGroupName="/no/such", startTime=0, endTime=10, queryString="fields @message")) == "ResourceNotFoundException"
    assert code(error_of(logs.start_query, logGroupName=group, startTime=10, endTime=0, queryString="fields @message")) == "InvalidParameterException"
    assert code(error_of(logs.get_query_results, queryId="00000000-0000-0000-0000-000000000000")) == "ResourceNotFoundException"


# --- the AWS CLI ----------------------------------------------------------------------------------


def test_cli_v1_filter_and_query(moorage, logs, group):
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": t, "message": json.dumps({"verb": "create", "objectRef": {"resource": "namespaces"}})}])
    done = cli(moorage, AWS_V1, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern",
               '{ $.verb = "create" && $.objectRef.resource = "namespaces" }')
    assert len(json.loads(done.stdout)["events"]) == 1
    done = cli(moorage, AWS_V1, "logs", "start-query", "--log-group-name", group, "--start-time", str(t // 1000 - 60),
               "--end-time", str(t // 1000 + 60), "--query-string", "stats count(*) by verb")
    query_id = json.loads(done.stdout)["queryId"]
    for _ in range(100):
        result = json.loads(cli(moorage, AWS_V1, "logs", "get-query-results", "--query-id", query_id).stdout)
        if result["status"] == "Complete":
            break
        time.sleep(0.05)
    assert result["results"] == [[{"field": "verb", "value": "create"}, {"field": "count(*)", "value": "1"}]]
    bad = cli(moorage, AWS_V1, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "{ $.x", check=False)
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr


def test_cli_v2_logs_tail(moorage, logs, group, aws_v2):
    logs.create_log_stream(logGroupName=group, logStreamName="kube-apiserver-audit-1")
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[{"timestamp": t - 7_200_000, "message": "two hours ago"}])
    logs.put_log_events(logGroupName=group, logStreamName="kube-apiserver-audit-1", logEvents=[{"timestamp": t - 1000, "message": "audit line"}])
    plain = cli(moorage, aws_v2, "logs", "tail", group).stdout
    assert "audit line" in plain and "two hours ago" not in plain  # --since defaults to 10m
    assert "kube-apiserver-audit-1 audit line" in plain
    assert "two hours ago" in cli(moorage, aws_v2, "logs", "tail", group, "--since", "3h").stdout
    short = cli(moorage, aws_v2, "logs", "tail", group, "--format", "short", "--log-stream-name-prefix", "kube-apiserver-audit").stdout
    assert short.strip().endswith("audit line") and "kube-apiserver-audit-1" not in short

    follow = subprocess.Popen([aws_v2, "logs", "tail", group, "--follow", "--log-stream-name-prefix", "kube-apiserver-audit",
                               "--format", "short"], env=moorage.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "audit line" in follow.stdout.readline()
        logs.put_log_events(logGroupName=group, logStreamName="kube-apiserver-audit-1", logEvents=[{"timestamp": now_ms(), "message": "new line"}])
        logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[{"timestamp": now_ms(), "message": "other stream"}])
        assert "new line" in follow.stdout.readline()  # --follow polls every 5 s
    finally:
        follow.kill()
        follow.wait()


# --- authorisation --------------------------------------------------------------------------------


def test_logs_calls_are_authorised_on_group_and_stream_arns(moorage, logs, group):
    iam = moorage.client("iam", region="us-east-1")
    user = f"logs-writer-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    base = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}"
    iam.put_user_policy(UserName=user, PolicyName="ship", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], "Resource": f"{base}:*"},
    ]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    writer = moorage.client("logs", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    deadline = time.monotonic() + 10
    while True:  # a new access key can take a moment to be seen by every API worker
        try:
            writer.create_log_stream(logGroupName=group, logStreamName="from-writer")
            break
        except ClientError as error:
            if time.monotonic() > deadline or code(error) not in ("UnrecognizedClientException", "InvalidSignatureException"):
                raise
            time.sleep(0.2)
    writer.put_log_events(logGroupName=group, logStreamName="from-writer", logEvents=[{"timestamp": now_ms(), "message": "hi"}])
    assert [s["logStreamName"] for s in writer.describe_log_streams(logGroupName=group)["logStreams"]] == ["from-writer", "s1"]
    denied = error_of(writer.get_log_events, logGroupName=group, logStreamName="from-writer")
    assert code(denied) == "AccessDeniedException" and "logs:GetLogEvents" in str(denied)
    assert "log-stream:from-writer" in str(denied)
    assert code(error_of(writer.create_log_group, logGroupName=f"{group}-other")) == "AccessDeniedException"
    assert code(error_of(writer.put_log_events, logGroupName=f"{group}-other", logStreamName="s",
                         logEvents=[{"timestamp": now_ms(), "message": "x"}])) == "AccessDeniedException"
