"""Regions and availability zones Moorage serves, as AWS names them."""

from __future__ import annotations

from functools import lru_cache

import botocore.session

# Regions whose zone letters differ from a, b, c (zones seen by most accounts).
_ZONE_LETTERS = {
    "us-east-1": "abcdef",
    "us-west-1": "bc",
    "us-west-2": "abcd",
    "ap-northeast-1": "acd",
    "ap-northeast-2": "abcd",
    "ca-central-1": "abd",
}
# Zone-id prefixes for the common regions (use1-az1 ...); others derive one from the region name.
_ZONE_ID_PREFIX = {
    "us-east-1": "use1", "us-east-2": "use2", "us-west-1": "usw1", "us-west-2": "usw2",
    "eu-west-1": "euw1", "eu-west-2": "euw2", "eu-west-3": "euw3", "eu-central-1": "euc1",
    "eu-north-1": "eun1", "ap-northeast-1": "apne1", "ap-northeast-2": "apne2",
    "ap-southeast-1": "apse1", "ap-southeast-2": "apse2", "ap-south-1": "aps1",
    "ca-central-1": "cac1", "sa-east-1": "sae1",
}


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in ("aws", "aws-us-gov", "aws-cn"):
        regions.update(session.get_available_regions("eks", partition_name=partition))
    return frozenset(regions)


def is_known_region(region: str) -> bool:
    return region in known_regions()


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _zone_id_prefix(region: str) -> str:
    if region in _ZONE_ID_PREFIX:
        return _ZONE_ID_PREFIX[region]
    parts = region.split("-")
    return "".join(part[0] if not part.isdigit() else part for part in parts[:-1]) + parts[-1]


def availability_zones(region: str) -> list[tuple[str, str]]:
    """(zone name, zone id) for each zone of the region, e.g. ("us-west-2a", "usw2-az1")."""
    letters = _ZONE_LETTERS.get(region, "abc")
    prefix = _zone_id_prefix(region)
    return [(f"{region}{letter}", f"{prefix}-az{index}") for index, letter in enumerate(letters, start=1)]
