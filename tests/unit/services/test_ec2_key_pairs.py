"""EC2 key pairs: real keys made and read with `cryptography`, EC2's fingerprints checked against what
openssl and ssh-keygen compute (as the EC2 user guide tells users to check them), names, tags and errors.
"""

import base64
import hashlib
import hmac
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.ec2.key_pairs import find_key_pair, key_pair_exists
from moorage.services.ec2.service import Ec2Service
from moorage.store import SqliteStore

ACCOUNT, REGION = "111122223333", "us-west-2"


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


@pytest.fixture
def ec2(store):
    return Ec2Service(store)


@pytest.fixture
def ctx():
    return RequestContext(ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:root", "AKIDEXAMPLE", "request-1")


def call(ec2, ctx, operation, **params):
    return ec2.handler(operation)(ctx, params)


def error_of(excinfo):
    return excinfo.value.code, excinfo.value.message


def run(*args, data: bytes) -> str:
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout.decode()


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@needs_openssl
def test_a_created_rsa_key_is_pem_and_its_fingerprint_is_sha1_of_its_pkcs8_der(ec2, ctx, tmp_path):
    created = call(ec2, ctx, "CreateKeyPair", KeyName="deploy")
    material = created["KeyMaterial"]
    assert material.startswith("-----BEGIN RSA PRIVATE KEY-----") and material.endswith("-----END RSA PRIVATE KEY-----")
    assert created["KeyPairId"].startswith("key-") and len(created["KeyPairId"]) == 21
    # The EC2 user guide's check: openssl pkcs8 -in key.pem -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c
    der = subprocess.run(["openssl", "pkcs8", "-inform", "PEM", "-outform", "DER", "-topk8", "-nocrypt"],
                         input=material.encode(), capture_output=True, check=True).stdout
    assert created["KeyFingerprint"] == run("openssl", "sha1", "-c", data=der).split("= ")[1].strip()
    key = serialization.load_pem_private_key(material.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


def test_a_created_ed25519_key_is_openssh_and_its_fingerprint_is_ssh_keygens_sha256(ec2, ctx, tmp_path):
    created = call(ec2, ctx, "CreateKeyPair", KeyName="edge", KeyType="ed25519")
    assert created["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    key = serialization.load_ssh_private_key(created["KeyMaterial"].encode(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    if shutil.which("ssh-keygen"):
        path = tmp_path / "edge"
        path.write_text(created["KeyMaterial"] + "\n")
        path.chmod(0o600)
        printed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)], capture_output=True, check=True, text=True).stdout
        openssh = printed.split()[1].removeprefix("SHA256:")
        assert created["KeyFingerprint"].rstrip("=") == openssh
    assert created["KeyFingerprint"].endswith("=") and len(base64.b64decode(created["KeyFingerprint"])) == 32


@pytest.mark.parametrize("key_type, algorithm", [("rsa", "ssh-rsa"), ("ed25519", "ssh-ed25519")])
def test_ppk_keys_are_putty_files_whose_mac_checks(ec2, ctx, key_type, algorithm):
    material = call(ec2, ctx, "CreateKeyPair", KeyName=f"putty-{key_type}", KeyType=key_type, KeyFormat="ppk")["KeyMaterial"]
    lines = material.split("\r\n")
    assert lines[:3] == [f"PuTTY-User-Key-File-2: {algorithm}", "Encryption: none", f"Comment: putty-{key_type}"]
    fields, i = {}, 3
    while i < len(lines) and lines[i]:
        name, value = lines[i].split(": ", 1)
        if name.endswith("-Lines"):
            fields[name] = base64.b64decode("".join(lines[i + 1:i + 1 + int(value)]))
            i += 1 + int(value)
        else:
            fields[name] = value
            i += 1
    string = lambda b: len(b).to_bytes(4, "big") + b  # noqa: E731
    data = b"".join(string(p) for p in (algorithm.encode(), b"none", f"putty-{key_type}".encode(),
                                        fields["Public-Lines"], fields["Private-Lines"]))
    mac = hmac.new(hashlib.sha1(b"putty-private-key-file-mac-key").digest(), data, hashlib.sha1).hexdigest()
    assert fields["Private-MAC"] == mac
    stored = find_key_pair(ec2.store, ACCOUNT, REGION, f"putty-{key_type}")
    assert base64.b64decode(stored["PublicKey"].split()[1]) == fields["Public-Lines"]


@needs_openssl
def test_an_imported_rsa_key_has_the_md5_of_its_public_der_as_fingerprint(ec2, ctx):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" me@laptop"
    imported = call(ec2, ctx, "ImportKeyPair", KeyName="laptop", PublicKeyMaterial=line)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    # The EC2 user guide's check: openssl rsa -in key.pem -pubout -outform DER | openssl md5 -c
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem, capture_output=True, check=True).stdout
    assert imported["KeyFingerprint"] == run("openssl", "md5", "-c", data=der).split("= ")[1].strip()
    assert "KeyMaterial" not in imported
    described = call(ec2, ctx, "DescribeKeyPairs", KeyNames=["laptop"], IncludePublicKey=True)["KeyPairs"][0]
    assert described["PublicKey"] == line.decode() and described["KeyType"] == "rsa"


def test_import_reads_rfc4716_and_base64_der_and_ed25519_keys(ec2, ctx):
    key = ed25519.Ed25519PrivateKey.generate()
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = line.split()[1].decode()
    rfc4716 = "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"a comment\"\n" + "\n".join(
        blob[i:i + 70] for i in range(0, len(blob), 70)) + "\n---- END SSH2 PUBLIC KEY ----\n"
    first = call(ec2, ctx, "ImportKeyPair", KeyName="rfc", PublicKeyMaterial=rfc4716.encode())
    expected = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode()
    assert first["KeyFingerprint"] == expected
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=4096).public_key()
    der = rsa_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    second = call(ec2, ctx, "ImportKeyPair", KeyName="der", PublicKeyMaterial=base64.b64encode(der))
    assert second["KeyFingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())


@pytest.mark.parametrize("material", [
    b"not a key",
    b"ssh-rsa AAAAnotbase64!!",
    b"",
    # ECDSA and 3072-bit RSA keys: EC2 imports RSA of 1024, 2048 or 4096 bits and ED25519 only.
    ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
    rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
])
def test_what_is_not_an_openssh_public_key_is_invalid_key_format(ec2, ctx, material):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "ImportKeyPair", KeyName="bad", PublicKeyMaterial=material)
    assert error_of(excinfo) == ("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
    assert not key_pair_exists(ec2.store, ACCOUNT, REGION, "bad")


def test_names_are_unique_per_region_and_duplicates_are_refused(ec2, ctx):
    call(ec2, ctx, "CreateKeyPair", KeyName="ops")
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateKeyPair", KeyName="ops")
    assert error_of(excinfo) == ("InvalidKeyPair.Duplicate", "The keypair 'ops' already exists.")
    line = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    with pytest.raises(AwsError):
        call(ec2, ctx, "ImportKeyPair", KeyName="ops", PublicKeyMaterial=line)
    other = RequestContext(ACCOUNT, "eu-west-1", ctx.principal_arn, ctx.access_key_id, "request-2")
    assert call(ec2, other, "CreateKeyPair", KeyName="ops")["KeyName"] == "ops"
    assert key_pair_exists(ec2.store, ACCOUNT, REGION, "ops") and not key_pair_exists(ec2.store, ACCOUNT, REGION, "dev")


def test_describe_by_name_id_and_filters_and_not_found(ec2, ctx):
    a = call(ec2, ctx, "CreateKeyPair", KeyName="alpha",
             TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "core"}]}])
    b = call(ec2, ctx, "CreateKeyPair", KeyName="beta", KeyType="ed25519")
    everything = call(ec2, ctx, "DescribeKeyPairs")["KeyPairs"]
    assert [k["KeyName"] for k in everything] == ["alpha", "beta"]
    assert "PublicKey" not in everything[0] and everything[0]["CreateTime"].tzinfo is not None
    assert call(ec2, ctx, "DescribeKeyPairs", KeyPairIds=[b["KeyPairId"]])["KeyPairs"][0]["KeyType"] == "ed25519"
    by = lambda name, *values: [k["KeyName"] for k in call(ec2, ctx, "DescribeKeyPairs", Filters=[{"Name": name, "Values": list(values)}])["KeyPairs"]]  # noqa: E731
    assert by("tag:team", "core") == ["alpha"] and by("tag-key", "team") == ["alpha"]
    assert by("key-name", "b*") == ["beta"] and by("fingerprint", a["KeyFingerprint"]) == ["alpha"]
    assert by("key-pair-id", a["KeyPairId"], b["KeyPairId"]) == ["alpha", "beta"]
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "DescribeKeyPairs", KeyNames=["alpha", "gamma"])
    assert error_of(excinfo) == ("InvalidKeyPair.NotFound", "The key pair 'gamma' does not exist")
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "DescribeKeyPairs", KeyPairIds=["key-0123456789abcdef0"])
    assert error_of(excinfo) == ("InvalidKeyPair.NotFound", "The key pair ID 'key-0123456789abcdef0' does not exist")


def test_tags_on_key_pairs_through_create_describe_and_delete_tags(ec2, ctx):
    key = call(ec2, ctx, "CreateKeyPair", KeyName="tagged")
    call(ec2, ctx, "CreateTags", Resources=[key["KeyPairId"]], Tags=[{"Key": "owner", "Value": "me"}])
    tags = call(ec2, ctx, "DescribeTags", Filters=[{"Name": "resource-type", "Values": ["key-pair"]}])["Tags"]
    assert tags == [{"Key": "owner", "Value": "me", "ResourceId": key["KeyPairId"], "ResourceType": "key-pair"}]
    call(ec2, ctx, "DeleteTags", Resources=[key["KeyPairId"]], Tags=[{"Key": "owner"}])
    assert call(ec2, ctx, "DescribeKeyPairs", KeyNames=["tagged"])["KeyPairs"][0]["Tags"] == []
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateTags", Resources=["key-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert excinfo.value.code == "InvalidKeyPair.NotFound"
    with pytest.raises(AwsError):  # a tag specification for another resource type
        call(ec2, ctx, "CreateKeyPair", KeyName="x", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])


def test_delete_by_name_or_id_is_idempotent(ec2, ctx):
    a = call(ec2, ctx, "CreateKeyPair", KeyName="gone")
    assert call(ec2, ctx, "DeleteKeyPair", KeyName="gone") == {"Return": True, "KeyPairId": a["KeyPairId"]}
    assert call(ec2, ctx, "DeleteKeyPair", KeyName="gone") == {"Return": True}
    b = call(ec2, ctx, "CreateKeyPair", KeyName="gone")
    assert call(ec2, ctx, "DeleteKeyPair", KeyPairId=b["KeyPairId"])["KeyPairId"] == b["KeyPairId"]
    assert call(ec2, ctx, "DeleteKeyPair", KeyPairId=b["KeyPairId"]) == {"Return": True}
    assert not key_pair_exists(ec2.store, ACCOUNT, REGION, "gone")


def test_run_instances_refuses_a_key_name_that_is_no_key_pair(ec2, ctx):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "RunInstances", ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.small", KeyName="nope")
    assert error_of(excinfo) == ("InvalidKeyPair.NotFound", "The key pair 'nope' does not exist")
    call(ec2, ctx, "CreateKeyPair", KeyName="ops")
    launched = call(ec2, ctx, "RunInstances", ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.small", KeyName="ops")
    assert launched["Instances"][0]["KeyName"] == "ops"


@pytest.mark.skipif(shutil.which("puttygen") is None, reason="needs PuTTY's puttygen")
@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_puttygen_reads_the_ppk_files(ec2, ctx, tmp_path, key_type):
    material = call(ec2, ctx, "CreateKeyPair", KeyName=f"pg-{key_type}", KeyType=key_type, KeyFormat="ppk")["KeyMaterial"]
    (tmp_path / "key.ppk").write_bytes(material.encode())
    subprocess.run(["puttygen", str(tmp_path / "key.ppk"), "-O", "public-openssh", "-o", str(tmp_path / "key.pub")], check=True)
    stored = find_key_pair(ec2.store, ACCOUNT, REGION, f"pg-{key_type}")["PublicKey"]
    assert (tmp_path / "key.pub").read_text().split()[:2] == stored.split()[:2]
