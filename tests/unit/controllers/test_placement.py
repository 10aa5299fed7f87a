import ipaddress

from moorage.controllers.nodegroups import place_in_subnet


def test_nodes_from_the_bottom_pods_from_the_top_until_full():
    taken, blocks, placed = set(), [], []
    while (result := place_in_subnet("10.0.0.0/24", 29, taken, blocks)) is not None:
        address, block = result
        taken.add(address)
        blocks.append(block)
        placed.append((address, block))
    # A /24 holds eight /27 pod blocks; the bottom one is left for node addresses.
    assert len(placed) == 7
    assert placed[0] == ("10.0.0.4", ipaddress.ip_network("10.0.0.224/27"))
    assert [a for a, _ in placed] == [f"10.0.0.{n}" for n in range(4, 11)]
    for address, _ in placed:
        assert not any(ipaddress.ip_address(address) in b for b in blocks)
    for i, a in enumerate(blocks):
        assert not any(a.overlaps(b) for b in blocks[i + 1 :])
        # kwok hands out network+1 .. network+pods: the block's last address (AWS reserves the subnet's) stays free.
        assert a.network_address + 29 < a.broadcast_address


def test_mixed_sizes_never_overlap():
    taken, blocks = set(), []
    for pods in (29, 58, 29, 110, 17):
        address, block = place_in_subnet("172.31.0.0/20", pods, taken, blocks)
        taken.add(address)
        assert not any(block.overlaps(b) for b in blocks)
        assert block.num_addresses >= pods + 2
        blocks.append(block)


def test_an_instance_with_no_free_address_stays_terminated_without_rewriting_itself(tmp_path):
    """A launch whose subnet is full is terminated once; later passes only wait to forget it (before, each
    pass rewrote its status, which re-enqueued it: a hot loop, and a resurrection once addresses freed up)."""
    import asyncio

    from moorage.controllers.instances import InstanceReconciler
    from moorage.core.context import RequestContext
    from moorage.services.ec2.service import Ec2Service
    from moorage.store import Key, SqliteStore

    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "request-1")
    ec2 = Ec2Service(store)
    vpc = ec2.CreateVpc(ctx, {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
    subnet = ec2.CreateSubnet(ctx, {"VpcId": vpc, "CidrBlock": "10.0.0.0/28"})["Subnet"]["SubnetId"]  # no room for a /27 pod block
    launched = ec2.RunInstances(ctx, {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1, "InstanceType": "m5.large",
                                      "SubnetId": subnet})["Instances"][0]["InstanceId"]
    key = Key(ctx.account, ctx.region, "instance", launched)
    writes = []
    store.subscribe(writes.append)
    reconciler = InstanceReconciler(store, None, None, None)  # no cluster: never reaches the node backend

    assert asyncio.run(reconciler.reconcile(key)) > 0
    terminated = store.require(key)
    assert terminated.status["state"] == "terminated" and "InsufficientFreeAddresses" in terminated.status["transitionReason"]
    for _ in range(3):
        assert asyncio.run(reconciler.reconcile(key)) > 0
    assert writes == [key] and store.require(key).version == terminated.version
