"""EC2 Describe filters as data: for each Describe operation Moorage serves, every filter name EC2
accepts and where its values are read from the resource view.

A reader is a path into the view as the Describe operation returns it ("Placement.AvailabilityZone";
`[]` takes every item of a list, "CidrBlockAssociationSet[].CidrBlock") or, where EC2 derives the
value, a function of the view. The names are the EC2 API Reference's (the Filters documentation of
each operation in botocore's model, which tests/unit/services/test_ec2_filters.py checks this table
against), plus the older aliases EC2 still accepts (marked "alias"). `TAG` in a table means the
operation accepts `tag:<key>`. A name not in the table is refused as EC2 refuses it:
400 InvalidParameterValue "The filter '<name>' is invalid" (services/base.py: match_filters).
"""

from __future__ import annotations

from typing import Any

from ..base import TAG_PREFIX, match_filters

TAG = TAG_PREFIX  # the operation accepts tag:<key> (values: that tag's value)
TAGGED = {TAG: None, "tag-key": "Tags[].Key", "tag-value": "Tags[].Value"}  # tag-value: alias (no longer listed)


def _main_association(table: dict) -> list:
    # A table with no main association matches association.main=false, as on EC2.
    return [bool(a.get("Main")) for a in table.get("Associations", [])] or [False]


def _ipv4_metadata(view: dict) -> list:
    # The IPv4 metadata endpoint has no member of its own in the views: it is on wherever metadata options are.
    return ["enabled"] if view.get("MetadataOptions") else []


def _permissions(prefix: str, member: str) -> dict[str, str]:
    base = f"{member}[]"
    return {
        f"{prefix}ip-permission.cidr": f"{base}.IpRanges[].CidrIp",
        f"{prefix}ip-permission.from-port": f"{base}.FromPort",
        f"{prefix}ip-permission.group-id": f"{base}.UserIdGroupPairs[].GroupId",
        f"{prefix}ip-permission.group-name": f"{base}.UserIdGroupPairs[].GroupName",
        f"{prefix}ip-permission.ipv6-cidr": f"{base}.Ipv6Ranges[].CidrIpv6",
        f"{prefix}ip-permission.prefix-list-id": f"{base}.PrefixListIds[].PrefixListId",
        f"{prefix}ip-permission.protocol": f"{base}.IpProtocol",
        f"{prefix}ip-permission.to-port": f"{base}.ToPort",
        f"{prefix}ip-permission.user-id": f"{base}.UserIdGroupPairs[].UserId",
    }


def _nothing(view: dict) -> list:
    # A field of something Moorage has none of (Elastic IPs, Outposts, tags on network interfaces): no values.
    return []


def _on_interface(read: Any) -> Any:
    # A network-interface.* field the instance view shows on the instance itself (the interface's zone,
    # the instance it is attached to, ...): read there, for instances that have an interface.
    return lambda view: read(view) if view.get("NetworkInterfaces") else []


def _network_interfaces() -> dict[str, Any]:
    """DescribeInstances' network-interface.* filters, read from the instance's NetworkInterfaces."""
    ni = "NetworkInterfaces[]"
    addresses, association, attachment = f"{ni}.PrivateIpAddresses[]", f"{ni}.Association", f"{ni}.Attachment"
    fields: dict[str, Any] = {
        "addresses.association.allocation-id": _nothing,
        "addresses.association.association-id": _nothing,
        "addresses.association.carrier-ip": f"{addresses}.Association.CarrierIp",
        "addresses.association.customer-owned-ip": f"{addresses}.Association.CustomerOwnedIp",
        "addresses.association.ip-owner-id": f"{addresses}.Association.IpOwnerId",
        "addresses.association.public-dns-name": f"{addresses}.Association.PublicDnsName",
        "addresses.association.public-ip": f"{addresses}.Association.PublicIp",
        "addresses.primary": f"{addresses}.Primary",
        "addresses.private-dns-name": f"{addresses}.PrivateDnsName",
        "addresses.private-ip-address": f"{addresses}.PrivateIpAddress",
        "association.allocation-id": _nothing,
        "association.association-id": _nothing,
        "association.carrier-ip": f"{association}.CarrierIp",
        "association.customer-owned-ip": f"{association}.CustomerOwnedIp",
        "association.ip-owner-id": f"{association}.IpOwnerId",
        "association.public-dns-name": f"{association}.PublicDnsName",
        "association.public-ip": f"{association}.PublicIp",
        "attachment.attach-time": f"{attachment}.AttachTime",
        "attachment.attachment-id": f"{attachment}.AttachmentId",
        "attachment.delete-on-termination": f"{attachment}.DeleteOnTermination",
        "attachment.device-index": f"{attachment}.DeviceIndex",
        "attachment.instance-id": _on_interface(lambda view: [view["InstanceId"]]),
        "attachment.instance-owner-id": _on_interface(lambda view: [view.get("OwnerId")]),
        "attachment.network-card-index": f"{attachment}.NetworkCardIndex",
        "attachment.status": f"{attachment}.Status",
        "availability-zone": _on_interface(lambda view: [view["Placement"]["AvailabilityZone"]]),
        "deny-all-igw-traffic": _on_interface(lambda view: [False]),
        "description": f"{ni}.Description",
        "group-id": f"{ni}.Groups[].GroupId",
        "group-name": f"{ni}.Groups[].GroupName",
        "ipv4-prefixes.ipv4-prefix": f"{ni}.Ipv4Prefixes[].Ipv4Prefix",
        "ipv6-address": f"{ni}.Ipv6Addresses[].Ipv6Address",
        "ipv6-addresses.ipv6-address": f"{ni}.Ipv6Addresses[].Ipv6Address",
        "ipv6-addresses.is-primary-ipv6": f"{ni}.Ipv6Addresses[].IsPrimaryIpv6",
        "ipv6-native": _on_interface(lambda view: [False]),
        "ipv6-prefixes.ipv6-prefix": f"{ni}.Ipv6Prefixes[].Ipv6Prefix",
        "mac-address": f"{ni}.MacAddress",
        "network-interface-id": f"{ni}.NetworkInterfaceId",
        "operator.managed": f"{ni}.Operator.Managed",
        "operator.principal": f"{ni}.Operator.Principal",
        "outpost-arn": _nothing,
        "owner-id": f"{ni}.OwnerId",
        "private-dns-name": f"{ni}.PrivateDnsName",
        "private-ip-address": f"{ni}.PrivateIpAddress",
        "public-dns-name": f"{ni}.Association.PublicDnsName",
        "requester-id": _nothing,
        "requester-managed": _on_interface(lambda view: [False]),
        "status": f"{ni}.Status",
        "source-dest-check": f"{ni}.SourceDestCheck",
        "subnet-id": f"{ni}.SubnetId",
        "tag-key": _nothing,
        "tag-value": _nothing,
        "vpc-id": f"{ni}.VpcId",
    }
    return {f"network-interface.{name}": reader for name, reader in fields.items()}


VPC_FILTERS = {
    **TAGGED,
    "cidr": "CidrBlock",
    "cidr-block": "CidrBlock",  # alias
    "cidrBlock": "CidrBlock",  # alias
    "cidr-block-association.cidr-block": "CidrBlockAssociationSet[].CidrBlock",
    "cidr-block-association.association-id": "CidrBlockAssociationSet[].AssociationId",
    "cidr-block-association.state": "CidrBlockAssociationSet[].CidrBlockState.State",
    "dhcp-options-id": "DhcpOptionsId",
    "ipv6-cidr-block-association.ipv6-cidr-block": "Ipv6CidrBlockAssociationSet[].Ipv6CidrBlock",
    "ipv6-cidr-block-association.ipv6-pool": "Ipv6CidrBlockAssociationSet[].Ipv6Pool",
    "ipv6-cidr-block-association.association-id": "Ipv6CidrBlockAssociationSet[].AssociationId",
    "ipv6-cidr-block-association.state": "Ipv6CidrBlockAssociationSet[].Ipv6CidrBlockState.State",
    "is-default": "IsDefault",
    "isDefault": "IsDefault",  # alias
    "owner-id": "OwnerId",
    "state": "State",
    "vpc-id": "VpcId",
}

SUBNET_FILTERS = {
    **TAGGED,
    "availability-zone": "AvailabilityZone",
    "availabilityZone": "AvailabilityZone",  # alias
    "availability-zone-id": "AvailabilityZoneId",
    "availabilityZoneId": "AvailabilityZoneId",  # alias
    "available-ip-address-count": "AvailableIpAddressCount",
    "cidr-block": "CidrBlock",
    "cidr": "CidrBlock",  # alias
    "cidrBlock": "CidrBlock",  # alias
    "customer-owned-ipv4-pool": "CustomerOwnedIpv4Pool",
    "default-for-az": "DefaultForAz",
    "defaultForAz": "DefaultForAz",  # alias
    "enable-dns64": "EnableDns64",
    "enable-lni-at-device-index": "EnableLniAtDeviceIndex",
    "ipv6-cidr-block-association.ipv6-cidr-block": "Ipv6CidrBlockAssociationSet[].Ipv6CidrBlock",
    "ipv6-cidr-block-association.association-id": "Ipv6CidrBlockAssociationSet[].AssociationId",
    "ipv6-cidr-block-association.state": "Ipv6CidrBlockAssociationSet[].Ipv6CidrBlockState.State",
    "ipv6-native": "Ipv6Native",
    "map-customer-owned-ip-on-launch": "MapCustomerOwnedIpOnLaunch",
    "map-public-ip-on-launch": "MapPublicIpOnLaunch",
    "outpost-arn": "OutpostArn",
    "owner-id": "OwnerId",
    "private-dns-name-options-on-launch.hostname-type": "PrivateDnsNameOptionsOnLaunch.HostnameType",
    "private-dns-name-options-on-launch.enable-resource-name-dns-a-record":
        "PrivateDnsNameOptionsOnLaunch.EnableResourceNameDnsARecord",
    "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record":
        "PrivateDnsNameOptionsOnLaunch.EnableResourceNameDnsAAAARecord",
    "state": "State",
    "subnet-arn": "SubnetArn",
    "subnet-id": "SubnetId",
    "vpc-id": "VpcId",
}

SECURITY_GROUP_FILTERS = {
    **TAGGED,
    **_permissions("", "IpPermissions"),
    **_permissions("egress.", "IpPermissionsEgress"),
    "description": "Description",
    "group-id": "GroupId",
    "group-name": "GroupName",
    "owner-id": "OwnerId",
    "vpc-id": "VpcId",
}

INTERNET_GATEWAY_FILTERS = {
    **TAGGED,
    "attachment.state": "Attachments[].State",
    "attachment.vpc-id": "Attachments[].VpcId",
    "internet-gateway-id": "InternetGatewayId",
    "owner-id": "OwnerId",
}

ROUTE_TABLE_FILTERS = {
    **TAGGED,
    "association.gateway-id": "Associations[].GatewayId",
    "association.route-table-association-id": "Associations[].RouteTableAssociationId",
    "association.route-table-id": "Associations[].RouteTableId",
    "association.subnet-id": "Associations[].SubnetId",
    "association.main": _main_association,
    "owner-id": "OwnerId",
    "route-table-id": "RouteTableId",
    "route.destination-cidr-block": "Routes[].DestinationCidrBlock",
    "route.destination-ipv6-cidr-block": "Routes[].DestinationIpv6CidrBlock",
    "route.destination-prefix-list-id": "Routes[].DestinationPrefixListId",
    "route.egress-only-internet-gateway-id": "Routes[].EgressOnlyInternetGatewayId",
    "route.gateway-id": "Routes[].GatewayId",
    "route.instance-id": "Routes[].InstanceId",
    "route.nat-gateway-id": "Routes[].NatGatewayId",
    "route.transit-gateway-id": "Routes[].TransitGatewayId",
    "route.origin": "Routes[].Origin",
    "route.state": "Routes[].State",
    "route.vpc-peering-connection-id": "Routes[].VpcPeeringConnectionId",
    "vpc-id": "VpcId",
}

TAG_DESCRIPTION_FILTERS = {
    # tag:<key> on DescribeTags: the descriptions of that key whose value matches.
    TAG: lambda key: (lambda d: [d["Value"]] if d["Key"] == key else []),
    "key": "Key",
    "resource-id": "ResourceId",
    "resource-type": "ResourceType",
    "value": "Value",
}

INSTANCE_FILTERS = {
    **TAGGED,
    **_network_interfaces(),
    "affinity": "Placement.Affinity",
    "architecture": "Architecture",
    "availability-zone": "Placement.AvailabilityZone",
    "availability-zone-id": "Placement.AvailabilityZoneId",
    "block-device-mapping.attach-time": "BlockDeviceMappings[].Ebs.AttachTime",
    "block-device-mapping.delete-on-termination": "BlockDeviceMappings[].Ebs.DeleteOnTermination",
    "block-device-mapping.device-name": "BlockDeviceMappings[].DeviceName",
    "block-device-mapping.status": "BlockDeviceMappings[].Ebs.Status",
    "block-device-mapping.volume-id": "BlockDeviceMappings[].Ebs.VolumeId",
    "boot-mode": "BootMode",
    "capacity-reservation-id": "CapacityReservationId",
    "capacity-reservation-specification.capacity-reservation-preference":
        "CapacityReservationSpecification.CapacityReservationPreference",
    "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id":
        "CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId",
    "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn":
        "CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationResourceGroupArn",
    "client-token": "ClientToken",
    "current-instance-boot-mode": "CurrentInstanceBootMode",
    "dns-name": "PublicDnsName",
    "ebs-optimized": "EbsOptimized",
    "ena-support": "EnaSupport",
    "enclave-options.enabled": "EnclaveOptions.Enabled",
    "hibernation-options.configured": "HibernationOptions.Configured",
    "host-id": "Placement.HostId",
    "hypervisor": "Hypervisor",
    "iam-instance-profile.arn": "IamInstanceProfile.Arn",
    "iam-instance-profile.id": "IamInstanceProfile.Id",
    "image-id": "ImageId",
    "instance-id": "InstanceId",
    "instance-lifecycle": "InstanceLifecycle",
    "instance-state-code": "State.Code",
    "instance-state-name": "State.Name",
    "instance-type": "InstanceType",
    "instance.group-id": "SecurityGroups[].GroupId",
    "instance.group-name": "SecurityGroups[].GroupName",
    "group-id": "SecurityGroups[].GroupId",  # alias
    "group-name": "SecurityGroups[].GroupName",  # alias
    "ip-address": "PublicIpAddress",
    "ipv6-address": "NetworkInterfaces[].Ipv6Addresses[].Ipv6Address",
    "kernel-id": "KernelId",
    "key-name": "KeyName",
    "launch-index": "AmiLaunchIndex",
    "launch-time": "LaunchTime",
    "maintenance-options.auto-recovery": "MaintenanceOptions.AutoRecovery",
    "metadata-options.http-endpoint": "MetadataOptions.HttpEndpoint",
    "metadata-options.http-protocol-ipv4": _ipv4_metadata,
    "metadata-options.http-protocol-ipv6": "MetadataOptions.HttpProtocolIpv6",
    "metadata-options.http-put-response-hop-limit": "MetadataOptions.HttpPutResponseHopLimit",
    "metadata-options.http-tokens": "MetadataOptions.HttpTokens",
    "metadata-options.instance-metadata-tags": "MetadataOptions.InstanceMetadataTags",
    "metadata-options.state": "MetadataOptions.State",
    "monitoring-state": "Monitoring.State",
    "network-performance-options.bandwidth-weighting": "NetworkPerformanceOptions.BandwidthWeighting",
    "operator.managed": "Operator.Managed",
    "operator.principal": "Operator.Principal",
    "outpost-arn": "OutpostArn",
    "owner-id": "OwnerId",  # of the reservation: DescribeInstances puts it on each instance's view while filtering
    "placement-group-name": "Placement.GroupName",
    "placement-partition-number": "Placement.PartitionNumber",
    "platform": "Platform",
    "platform-details": "PlatformDetails",
    "private-dns-name": "PrivateDnsName",
    "private-dns-name-options.enable-resource-name-dns-a-record": "PrivateDnsNameOptions.EnableResourceNameDnsARecord",
    "private-dns-name-options.enable-resource-name-dns-aaaa-record":
        "PrivateDnsNameOptions.EnableResourceNameDnsAAAARecord",
    "private-dns-name-options.hostname-type": "PrivateDnsNameOptions.HostnameType",
    "private-ip-address": "PrivateIpAddress",
    "product-code": "ProductCodes[].ProductCodeId",
    "product-code.type": "ProductCodes[].ProductCodeType",
    "ramdisk-id": "RamdiskId",
    "reason": "StateTransitionReason",
    "requester-id": "RequesterId",  # of the reservation, like owner-id
    "reservation-id": "ReservationId",  # likewise
    "root-device-name": "RootDeviceName",
    "root-device-type": "RootDeviceType",
    "source-dest-check": "SourceDestCheck",
    "spot-instance-request-id": "SpotInstanceRequestId",
    "state-reason-code": "StateReason.Code",
    "state-reason-message": "StateReason.Message",
    "subnet-id": "SubnetId",
    "tenancy": "Placement.Tenancy",
    "tpm-support": "TpmSupport",
    "usage-operation": "UsageOperation",
    "usage-operation-update-time": "UsageOperationUpdateTime",
    "virtualization-type": "VirtualizationType",
    "vpc-id": "VpcId",
}

AVAILABILITY_ZONE_FILTERS = {
    "group-long-name": "GroupLongName",
    "group-name": "GroupName",
    "message": "Messages[].Message",
    "opt-in-status": "OptInStatus",
    "parent-zone-id": "ParentZoneId",
    "parent-zone-name": "ParentZoneName",
    "region-name": "RegionName",
    "state": "State",
    "zone-id": "ZoneId",
    "zone-name": "ZoneName",
    "zone-type": "ZoneType",
}

INSTANCE_TYPE_FILTERS = {
    "auto-recovery-supported": "AutoRecoverySupported",
    "bare-metal": "BareMetal",
    "burstable-performance-supported": "BurstablePerformanceSupported",
    "current-generation": "CurrentGeneration",
    "dedicated-hosts-supported": "DedicatedHostsSupported",
    "ebs-info.attachment-limit-type": "EbsInfo.AttachmentLimitType",
    "ebs-info.maximum-ebs-attachments": "EbsInfo.MaximumEbsAttachments",
    "ebs-info.ebs-optimized-info.baseline-bandwidth-in-mbps": "EbsInfo.EbsOptimizedInfo.BaselineBandwidthInMbps",
    "ebs-info.ebs-optimized-info.baseline-iops": "EbsInfo.EbsOptimizedInfo.BaselineIops",
    "ebs-info.ebs-optimized-info.baseline-throughput-in-mbps": "EbsInfo.EbsOptimizedInfo.BaselineThroughputInMBps",
    "ebs-info.ebs-optimized-info.maximum-bandwidth-in-mbps": "EbsInfo.EbsOptimizedInfo.MaximumBandwidthInMbps",
    "ebs-info.ebs-optimized-info.maximum-iops": "EbsInfo.EbsOptimizedInfo.MaximumIops",
    "ebs-info.ebs-optimized-info.maximum-throughput-in-mbps": "EbsInfo.EbsOptimizedInfo.MaximumThroughputInMBps",
    "ebs-info.ebs-optimized-support": "EbsInfo.EbsOptimizedSupport",
    "ebs-info.encryption-support": "EbsInfo.EncryptionSupport",
    "ebs-info.nvme-support": "EbsInfo.NvmeSupport",
    "free-tier-eligible": "FreeTierEligible",
    "hibernation-supported": "HibernationSupported",
    "hypervisor": "Hypervisor",
    "instance-storage-info.disk.count": "InstanceStorageInfo.Disks[].Count",
    "instance-storage-info.disk.size-in-gb": "InstanceStorageInfo.Disks[].SizeInGB",
    "instance-storage-info.disk.type": "InstanceStorageInfo.Disks[].Type",
    "instance-storage-info.encryption-support": "InstanceStorageInfo.EncryptionSupport",
    "instance-storage-info.nvme-support": "InstanceStorageInfo.NvmeSupport",
    "instance-storage-info.total-size-in-gb": "InstanceStorageInfo.TotalSizeInGB",
    "instance-storage-supported": "InstanceStorageSupported",
    "instance-type": "InstanceType",
    "memory-info.size-in-mib": "MemoryInfo.SizeInMiB",
    "network-info.bandwidth-weightings": "NetworkInfo.BandwidthWeightings",
    "network-info.efa-info.maximum-efa-interfaces": "NetworkInfo.EfaInfo.MaximumEfaInterfaces",
    "network-info.efa-supported": "NetworkInfo.EfaSupported",
    "network-info.ena-support": "NetworkInfo.EnaSupport",
    "network-info.flexible-ena-queues-support": "NetworkInfo.FlexibleEnaQueuesSupport",
    "network-info.encryption-in-transit-supported": "NetworkInfo.EncryptionInTransitSupported",
    "network-info.ipv4-addresses-per-interface": "NetworkInfo.Ipv4AddressesPerInterface",
    "network-info.ipv6-addresses-per-interface": "NetworkInfo.Ipv6AddressesPerInterface",
    "network-info.ipv6-supported": "NetworkInfo.Ipv6Supported",
    "network-info.maximum-network-cards": "NetworkInfo.MaximumNetworkCards",
    "network-info.maximum-network-interfaces": "NetworkInfo.MaximumNetworkInterfaces",
    "network-info.network-performance": "NetworkInfo.NetworkPerformance",
    "nitro-enclaves-support": "NitroEnclavesSupport",
    "nitro-tpm-support": "NitroTpmSupport",
    "nitro-tpm-info.supported-versions": "NitroTpmInfo.SupportedVersions",
    "processor-info.supported-architecture": "ProcessorInfo.SupportedArchitectures",
    "processor-info.sustained-clock-speed-in-ghz": "ProcessorInfo.SustainedClockSpeedInGhz",
    "processor-info.supported-features": "ProcessorInfo.SupportedFeatures",
    "processor-info.manufacturer": "ProcessorInfo.Manufacturer",  # alias (no longer listed)
    "reboot-migration-support": "RebootMigrationSupport",
    "supported-boot-mode": "SupportedBootModes",
    "supported-root-device-type": "SupportedRootDeviceTypes",
    "supported-usage-class": "SupportedUsageClasses",
    "supported-virtualization-type": "SupportedVirtualizationTypes",
    "vcpu-info.default-cores": "VCpuInfo.DefaultCores",
    "vcpu-info.default-threads-per-core": "VCpuInfo.DefaultThreadsPerCore",
    "vcpu-info.default-vcpus": "VCpuInfo.DefaultVCpus",
    "vcpu-info.valid-cores": "VCpuInfo.ValidCores",
    "vcpu-info.valid-threads-per-core": "VCpuInfo.ValidThreadsPerCore",
}

KEY_PAIR_FILTERS = {
    **TAGGED,
    "fingerprint": "KeyFingerprint",
    "key-name": "KeyName",
    "key-pair-id": "KeyPairId",
}

LAUNCH_TEMPLATE_FILTERS = {
    **TAGGED,
    "create-time": "CreateTime",
    "launch-template-name": "LaunchTemplateName",
}

_DATA = "LaunchTemplateData"
LAUNCH_TEMPLATE_VERSION_FILTERS = {
    "create-time": "CreateTime",
    "ebs-optimized": f"{_DATA}.EbsOptimized",
    "http-endpoint": f"{_DATA}.MetadataOptions.HttpEndpoint",
    "http-protocol-ipv4": lambda v: _ipv4_metadata(v[_DATA]),
    "host-resource-group-arn": f"{_DATA}.Placement.HostResourceGroupArn",
    "http-tokens": f"{_DATA}.MetadataOptions.HttpTokens",
    "iam-instance-profile": lambda v: [p for p in ((v[_DATA].get("IamInstanceProfile") or {}).get(m) for m in ("Arn", "Name")) if p],
    "image-id": f"{_DATA}.ImageId",
    "instance-type": f"{_DATA}.InstanceType",
    "is-default-version": "DefaultVersion",
    "kernel-id": f"{_DATA}.KernelId",
    "license-configuration-arn": f"{_DATA}.LicenseSpecifications[].LicenseConfigurationArn",
    "network-card-index": f"{_DATA}.NetworkInterfaces[].NetworkCardIndex",
    "ram-disk-id": f"{_DATA}.RamDiskId",
}

# DescribeInstances' filters on the reservation: its view carries them while it is filtered.
RESERVATION_FIELDS = ("OwnerId", "RequesterId", "ReservationId")

# Operation -> its filters, and the output shape each view is (what the table's paths are checked against).
FILTERS: dict[str, dict[str, Any]] = {
    "DescribeVpcs": VPC_FILTERS,
    "DescribeSubnets": SUBNET_FILTERS,
    "DescribeSecurityGroups": SECURITY_GROUP_FILTERS,
    "DescribeInternetGateways": INTERNET_GATEWAY_FILTERS,
    "DescribeRouteTables": ROUTE_TABLE_FILTERS,
    "DescribeTags": TAG_DESCRIPTION_FILTERS,
    "DescribeInstances": INSTANCE_FILTERS,
    "DescribeAvailabilityZones": AVAILABILITY_ZONE_FILTERS,
    "DescribeInstanceTypes": INSTANCE_TYPE_FILTERS,
    "DescribeKeyPairs": KEY_PAIR_FILTERS,
    "DescribeLaunchTemplates": LAUNCH_TEMPLATE_FILTERS,
    "DescribeLaunchTemplateVersions": LAUNCH_TEMPLATE_VERSION_FILTERS,
    # EBS's tables live beside their views and are added here by volumes.py, snapshots.py and
    # volume_modifications.py when they are imported (they import this module, not the other way round).
}
VIEW_SHAPES = {
    "DescribeVpcs": "Vpc", "DescribeSubnets": "Subnet", "DescribeSecurityGroups": "SecurityGroup",
    "DescribeInternetGateways": "InternetGateway", "DescribeRouteTables": "RouteTable", "DescribeTags": "TagDescription",
    "DescribeInstances": "Instance", "DescribeAvailabilityZones": "AvailabilityZone",
    "DescribeInstanceTypes": "InstanceTypeInfo", "DescribeKeyPairs": "KeyPairInfo",
    "DescribeLaunchTemplates": "LaunchTemplate", "DescribeLaunchTemplateVersions": "LaunchTemplateVersion",
    "DescribeVolumes": "Volume", "DescribeSnapshots": "Snapshot", "DescribeVolumesModifications": "VolumeModification",
}


def filtered(operation: str, items: list[dict], filters: list[dict] | None) -> list[dict]:
    """The items an operation's Filters select (every filter matches; any of its values, with wildcards)."""
    return match_filters(items, filters, FILTERS[operation])
