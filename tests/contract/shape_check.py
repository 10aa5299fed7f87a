"""Checks every response a boto3 client receives against its botocore output shape.

Two views of each successful response are checked: the parsed dict (required members present, enum
values valid, Python types right, ARNs and EC2 ids in AWS's formats) and the raw HTTP body (no member
the shape does not define: botocore silently drops unknown members when it parses, so only the raw
body shows them). JSON and rest-JSON bodies are compared key by key; query and EC2 XML bodies element
by element, with botocore's own rules for element names (locationName, `member`/`item`, flattened).
"""

from __future__ import annotations

import datetime
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

ACCOUNT_ID = "111122223333"

# EC2 id members and their prefixes: AWS ids are the prefix and 8 (older) or 17 lowercase hex digits.
EC2_ID_PREFIXES = {
    "VpcId": "vpc", "SubnetId": "subnet", "GroupId": "sg", "InternetGatewayId": "igw",
    "RouteTableId": "rtb", "RouteTableAssociationId": "rtbassoc", "KeyPairId": "key",
    "LaunchTemplateId": "lt", "VolumeId": "vol", "SnapshotId": "snap", "InstanceId": "i",
    "SecurityGroupRuleId": "sgr", "ReservationId": "r", "NetworkInterfaceId": "eni",
}
ARN = re.compile(r"^arn:aws:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}|aws|):(?P<resource>.+)$")
GLOBAL_SERVICES = {"iam", "sts"}

# Where AWS's own wire answers a value its botocore model does not list, as AWS documents it: (shape, value).
# InternetGatewayAttachment.State: "For an internet gateway, the state is available when attached to a VPC"
# (EC2 API Reference, InternetGatewayAttachment), though the AttachmentStatus enum has no "available".
AWS_DOCUMENTED_ENUM_VALUES = {("AttachmentStatus", "available")}


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class ShapeChecker:
    region: str
    operations: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    shapes: set = field(default_factory=set)
    values: int = 0
    problems: list = field(default_factory=list)

    def attach(self, client) -> None:
        client.meta.events.register("after-call", self._after_call)

    # -- the hook ------------------------------------------------------------------------------
    def _after_call(self, http_response, parsed, model, **_):
        status = http_response.status_code
        service = model.service_model
        if status >= 300:
            return self._error(service, model, status, parsed, http_response.content)
        self.operations[f"{service.service_name}:{model.name}"] += 1
        problems: list[str] = []
        shape = model.output_shape
        if shape is not None:
            body = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            self._parsed(shape, body, model.name, problems, service.service_name)
            self._raw(service.protocol, model, http_response.content, problems)
        if problems:
            self.problems.extend(f"{model.name}: {p}" for p in problems)
            raise AssertionError(f"{service.service_name}:{model.name} response breaks its shape:\n  "
                                 + "\n  ".join(problems))

    def _error(self, service, model, status, parsed, content):
        """An error answer: a 4xx (never a 5xx for what the sweep sends) with a code and a message on the wire."""
        self.errors[f"{service.service_name}:{model.name}"] += 1
        error = parsed.get("Error", {})
        problems = []
        if not 400 <= status < 500:
            problems.append(f"HTTP {status} where a 4xx belongs")
        if not error.get("Code"):
            problems.append("error without a code")
        if "Message" not in error:
            problems.append("error without a message")
        if service.protocol in ("query", "ec2"):
            root = ET.fromstring(content)
            wanted = "ErrorResponse" if service.protocol == "query" else "Response"
            if _strip(root.tag) != wanted:
                problems.append(f"error body <{_strip(root.tag)}> where <{wanted}> belongs")
        if problems:
            self.problems.extend(f"{model.name} (error): {p}" for p in problems)
            raise AssertionError(f"{service.service_name}:{model.name} error breaks AWS's form: {problems}")

    # -- parsed response -----------------------------------------------------------------------
    def _parsed(self, shape, value, path, problems, service_name, member_name=""):
        self.shapes.add(f"{shape.type_name}:{shape.name}")
        self.values += 1
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                return problems.append(f"{path}: {type(value).__name__} where a structure belongs")
            for required in shape.required_members:
                if required not in value and shape.members[required].serialization.get("location") is None:
                    problems.append(f"{path}: required member {required} missing")
            for name, item in value.items():
                if name not in shape.members:
                    problems.append(f"{path}: member {name} not in shape {shape.name}")
                    continue
                self._parsed(shape.members[name], item, f"{path}.{name}", problems, service_name, name)
        elif kind == "list":
            if not isinstance(value, list):
                return problems.append(f"{path}: {type(value).__name__} where a list belongs")
            for i, item in enumerate(value):
                self._parsed(shape.member, item, f"{path}[{i}]", problems, service_name, member_name)
        elif kind == "map":
            if not isinstance(value, dict):
                return problems.append(f"{path}: {type(value).__name__} where a map belongs")
            for key, item in value.items():
                self._parsed(shape.key, key, f"{path}<key>", problems, service_name)
                self._parsed(shape.value, item, f"{path}[{key!r}]", problems, service_name)
        elif kind == "string":
            if shape.name == "policyDocumentType" and isinstance(value, dict):
                return  # botocore's own json_decode_policies handler turns IAM policy documents into dicts
            if not isinstance(value, str):
                return problems.append(f"{path}: {type(value).__name__} where a string belongs")
            if shape.enum and value not in shape.enum and (shape.name, value) not in AWS_DOCUMENTED_ENUM_VALUES:
                problems.append(f"{path}: {value!r} is not one of the enum {shape.name}")
            self._formats(member_name, value, path, problems, service_name)
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"{path}: {value!r} where an {kind} belongs")
        elif kind == "boolean":
            if not isinstance(value, bool):
                problems.append(f"{path}: {value!r} where a boolean belongs")
        elif kind in ("double", "float"):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                problems.append(f"{path}: {value!r} where a {kind} belongs")
        elif kind == "timestamp":
            if not isinstance(value, datetime.datetime):
                problems.append(f"{path}: {value!r} where a timestamp belongs")
        elif kind == "blob":
            if not isinstance(value, (bytes, bytearray)) and not hasattr(value, "read"):
                problems.append(f"{path}: {type(value).__name__} where a blob belongs")

    def _formats(self, member_name, value, path, problems, service_name):
        lowered = member_name.lower()
        if lowered == "arn" or lowered.endswith("arn"):
            self._arn(value, path, problems)
        if service_name == "ec2" and member_name == "SnapshotId" and value == "" and "Volume" in path:
            pass  # AWS answers <snapshotId/> for a volume made from no snapshot (EC2 API Reference, CreateVolume)
        elif service_name == "ec2" and member_name in EC2_ID_PREFIXES:
            prefix = EC2_ID_PREFIXES[member_name]
            if not re.fullmatch(rf"{prefix}-([0-9a-f]{{8}}|[0-9a-f]{{17}})", value):
                problems.append(f"{path}: {value!r} is not an AWS {prefix}- id")
        if member_name in ("OwnerId", "AccountId") and not re.fullmatch(r"\d{12}|amazon", value):
            problems.append(f"{path}: {value!r} is not an account id")

    def _arn(self, value, path, problems):
        match = ARN.match(value)
        if not match:
            return problems.append(f"{path}: {value!r} is not an ARN")
        service, region, account = match["service"], match["region"], match["account"]
        if service in GLOBAL_SERVICES and region:
            problems.append(f"{path}: {value!r}: {service} ARNs have no region")
        if service not in GLOBAL_SERVICES and region not in ("", self.region):
            problems.append(f"{path}: {value!r}: region is not {self.region}")
        if account not in (ACCOUNT_ID, "aws", ""):
            problems.append(f"{path}: {value!r}: account is not {ACCOUNT_ID}")

    # -- raw body ------------------------------------------------------------------------------
    def _raw(self, protocol, model, content, problems):
        shape = model.output_shape
        if protocol in ("json", "rest-json"):
            if not content:
                return
            try:
                document = json.loads(content)
            except ValueError as error:
                return problems.append(f"body is not JSON: {error}")
            if protocol == "rest-json":
                payload = shape.serialization.get("payload")
                if payload:
                    shape = shape.members[payload]
            self._raw_json(shape, document, "body", problems, top=protocol == "rest-json")
        elif protocol in ("query", "ec2"):
            try:
                root = ET.fromstring(content)
            except ET.ParseError as error:
                return problems.append(f"body is not XML: {error}")
            if protocol == "query":
                wrapper = shape.serialization.get("resultWrapper")
                names = [_strip(c.tag) for c in root]
                extra = set(names) - {wrapper, "ResponseMetadata"}
                if extra:
                    problems.append(f"raw: elements {sorted(extra)} beside {wrapper}")
                node = next((c for c in root if _strip(c.tag) == wrapper), None)
                if node is None:
                    return problems.append(f"raw: no {wrapper} element")
                self._raw_xml(shape, node, "raw", problems)
            else:
                self._raw_xml(shape, root, "raw", problems, allowed={"requestId"})

    def _raw_json(self, shape, value, path, problems, top=False):
        kind = shape.type_name
        if kind == "structure" and isinstance(value, dict):
            names = {}
            for name, member in shape.members.items():
                if top and member.serialization.get("location"):
                    continue
                names[member.serialization.get("name", name)] = member
            for key, item in value.items():
                if key not in names:
                    problems.append(f"raw {path}: key {key!r} not in shape {shape.name}")
                elif item is not None:
                    self._raw_json(names[key], item, f"{path}.{key}", problems)
        elif kind == "list" and isinstance(value, list):
            for i, item in enumerate(value):
                self._raw_json(shape.member, item, f"{path}[{i}]", problems)
        elif kind == "map" and isinstance(value, dict):
            for key, item in value.items():
                self._raw_json(shape.value, item, f"{path}[{key!r}]", problems)
        elif kind in ("structure", "list", "map"):
            problems.append(f"raw {path}: {type(value).__name__} where a {kind} belongs")

    def _raw_xml(self, shape, node, path, problems, allowed=frozenset()):
        kind = shape.type_name
        if kind == "structure":
            names = {}
            for name, member in shape.members.items():
                if member.type_name == "list" and member.serialization.get("flattened"):
                    names[member.member.serialization.get("name", member.serialization.get("name", name))] = member
                else:
                    names[member.serialization.get("name", name)] = member
            for child in node:
                tag = _strip(child.tag)
                if tag in allowed:
                    continue
                if tag not in names:
                    problems.append(f"{path}: element <{tag}> not in shape {shape.name}")
                    continue
                member = names[tag]
                if member.type_name == "list" and member.serialization.get("flattened"):
                    self._raw_xml(member.member, child, f"{path}.{tag}", problems)
                else:
                    self._raw_xml(member, child, f"{path}.{tag}", problems)
        elif kind == "list":
            item_name = shape.member.serialization.get("name", "member")
            for i, child in enumerate(node):
                tag = _strip(child.tag)
                if tag != item_name:
                    problems.append(f"{path}: list element <{tag}> where <{item_name}> belongs")
                    continue
                self._raw_xml(shape.member, child, f"{path}[{i}]", problems)
        elif kind == "map":
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            for entry in node:
                for child in entry:
                    tag = _strip(child.tag)
                    if tag == value_name:
                        self._raw_xml(shape.value, child, f"{path}[]", problems)
                    elif tag != key_name:
                        problems.append(f"{path}: map element <{tag}>")
        elif len(node):
            problems.append(f"{path}: scalar {shape.name} has child elements")

    def summary(self) -> str:
        return (f"conformance sweep: {sum(self.operations.values())} responses of {len(self.operations)} "
                f"operations checked against {len(self.shapes)} botocore shapes ({self.values} values), "
                f"{sum(self.errors.values())} error answers of {len(self.errors)} operations")
