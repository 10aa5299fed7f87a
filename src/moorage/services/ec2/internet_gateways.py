"""EC2 internet gateways: Create/Attach/Detach/Delete/DescribeInternetGateways.
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INTERNET_GATEWAY, VPC
from .filters import filtered
from .network import (
    attachments,
    new_resource_id,
)
from .network_ops import (
    MAX_INTERNET_GATEWAYS_PER_REGION,
    NetworkStore,
    dependency_violation,
    page,
    select,
    tags_to_create,
)


class InternetGatewayOperations(NetworkStore):
    # --- internet gateways --------------------------------------------------------------------------

    def CreateInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        tags = tags_to_create(params, INTERNET_GATEWAY)
        if len(self._all(ctx, INTERNET_GATEWAY)) >= MAX_INTERNET_GATEWAYS_PER_REGION:
            raise AwsError("InternetGatewayLimitExceeded", "The maximum number of internet gateways has been reached.")
        gateway_id = new_resource_id("igw")
        gateway = {"InternetGatewayId": gateway_id, "OwnerId": ctx.account, "Attachments": [], "Tags": tags}
        self.store.create(self._key(ctx, INTERNET_GATEWAY, gateway_id), gateway)
        return {"InternetGateway": gateway}

    def AttachInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        gateway_id, vpc_id = params["InternetGatewayId"], params["VpcId"]
        self._require(ctx, INTERNET_GATEWAY, gateway_id)
        self._require(ctx, VPC, vpc_id)
        taken = AwsError("InvalidParameterValue", f"Network {vpc_id} already has an internet gateway attached")
        if any(other != gateway_id for other, vpc in attachments(self._all(ctx, INTERNET_GATEWAY)).items() if vpc == vpc_id):
            raise taken

        def attach(gateway: dict) -> None:
            if gateway["Attachments"]:
                raise AwsError(
                    "Resource.AlreadyAssociated",
                    f"resource {gateway_id} is already attached to network {gateway['Attachments'][0]['VpcId']}",
                )
            gateway["Attachments"] = [{"State": "available", "VpcId": vpc_id}]

        self._change(ctx, INTERNET_GATEWAY, gateway_id, attach)
        return {}

    def DetachInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        gateway_id, vpc_id = params["InternetGatewayId"], params["VpcId"]
        self._require(ctx, VPC, vpc_id)

        def detach(gateway: dict) -> None:
            if not any(a["VpcId"] == vpc_id for a in gateway["Attachments"]):
                raise AwsError("Gateway.NotAttached", f"resource {gateway_id} is not attached to network {vpc_id}")
            gateway["Attachments"] = []

        self._change(ctx, INTERNET_GATEWAY, gateway_id, detach)
        return {}

    def DeleteInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        gateway = self._require(ctx, INTERNET_GATEWAY, params["InternetGatewayId"])
        if gateway["Attachments"]:
            raise dependency_violation("internetGateway", gateway["InternetGatewayId"])
        self._delete(ctx, INTERNET_GATEWAY, gateway["InternetGatewayId"])
        return {}

    def DescribeInternetGateways(self, ctx: RequestContext, params: dict) -> dict:
        gateways = select(self._all(ctx, INTERNET_GATEWAY), params.get("InternetGatewayIds"), "InternetGatewayId", INTERNET_GATEWAY)
        gateways = filtered("DescribeInternetGateways", gateways, params.get("Filters"))
        return page(params, gateways, "InternetGateways")
