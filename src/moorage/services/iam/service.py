"""IAM operations (query protocol, global: clients sign for us-east-1), by name, as the gateway dispatches them.

The operations live in one mixin per area; this class puts them together over one store.
"""

from __future__ import annotations

from ...store import SqliteStore
from ..base import Service
from .entities import IamStore
from .inline import InlinePolicyOperations
from .managed import ManagedPolicies, ManagedPolicyOperations
from .oidc_providers import OpenIdConnectProviderOperations
from .roles import RoleOperations
from .users import UserOperations


class IamService(
    UserOperations, RoleOperations, ManagedPolicyOperations, InlinePolicyOperations, OpenIdConnectProviderOperations, Service
):
    name = "iam"

    def __init__(self, store: SqliteStore, root_access_key_id: str):
        self.entities = IamStore(store)
        self.policies = ManagedPolicies(self.entities)
        self.root_access_key_id = root_access_key_id
