"""EC2 launch templates and their versions: Create/Describe/Modify/DeleteLaunchTemplate,
Create/Describe/DeleteLaunchTemplateVersions, and resolve_launch_template for EKS node groups.

A template is one store record (kind launch-template, named by its id `lt-` + 17 hex digits) holding
its versions. A version's LaunchTemplateData is stored as given: botocore's RequestLaunchTemplateData
and ResponseLaunchTemplateData have the same members (the response only adds read-only ones), so
what was given is what Describe answers. Version numbers are never reused, as on EC2.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import time
from datetime import datetime, timezone

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import LAUNCH_TEMPLATE
from ...store import SqliteStore
from .filters import filtered
from .network import new_resource_id
from .network_ops import NetworkStore, page, tags_to_create

NAME_PATTERN = re.compile(r"[a-zA-Z0-9().\-/_]{3,128}")
ALIASES = ("$Latest", "$Default")
MAX_VERSIONS_PER_DELETE = 200


# --- errors, in EC2's words ---------------------------------------------------------------------------


def name_not_found() -> AwsError:
    return AwsError("InvalidLaunchTemplateName.NotFoundException",
                    "At least one of the launch templates specified in the request does not exist.")


def id_not_found(template_id: str) -> AwsError:
    return AwsError("InvalidLaunchTemplateId.NotFound",
                    f"The specified launch template, with template ID {template_id}, does not exist.")


def version_not_found(version: str, template_id: str) -> AwsError:
    return AwsError("InvalidLaunchTemplateId.VersionNotFound",
                    f"Could not find the specified version {version} for the launch template with ID {template_id}.")


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise AwsError(
            "InvalidLaunchTemplateName.MalformedException",
            "The specified launch template name is invalid. A launch template name must be between 3 and 128 "
            "characters, and may contain letters, numbers, and the following characters: - ( ) . / _.",
        )


def _check_data(data: dict) -> None:
    user_data = data.get("UserData")
    if user_data is not None:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise AwsError("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.") from None


# --- lookups (also what EKS node groups use) ----------------------------------------------------------


def launch_templates(store: SqliteStore, account: str, region: str) -> list[dict]:
    templates = [r.spec for r in store.list(account, region, LAUNCH_TEMPLATE)]
    return sorted(templates, key=lambda t: (t["CreateTime"], t["LaunchTemplateId"]))


def find_launch_template(store: SqliteStore, account: str, region: str, template_id: str | None = None,
                         name: str | None = None) -> dict | None:
    """A template's stored spec by id or by name, or None."""
    for template in launch_templates(store, account, region):
        if (template_id and template["LaunchTemplateId"] == template_id) or (not template_id and template["LaunchTemplateName"] == name):
            return template
    return None


def resolve_version(template: dict, version: str | int | None) -> dict:
    """A template's version by number, $Latest or $Default (None: the default), or VersionNotFound."""
    wanted = "$Default" if version in (None, "") else str(version)
    number = {"$Latest": template["LatestVersionNumber"], "$Default": template["DefaultVersionNumber"]}.get(wanted)
    if number is None and wanted.isdigit():
        number = int(wanted)
    found = next((v for v in template["Versions"] if v["VersionNumber"] == number), None)
    if found is None:
        raise version_not_found(wanted, template["LaunchTemplateId"])
    return found


def resolve_launch_template(store: SqliteStore, account: str, region: str, id_or_name: str,
                            version: str | int | None = None) -> dict:
    """One version of a template named by id (lt-…) or name, version a number, $Latest or $Default
    (None: the default version), as DescribeLaunchTemplateVersions shows it: LaunchTemplateId,
    LaunchTemplateName, VersionNumber, DefaultVersion, LaunchTemplateData, ... Raises EC2's not-found
    errors (InvalidLaunchTemplateId.NotFound, InvalidLaunchTemplateName.NotFoundException,
    InvalidLaunchTemplateId.VersionNotFound)."""
    by_id = re.fullmatch(r"lt-[0-9a-f]{17}", id_or_name) is not None
    template = find_launch_template(store, account, region, **({"template_id": id_or_name} if by_id else {"name": id_or_name}))
    if template is None:
        raise id_not_found(id_or_name) if by_id else name_not_found()
    return version_view(template, resolve_version(template, version))


# --- views --------------------------------------------------------------------------------------------


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def template_view(template: dict) -> dict:
    return {
        "LaunchTemplateId": template["LaunchTemplateId"],
        "LaunchTemplateName": template["LaunchTemplateName"],
        "CreateTime": _moment(template["CreateTime"]),
        "CreatedBy": template["CreatedBy"],
        "DefaultVersionNumber": template["DefaultVersionNumber"],
        "LatestVersionNumber": template["LatestVersionNumber"],
        "Tags": template["Tags"],
    }


def version_view(template: dict, version: dict) -> dict:
    view = {
        "LaunchTemplateId": template["LaunchTemplateId"],
        "LaunchTemplateName": template["LaunchTemplateName"],
        "VersionNumber": version["VersionNumber"],
        "CreateTime": _moment(version["CreateTime"]),
        "CreatedBy": version["CreatedBy"],
        "DefaultVersion": version["VersionNumber"] == template["DefaultVersionNumber"],
        "LaunchTemplateData": copy.deepcopy(version["LaunchTemplateData"]),
    }
    if version.get("VersionDescription") is not None:
        view["VersionDescription"] = version["VersionDescription"]
    return view


def _new_version(ctx: RequestContext, number: int, params: dict, data: dict) -> dict:
    _check_data(data)
    version = {"VersionNumber": number, "CreateTime": time.time(), "CreatedBy": ctx.principal_arn, "LaunchTemplateData": data}
    if params.get("VersionDescription") is not None:
        version["VersionDescription"] = params["VersionDescription"]
    if params.get("ClientToken"):
        version["ClientToken"] = params["ClientToken"]
    return version


class LaunchTemplateOperations(NetworkStore):
    # --- launch templates ---------------------------------------------------------------------------

    def _template(self, ctx: RequestContext, params: dict) -> dict:
        """The template a request names by LaunchTemplateId or LaunchTemplateName (one of them)."""
        template_id, name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
        if template_id and name:
            raise AwsError("InvalidParameterCombination",
                           "You must specify either the launch template ID or the launch template name, but not both.")
        if not template_id and not name:
            raise AwsError("MissingParameter",
                           "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
        template = find_launch_template(self.store, ctx.account, ctx.region, template_id, name)
        if template is None:
            raise id_not_found(template_id) if template_id else name_not_found()
        return template

    def CreateLaunchTemplate(self, ctx: RequestContext, params: dict) -> dict:
        name = params["LaunchTemplateName"]
        _check_name(name)
        token = params.get("ClientToken")
        templates = launch_templates(self.store, ctx.account, ctx.region)
        if token:
            same = next((t for t in templates if t.get("ClientToken") == token), None)
            if same is not None:  # a retry of a request that succeeded
                if same["LaunchTemplateName"] != name:
                    raise AwsError("IdempotentParameterMismatch",
                                   "The client token you have provided is associated with a resource that is already deleted or has different parameters.")
                return {"LaunchTemplate": template_view(same)}
        tags = tags_to_create(params, LAUNCH_TEMPLATE)
        already = AwsError("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
        if any(t["LaunchTemplateName"] == name for t in templates):
            raise already
        template_id = new_resource_id("lt")
        version = _new_version(ctx, 1, params, copy.deepcopy(params["LaunchTemplateData"]))
        template = {
            "LaunchTemplateId": template_id,
            "LaunchTemplateName": name,
            "CreateTime": version["CreateTime"],
            "CreatedBy": ctx.principal_arn,
            "DefaultVersionNumber": 1,
            "LatestVersionNumber": 1,
            "NextVersionNumber": 2,
            "Tags": tags,
            "Versions": [version],
            **({"ClientToken": token} if token else {}),
        }
        record = self.store.create(self._key(ctx, LAUNCH_TEMPLATE, template_id), template)
        rivals = [r for r in self.store.list(ctx.account, ctx.region, LAUNCH_TEMPLATE)
                  if r.spec["LaunchTemplateName"] == name and r.key.name != template_id]
        if any((r.created_at, r.key.name) < (record.created_at, template_id) for r in rivals):
            self._delete(ctx, LAUNCH_TEMPLATE, template_id)
            raise already
        return {"LaunchTemplate": template_view(template)}

    def CreateLaunchTemplateVersion(self, ctx: RequestContext, params: dict) -> dict:
        template = self._template(ctx, params)
        token = params.get("ClientToken")
        retried = next((v for v in template["Versions"] if token and v.get("ClientToken") == token), None)
        if retried is not None:  # a retry of a request that succeeded: the version it made
            return {"LaunchTemplateVersion": version_view(template, retried)}
        source = resolve_version(template, params["SourceVersion"]) if params.get("SourceVersion") else None
        data = copy.deepcopy(source["LaunchTemplateData"]) if source else {}
        # The new version inherits the source's parameters, except those LaunchTemplateData gives.
        data.update(copy.deepcopy(params.get("LaunchTemplateData") or {}))

        def add(spec: dict) -> dict:
            version = _new_version(ctx, spec["NextVersionNumber"], params, data)
            spec["Versions"].append(version)
            spec["NextVersionNumber"] += 1
            spec["LatestVersionNumber"] = version["VersionNumber"]
            return version

        version = self._change(ctx, LAUNCH_TEMPLATE, template["LaunchTemplateId"], add)
        current = find_launch_template(self.store, ctx.account, ctx.region, template["LaunchTemplateId"]) or template
        return {"LaunchTemplateVersion": version_view(current, version)}

    def DescribeLaunchTemplates(self, ctx: RequestContext, params: dict) -> dict:
        templates = launch_templates(self.store, ctx.account, ctx.region)
        if params.get("LaunchTemplateIds"):
            known = {t["LaunchTemplateId"] for t in templates}
            for template_id in params["LaunchTemplateIds"]:
                if template_id not in known:
                    raise id_not_found(template_id)
            templates = [t for t in templates if t["LaunchTemplateId"] in params["LaunchTemplateIds"]]
        if params.get("LaunchTemplateNames"):
            known = {t["LaunchTemplateName"] for t in templates}
            if any(name not in known for name in params["LaunchTemplateNames"]):
                raise name_not_found()
            templates = [t for t in templates if t["LaunchTemplateName"] in params["LaunchTemplateNames"]]
        views = filtered("DescribeLaunchTemplates", [template_view(t) for t in templates], params.get("Filters"))
        return page(params, views, "LaunchTemplates")

    def DescribeLaunchTemplateVersions(self, ctx: RequestContext, params: dict) -> dict:
        wanted = params.get("Versions") or []
        if params.get("LaunchTemplateId") or params.get("LaunchTemplateName"):
            template = self._template(ctx, params)
            if wanted:
                chosen = {resolve_version(template, v)["VersionNumber"]: None for v in wanted}
                versions = [v for v in template["Versions"] if v["VersionNumber"] in chosen]
            else:
                low, high = _bound(params.get("MinVersion"), 0), _bound(params.get("MaxVersion"), float("inf"))
                versions = [v for v in template["Versions"] if low <= v["VersionNumber"] <= high]
            views = [version_view(template, v) for v in versions]
        elif wanted and all(v in ALIASES for v in wanted):
            # $Latest / $Default with no template named: that version of every template.
            views = [version_view(t, resolve_version(t, v)) for t in launch_templates(self.store, ctx.account, ctx.region)
                     for v in dict.fromkeys(wanted)]
        else:
            raise AwsError("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
        views.sort(key=lambda v: (v["LaunchTemplateId"], -v["VersionNumber"]))
        views = filtered("DescribeLaunchTemplateVersions", views, params.get("Filters"))
        return page(params, views, "LaunchTemplateVersions")

    def ModifyLaunchTemplate(self, ctx: RequestContext, params: dict) -> dict:
        template = self._template(ctx, params)
        default = params.get("DefaultVersion")
        if default is None:
            return {"LaunchTemplate": template_view(template)}
        number = resolve_version(template, default)["VersionNumber"]

        def set_default(spec: dict) -> dict:
            resolve_version(spec, number)  # still there
            spec["DefaultVersionNumber"] = number
            return spec

        return {"LaunchTemplate": template_view(self._change(ctx, LAUNCH_TEMPLATE, template["LaunchTemplateId"], set_default))}

    def DeleteLaunchTemplate(self, ctx: RequestContext, params: dict) -> dict:
        template = self._template(ctx, params)
        self._delete(ctx, LAUNCH_TEMPLATE, template["LaunchTemplateId"])
        view = template_view(template)
        return {"LaunchTemplate": {k: view[k] for k in ("LaunchTemplateId", "LaunchTemplateName", "CreateTime",
                                                        "CreatedBy", "DefaultVersionNumber", "LatestVersionNumber")}}

    def DeleteLaunchTemplateVersions(self, ctx: RequestContext, params: dict) -> dict:
        template = self._template(ctx, params)
        wanted = params["Versions"]
        if len(wanted) > MAX_VERSIONS_PER_DELETE:
            raise AwsError("InvalidParameterValue",
                           f"You can specify up to {MAX_VERSIONS_PER_DELETE} launch template version numbers.")
        ids = {"LaunchTemplateId": template["LaunchTemplateId"], "LaunchTemplateName": template["LaunchTemplateName"]}

        def delete(spec: dict) -> tuple[list, list]:
            done, failed = [], []
            numbers = {v["VersionNumber"] for v in spec["Versions"]}
            for text in wanted:
                number = int(text) if str(text).isdigit() else None
                item = {**ids, **({"VersionNumber": number} if number is not None else {})}
                if number not in numbers:
                    failed.append({**item, "ResponseError": {"Code": "launchTemplateVersionDoesNotExist",
                                                             "Message": f"The specified launch template version {text} does not exist."}})
                elif number == spec["DefaultVersionNumber"]:
                    failed.append({**item, "ResponseError": {"Code": "unexpectedError",
                                                             "Message": "Cannot delete the default version of a launch template. "
                                                                        "Set another version as the default first."}})
                else:
                    numbers.discard(number)
                    done.append(item)
            spec["Versions"] = [v for v in spec["Versions"] if v["VersionNumber"] in numbers]
            spec["LatestVersionNumber"] = max(numbers)
            return done, failed

        done, failed = self._change(ctx, LAUNCH_TEMPLATE, template["LaunchTemplateId"], delete)
        return {"SuccessfullyDeletedLaunchTemplateVersions": done, "UnsuccessfullyDeletedLaunchTemplateVersions": failed}


def _bound(text: str | None, default: float) -> float:
    if text in (None, ""):
        return default
    if not str(text).isdigit():
        raise AwsError("InvalidParameterValue", f"Value ({text}) for parameter version is invalid. Versions are numbers.")
    return int(text)


def with_launch_template(store: SqliteStore, account: str, region: str, params: dict) -> dict:
    """RunInstances parameters with its LaunchTemplate's data under them: what the request gives wins,
    the template's instance tags come first (the request's overwrite them by key), and the instance is
    tagged aws:ec2launchtemplate:id and :version, as EC2 tags instances launched from a template."""
    named = params["LaunchTemplate"]
    if named.get("LaunchTemplateId") and named.get("LaunchTemplateName"):
        raise AwsError("InvalidParameterCombination",
                       "You must specify either the launch template ID or the launch template name, but not both.")
    id_or_name = named.get("LaunchTemplateId") or named.get("LaunchTemplateName")
    if not id_or_name:
        raise AwsError("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
    version = resolve_launch_template(store, account, region, id_or_name, named.get("Version"))
    data = copy.deepcopy(version["LaunchTemplateData"])
    merged = {**{k: v for k, v in data.items() if k != "TagSpecifications"},
              **{k: v for k, v in params.items() if k not in ("LaunchTemplate", "TagSpecifications")}}
    origin = [{"Key": "aws:ec2launchtemplate:id", "Value": version["LaunchTemplateId"]},
              {"Key": "aws:ec2launchtemplate:version", "Value": str(version["VersionNumber"])}]
    merged["TagSpecifications"] = [*(data.get("TagSpecifications") or []), *(params.get("TagSpecifications") or []),
                                   {"ResourceType": "instance", "Tags": origin}]
    return merged
