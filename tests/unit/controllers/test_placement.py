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
