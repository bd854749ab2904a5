"""Facts of the run's database and clock, added to the OpenAPI document before Schemathesis reads
it (`scripts/api-contract` loads this file through SCHEMATHESIS_HOOKS and sets the variables).

The document describes what any portal accepts. Some valid values depend on the database and
the clock, which no document can state: who exists (a commander or owner is an active user's
e-mail), which status-page components exist, what "now" is (an incident starts within the last
90 days; a window starts in the future). For this run those sets are known exactly: one user,
the components the migrations create, times computed at the start of the run. Narrowing the
document to them keeps every phase (examples, coverage, fuzzing, stateful) and every check:
values outside the sets are generated as invalid data and must be refused.

Add a fact when a new operation refers to something that must exist or to a time relative to
now -- never to make a finding go away: fix the server or the document instead.
"""

import os

import schemathesis

EMAIL = os.environ["API_CONTRACT_EMAIL"]
USER_ID = os.environ["API_CONTRACT_USER_ID"]
API_COMPONENT = "0193a000-0000-7000-8000-000000000011"  # "API", migrations/0003_incidents.sql
DATABASE_COMPONENT = "0193a000-0000-7000-8000-000000000015"  # "Database"


def _narrow(document, pointer, **facts):
    """Adds `facts` (JSON Schema keywords) to the schema at `pointer`, which must exist."""
    node = document
    for part in pointer.strip("/").split("/"):
        if part not in node:
            raise KeyError(f"tests/api-contract/hooks.py: the document has no {pointer} (renamed?)")
        node = node[part]
    node.update(facts)


def _narrow_parameter(document, path, method, name, **facts):
    """Adds `facts` to the schema of query parameter `name` of `method` `path`, which must exist."""
    for parameter in document.get("paths", {}).get(path, {}).get(method, {}).get("parameters", []):
        if parameter.get("name") == name:
            parameter["schema"].update(facts)
            return
    raise KeyError(f"tests/api-contract/hooks.py: {method.upper()} {path} has no parameter {name} (renamed?)")


@schemathesis.hook
def before_load_schema(context, raw_schema):
    schemas = "/components/schemas"
    user = {"enum": [EMAIL]}
    # Users: the run's admin is the only one.
    _narrow(raw_schema, "/components/parameters/Commander/schema", **user)
    _narrow(raw_schema, f"{schemas}/DeclareIncident/properties/commander", **user)
    _narrow(raw_schema, f"{schemas}/PatchIncident/properties/commander", **user)
    _narrow(raw_schema, f"{schemas}/CreateMaintenanceWindow/properties/owner", **user)
    # An incident started two hours ago and was detected one hour ago (so a detection time needs
    # the start too: without one the start is now, after the detection).
    _narrow(raw_schema, f"{schemas}/DeclareIncident", dependentRequired={"detected_at": ["started_at"]})
    _narrow(raw_schema, f"{schemas}/DeclareIncident/properties/started_at", enum=[os.environ["API_CONTRACT_STARTED_AT"]])
    _narrow(raw_schema, f"{schemas}/DeclareIncident/properties/detected_at", enum=[os.environ["API_CONTRACT_DETECTED_AT"]])
    # Components exist; an incident lists each once (one here, so no repeat can be generated).
    _narrow(raw_schema, f"{schemas}/DeclareIncident/properties/components", maxItems=1)
    _narrow(raw_schema, f"{schemas}/ComponentImpact/properties/id", enum=[API_COMPONENT])
    # A window starts three days ahead (past the 48-hour notice) and lasts two hours.
    _narrow(raw_schema, f"{schemas}/CreateMaintenanceWindow/properties/starts_at", enum=[os.environ["API_CONTRACT_WINDOW_STARTS_AT"]])
    _narrow(raw_schema, f"{schemas}/CreateMaintenanceWindow/properties/ends_at", enum=[os.environ["API_CONTRACT_WINDOW_ENDS_AT"]])
    _narrow(raw_schema, f"{schemas}/CreateMaintenanceWindow/properties/components/items", enum=[DATABASE_COMPONENT])
    # An edit keeps those times (a window moved to any other valid time is the same case) and
    # that component.
    _narrow(raw_schema, f"{schemas}/PatchMaintenanceWindow/properties/starts_at", enum=[os.environ["API_CONTRACT_WINDOW_STARTS_AT"]])
    _narrow(raw_schema, f"{schemas}/PatchMaintenanceWindow/properties/ends_at", enum=[os.environ["API_CONTRACT_WINDOW_ENDS_AT"]])
    _narrow(raw_schema, f"{schemas}/PatchMaintenanceWindow/properties/components/items", enum=[DATABASE_COMPONENT])
    # Escalations name people by user id: the run's admin is the only user.
    _narrow_parameter(raw_schema, "/api/v1/escalations", "get", "person", enum=[USER_ID])
    # A report's custom range ends on or after its start and spans at most two years, which no
    # schema of two separate parameters can say: the run's range is 40 days up to today.
    _narrow_parameter(raw_schema, "/api/v1/reports", "get", "start", enum=[os.environ["API_CONTRACT_REPORT_START"]])
    _narrow_parameter(raw_schema, "/api/v1/reports", "get", "end", enum=[os.environ["API_CONTRACT_REPORT_END"]])
