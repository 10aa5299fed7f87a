"""EC2 route tables: Create/DeleteRouteTable, Create/DeleteRoute, Associate/DisassociateRouteTable,
DescribeRouteTables. Routes to targets Moorage does not have answer that target's NotFound.
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INTERNET_GATEWAY, ROUTE_TABLE, SUBNET, VPC
from .filters import filtered
from .network import (
    attachments,
    local_route,
    new_resource_id,
    parse_cidr,
    route_table_view,
)
from .network_ops import NetworkStore, dependency_violation, page, select, tags_to_create

# CreateRoute targets other than internet gateways, none of which Moorage has: (code, noun).
OTHER_ROUTE_TARGETS = {
    "NatGatewayId": ("InvalidNatGatewayID.NotFound", "natGateway"),
    "TransitGatewayId": ("InvalidTransitGatewayID.NotFound", "transitGateway"),
    "VpcPeeringConnectionId": ("InvalidVpcPeeringConnectionID.NotFound", "vpcPeeringConnection"),
    "NetworkInterfaceId": ("InvalidNetworkInterfaceID.NotFound", "networkInterface"),
    "InstanceId": ("InvalidInstanceID.NotFound", "instance"),
    "EgressOnlyInternetGatewayId": ("InvalidGatewayID.NotFound", "gateway"),
    "LocalGatewayId": ("InvalidLocalGatewayID.NotFound", "localGateway"),
    "CarrierGatewayId": ("InvalidCarrierGatewayID.NotFound", "carrierGateway"),
    "VpcEndpointId": ("InvalidVpcEndpointId.NotFound", "vpcEndpoint"),
    "CoreNetworkArn": ("InvalidCoreNetworkArn.NotFound", "coreNetwork"),
    "OdbNetworkArn": ("InvalidOdbNetworkArn.NotFound", "odbNetwork"),
}

class RouteTableOperations(NetworkStore):
    # --- route tables -------------------------------------------------------------------------------

    def _route_table(self, ctx: RequestContext, table_id: str, vpc: dict, tags: list[dict], main: bool = False) -> dict:
        associations = []
        if main:
            associations.append({
                "Main": True,
                "RouteTableAssociationId": new_resource_id("rtbassoc"),
                "RouteTableId": table_id,
                "AssociationState": {"State": "associated"},
            })
        return {
            "RouteTableId": table_id,
            "VpcId": vpc["VpcId"],
            "OwnerId": ctx.account,
            "Routes": [local_route(vpc["CidrBlock"])],
            "Associations": associations,
            "PropagatingVgws": [],
            "Tags": tags,
        }

    def CreateRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        vpc = self._require(ctx, VPC, params["VpcId"])
        token = params.get("ClientToken")
        retried = next((t for t in self._all(ctx, ROUTE_TABLE) if token and t.get("_ClientToken") == token), None)
        if retried is not None:  # a retry of a request that succeeded: the table it made
            if retried["VpcId"] != vpc["VpcId"]:
                raise AwsError("IdempotentParameterMismatch",
                               "The client token you have provided is associated with a resource that is already deleted or has different parameters.")
            attached = attachments(self._all(ctx, INTERNET_GATEWAY))
            return {"RouteTable": route_table_view(retried, attached), "ClientToken": token}
        tags = tags_to_create(params, ROUTE_TABLE)
        table_id = new_resource_id("rtb")
        table = self._route_table(ctx, table_id, vpc, tags)
        self._create_in_vpc(ctx, ROUTE_TABLE, {**table, **({"_ClientToken": token} if token else {})}, table_id, vpc["VpcId"])
        result = {"RouteTable": table}
        if token:
            result["ClientToken"] = token
        return result

    def DeleteRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        table = self._require(ctx, ROUTE_TABLE, params["RouteTableId"])
        if table["Associations"]:
            raise dependency_violation("routeTable", table["RouteTableId"])
        self._delete(ctx, ROUTE_TABLE, table["RouteTableId"])
        return {}

    def CreateRoute(self, ctx: RequestContext, params: dict) -> dict:
        table = self._require(ctx, ROUTE_TABLE, params["RouteTableId"])
        if "DestinationCidrBlock" not in params:
            raise AwsError("MissingParameter", "The request must contain the parameter destinationCidrBlock")
        destination = str(parse_cidr(params["DestinationCidrBlock"], "destinationCidrBlock"))
        targets = [m for m in ("GatewayId", *OTHER_ROUTE_TARGETS) if params.get(m)]
        if len(targets) != 1:
            raise AwsError(
                "InvalidParameterCombination" if targets else "MissingParameter",
                "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, "
                "vpcPeeringConnectionId, transitGatewayId, instanceId, egressOnlyInternetGatewayId, localGatewayId, "
                "carrierGatewayId, vpcEndpointId or coreNetworkArn",
            )
        target, value = targets[0], params[targets[0]]
        if target != "GatewayId" or not value.startswith("igw-"):
            # Moorage has internet gateways only: any other target does not exist.
            code, noun = OTHER_ROUTE_TARGETS.get(target, ("InvalidGatewayID.NotFound", "gateway"))
            raise AwsError(code, f"The {noun} ID '{value}' does not exist")
        self._require(ctx, INTERNET_GATEWAY, value)
        if attachments(self._all(ctx, INTERNET_GATEWAY)).get(value) != table["VpcId"]:
            raise AwsError(
                "InvalidParameterValue", f"route table {table['RouteTableId']} and network gateway {value} belong to different networks"
            )

        def add(spec: dict) -> None:
            if any(r.get("DestinationCidrBlock") == destination for r in spec["Routes"]):
                raise AwsError("RouteAlreadyExists", f"The route identified by {destination} already exists.")
            spec["Routes"].append({"DestinationCidrBlock": destination, "GatewayId": value, "Origin": "CreateRoute", "State": "active"})

        self._change(ctx, ROUTE_TABLE, table["RouteTableId"], add)
        return {"Return": True}

    def DeleteRoute(self, ctx: RequestContext, params: dict) -> dict:
        table_id = params["RouteTableId"]
        if "DestinationCidrBlock" not in params:
            raise AwsError("MissingParameter", "The request must contain the parameter destinationCidrBlock")
        destination = params["DestinationCidrBlock"]

        def remove(spec: dict) -> None:
            route = next((r for r in spec["Routes"] if r.get("DestinationCidrBlock") == destination), None)
            if route is None:
                raise AwsError("InvalidRoute.NotFound", f"no route with destination-cidr-block {destination} in route table {table_id}")
            if route.get("GatewayId") == "local":
                raise AwsError("InvalidParameterValue", f"cannot remove local route {destination} in route table {table_id}")
            spec["Routes"].remove(route)

        self._change(ctx, ROUTE_TABLE, table_id, remove)
        return {}

    def AssociateRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        table = self._require(ctx, ROUTE_TABLE, params["RouteTableId"])
        if params.get("GatewayId"):
            raise AwsError("InvalidParameterValue", "Moorage supports route table associations with subnets only.")
        if not params.get("SubnetId"):
            raise AwsError("MissingParameter", "The request must contain the parameter subnetId or gatewayId")
        subnet = self._require(ctx, SUBNET, params["SubnetId"])
        if subnet["VpcId"] != table["VpcId"]:
            raise AwsError(
                "InvalidParameterValue", f"Route table {table['RouteTableId']} and subnet {subnet['SubnetId']} belong to different networks"
            )
        conflict = AwsError(
            "Resource.AlreadyAssociated",
            f"the specified association for route table {table['RouteTableId']} conflicts with an existing association",
        )
        if any(a.get("SubnetId") == subnet["SubnetId"] for t in self._all(ctx, ROUTE_TABLE) for a in t["Associations"]):
            raise conflict
        association = {
            "Main": False,
            "RouteTableAssociationId": new_resource_id("rtbassoc"),
            "RouteTableId": table["RouteTableId"],
            "SubnetId": subnet["SubnetId"],
            "AssociationState": {"State": "associated"},
        }
        self._change(ctx, ROUTE_TABLE, table["RouteTableId"], lambda t: t["Associations"].append(association))
        return {"AssociationId": association["RouteTableAssociationId"], "AssociationState": association["AssociationState"]}

    def DisassociateRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        association_id = params["AssociationId"]
        table = next(
            (t for t in self._all(ctx, ROUTE_TABLE) if any(a["RouteTableAssociationId"] == association_id for a in t["Associations"])),
            None,
        )
        if table is None:
            raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")

        def disassociate(spec: dict) -> None:
            association = next((a for a in spec["Associations"] if a["RouteTableAssociationId"] == association_id), None)
            if association is None:
                raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")
            if association.get("Main"):
                raise AwsError("InvalidParameterValue", f"cannot disassociate the main route table association {association_id}")
            spec["Associations"].remove(association)

        self._change(ctx, ROUTE_TABLE, table["RouteTableId"], disassociate)
        return {}

    def DescribeRouteTables(self, ctx: RequestContext, params: dict) -> dict:
        attached = attachments(self._all(ctx, INTERNET_GATEWAY))
        tables = [route_table_view(t, attached) for t in self._all(ctx, ROUTE_TABLE)]
        tables = select(tables, params.get("RouteTableIds"), "RouteTableId", ROUTE_TABLE)
        tables = filtered("DescribeRouteTables", tables, params.get("Filters"))
        return page(params, tables, "RouteTables")
