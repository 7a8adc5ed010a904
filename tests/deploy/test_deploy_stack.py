"""deploy/cloudformation.yml: cfn-lint is clean and the stack's invariants hold.

Each check_* function returns the list of broken invariants (empty when all
hold). The test_*_holds tests run them on the template; the mutation tests run
them on a damaged copy, to show that a careless edit is caught.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "cloudformation.yml"

Template = dict[str, Any]

# The service stops within this long of SIGTERM: 1 s of drain, in-flight requests
# for at most 20 s (uvicorn's graceful-shutdown timeout), then the email sender
# for at most 8 s (WorkerTimings.drain_seconds); Fargate allows a stopTimeout up to 120.
SERVICE_SHUTDOWN_SECONDS = 1 + 20 + 8
FARGATE_MAX_STOP_TIMEOUT = 120
SERVICE_ENVIRONMENT = {
    "PARAM_HOST_PATH",
    "PARAM_DB_NAME_PATH",
    "PARAM_USER_PATH",
    "DB_SECRET_ARN",
    "DB_MIGRATION_SECRET_ARN",
    "DB_SSL_MODE",
    "AWS_REGION",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "RATE_LIMIT_REGISTER",
    "RATE_LIMIT_MISMATCH",
    "METRICS_INTERVAL_SECONDS",
    "METRICS_SERVICE",
    "SCHOOL_TIMEZONE",
    "MAIL_CONFIGURATION_SET",
    "MAIL_EVENTS_QUEUE_URL",
}
# The contract's defaults (shared/contract.md, "Configuration").
RATE_LIMIT_DEFAULTS = {"RateLimitRegister": "20/minute", "RateLimitMismatch": "5/hour"}
ANYWHERE = {("cidr", "0.0.0.0/0"), ("cidr", "::/0")}


def load_template(path: Path = TEMPLATE) -> Template:
    """The template as plain dicts, short-form tags (!Ref...) in long form."""
    decode = importlib.import_module("cfnlint.decode.decode")
    template, matches = decode.decode(str(path))
    assert not matches, [str(match) for match in matches]
    loaded: Template = json.loads(json.dumps(template))
    return loaded


@pytest.fixture(scope="module")
def pristine() -> Template:
    return load_template()


@pytest.fixture
def template(pristine: Template) -> Template:
    return copy.deepcopy(pristine)


# ------------------------------------------------------------------ helpers


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """Properties of every resource of type kind, by logical id."""
    return {
        name: resource.get("Properties", {})
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def one(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected exactly one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def service_task(template: Template) -> tuple[str, dict[str, Any]]:
    """The task definition the service runs (the one-off tasks have their own)."""
    _, service = one(template, "AWS::ECS::Service")
    name = ref(service.get("TaskDefinition")) or ""
    return name, resources(template, "AWS::ECS::TaskDefinition").get(name, {})


def ref(value: Any) -> str | None:
    """The logical id or parameter named by {"Ref": X}, else None."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    return None


def get_att(value: Any) -> str | None:
    """ "X.Attr" for {"Fn::GetAtt": [X, Attr]} (or "X.Attr"), else None."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        return target if isinstance(target, str) else ".".join(target)
    return None


def is_true(value: Any) -> bool:
    return value is True or value == "true"


def parameter_default(template: Template, value: Any) -> Any:
    """value, or the default of the parameter it refers to."""
    name = ref(value)
    if name is not None and name in template.get("Parameters", {}):
        return template["Parameters"][name].get("Default")
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve(template: Template, value: Any) -> Any:
    """value with Ref (parameter defaults), Fn::Split, Fn::Select and Fn::Join worked out."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    [(function, argument)] = value.items()
    if function == "Ref":
        return parameter_default(template, value)
    if function == "Fn::Split":
        return str(resolve(template, argument[1])).split(argument[0])
    if function == "Fn::Select":
        return resolve(template, argument[1])[int(argument[0])]
    if function == "Fn::Join":
        return argument[0].join(str(resolve(template, part)) for part in argument[1])
    return value


NO_VALUE = {"Ref": "AWS::NoValue"}


def widest(value: Any) -> Any:
    """`value` as the stack is with every condition true (the most it can grant).

    Each Fn::If is replaced by its true branch and AWS::NoValue items are dropped;
    dicts are returned as they are, not copied, so a mutation test edits the template.
    """
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        return widest(value["Fn::If"][1])
    if isinstance(value, list):
        return [item for item in map(widest, value) if item != NO_VALUE]
    return value


# ------------------------------------------------------------------ security groups


def rule_key(rule: dict[str, Any], peer_keys: tuple[str, str, str]) -> tuple[Any, ...]:
    """(protocol, from, to, peer): peer is ("cidr", X), ("sg", logical id) or ("other", X)."""
    cidr4, cidr6, group = peer_keys
    if cidr4 in rule:
        peer: tuple[str, Any] = ("cidr", rule[cidr4])
    elif cidr6 in rule:
        peer = ("cidr", rule[cidr6])
    elif ref(rule.get(group)) is not None:
        peer = ("sg", ref(rule[group]))
    else:
        peer = ("other", json.dumps({k: v for k, v in rule.items() if k != "Description"}))
    protocol = str(rule.get("IpProtocol"))
    return (protocol, rule.get("FromPort"), rule.get("ToPort"), peer)


INGRESS = ("SecurityGroupIngress", "AWS::EC2::SecurityGroupIngress")
EGRESS = ("SecurityGroupEgress", "AWS::EC2::SecurityGroupEgress")
PEERS = {
    INGRESS: ("CidrIp", "CidrIpv6", "SourceSecurityGroupId"),
    EGRESS: ("CidrIp", "CidrIpv6", "DestinationSecurityGroupId"),
}


def rules_of(template: Template, group: str, direction: tuple[str, str]) -> dict[str, set[Any]]:
    """{"inline": rules, "separate": rules} of one direction of a security group."""
    inline_property, separate_type = direction
    properties = resources(template, "AWS::EC2::SecurityGroup")[group]
    inline = {rule_key(r, PEERS[direction]) for r in properties.get(inline_property, [])}
    separate = {
        rule_key(r, PEERS[direction])
        for r in resources(template, separate_type).values()
        if ref(r.get("GroupId")) == group
    }
    return {"inline": inline, "separate": separate}


def chain_groups(template: Template) -> tuple[str | None, str | None, str | None]:
    """The ALB's, the service's and the database's security groups, as they use them."""
    _, balancer = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    _, service = one(template, "AWS::ECS::Service")
    _, database = one(template, "AWS::RDS::DBInstance")
    task_groups = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]

    def single(groups: Any) -> str | None:
        names = [ref(g) for g in as_list(groups)]
        return names[0] if len(names) == 1 else None

    return (
        single(balancer.get("SecurityGroups")),
        single(task_groups),
        single(database.get("VPCSecurityGroups")),
    )


def check_security_group_chain(template: Template) -> list[str]:
    problems: list[str] = []
    alb, task, db = chain_groups(template)
    if alb is None or task is None or db is None or len({alb, task, db}) != 3:
        return [f"ALB, tasks and DB must each use one distinct security group: {alb, task, db}"]
    if set(resources(template, "AWS::EC2::SecurityGroup")) != {alb, task, db}:
        problems.append("the stack must create exactly the three chain security groups")

    def rules(group: str, direction: tuple[str, str]) -> set[Any]:
        found = rules_of(template, group, direction)
        if found["inline"] and found["separate"]:
            problems.append(
                f"{group} mixes inline and separate {direction[0]} rules: "
                "an update of the inline list removes the separate ones"
            )
        return found["inline"] | found["separate"]

    alb_in = rules(alb, INGRESS)
    required = {("tcp", port, port, ("cidr", "0.0.0.0/0")) for port in (80, 443)}
    allowed = {("tcp", port, port, peer) for port in (80, 443) for peer in ANYWHERE}
    if not required <= alb_in <= allowed:
        problems.append(f"ALB ingress must be exactly 80 and 443 from anywhere: {alb_in}")
    if rules(task, INGRESS) != {("tcp", 3000, 3000, ("sg", alb))}:
        problems.append(f"task ingress must be only 3000 from {alb}: {rules(task, INGRESS)}")
    if rules(db, INGRESS) != {("tcp", 3306, 3306, ("sg", task))}:
        problems.append(f"DB ingress must be only 3306 from {task}: {rules(db, INGRESS)}")

    if rules(alb, EGRESS) != {("tcp", 3000, 3000, ("sg", task))}:
        problems.append(f"ALB egress must be only 3000 to {task}: {rules(alb, EGRESS)}")
    task_out = rules(task, EGRESS)
    if task_out != {("tcp", 443, 443, ("cidr", "0.0.0.0/0")), ("tcp", 3306, 3306, ("sg", db))}:
        problems.append(f"task egress must be 443 to AWS APIs and 3306 to {db}: {task_out}")
    if rules(db, EGRESS) != {("-1", None, None, ("cidr", "127.0.0.1/32"))}:
        problems.append(f"DB egress must be closed (loopback rule only): {rules(db, EGRESS)}")
    return problems


# ------------------------------------------------------------------ load balancer


def check_load_balancer(template: Template) -> list[str]:
    problems: list[str] = []
    balancer_id, balancer = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in balancer.get("LoadBalancerAttributes", [])}
    if str(attributes.get("idle_timeout.timeout_seconds")) != "60":
        problems.append("ALB idle timeout must be 60 s (below the service's 65 s keep-alive)")
    if balancer.get("Scheme") != "internet-facing":
        problems.append("the ALB must be internet-facing")

    target_group_id, group = one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    listeners = resources(template, "AWS::ElasticLoadBalancingV2::Listener")
    by_port = {int(listener["Port"]): listener for listener in listeners.values()}
    if set(by_port) != {80, 443} or len(listeners) != 2:
        return [*problems, f"expected one listener on 80 and one on 443: {sorted(by_port)}"]
    https, http = by_port[443], by_port[80]
    certificate = ref(https.get("Certificates", [{}])[0].get("CertificateArn"))
    if (
        https.get("Protocol") != "HTTPS"
        or certificate not in template["Parameters"]
        or ref(https.get("LoadBalancerArn")) != balancer_id
    ):
        problems.append("443 must be HTTPS on the ALB with the certificate ARN parameter")
    if [(a["Type"], ref(a.get("TargetGroupArn"))) for a in https["DefaultActions"]] != [
        ("forward", target_group_id)
    ]:
        problems.append("HTTPS must forward to the target group")
    redirect = http["DefaultActions"][0].get("RedirectConfig", {})
    if (
        http.get("Protocol") != "HTTP"
        or [a["Type"] for a in http["DefaultActions"]] != ["redirect"]
        or redirect.get("Protocol") != "HTTPS"
        or str(redirect.get("Port")) != "443"
        or redirect.get("StatusCode") != "HTTP_301"
    ):
        problems.append("HTTP must only redirect (301) to HTTPS on 443")

    if int(group.get("Port", 0)) != 3000 or group.get("Protocol") != "HTTP":
        problems.append("the target group must send HTTP to port 3000")
    if group.get("TargetType") != "ip":
        problems.append("Fargate tasks (awsvpc) register by IP: TargetType ip")
    if group.get("HealthCheckPath") != "/health" or group.get("HealthCheckProtocol") != "HTTP":
        problems.append("the health check must be GET /health over HTTP")
    if str(group.get("Matcher", {}).get("HttpCode")) != "200":
        problems.append("the health check must expect exactly 200")
    target_attributes = {a["Key"]: a["Value"] for a in group.get("TargetGroupAttributes", [])}
    delay = int(target_attributes.get("deregistration_delay.timeout_seconds", 300))
    if not 0 < delay <= 30:
        problems.append(f"deregistration delay must be short for sub-second requests: {delay}")
    return problems


# ------------------------------------------------------------------ task definition and service


def check_service(template: Template) -> list[str]:
    problems: list[str] = []
    task_definition_id, task = service_task(template)
    _, service = one(template, "AWS::ECS::Service")
    target_group_id, _ = one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    log_groups = resources(template, "AWS::Logs::LogGroup")
    parameters = resources(template, "AWS::SSM::Parameter")
    database_id, _ = one(template, "AWS::RDS::DBInstance")

    if task.get("RequiresCompatibilities") != ["FARGATE"] or task.get("NetworkMode") != "awsvpc":
        problems.append("the task definition must be Fargate with awsvpc networking")
    if task.get("RuntimePlatform", {}).get("CpuArchitecture") != "X86_64":
        problems.append("the release builds linux/amd64: the task must run X86_64")
    containers = task.get("ContainerDefinitions", [])
    if len(containers) != 1:
        return [*problems, "the task definition must have exactly one container"]
    container = containers[0]
    if [int(p["ContainerPort"]) for p in container.get("PortMappings", [])] != [3000]:
        problems.append("the container must expose port 3000 only")
    environment = {e["Name"]: e["Value"] for e in widest(container.get("Environment", []))}
    if missing := SERVICE_ENVIRONMENT - set(environment):
        problems.append(f"the container lacks environment variables {sorted(missing)}")
    for name in ("PARAM_HOST_PATH", "PARAM_DB_NAME_PATH", "PARAM_USER_PATH"):
        if ref(environment.get(name)) not in parameters:
            problems.append(f"{name} must name a Parameter Store entry of the stack")
    raw = {e["Name"]: e["Value"] for e in container.get("Environment", []) if "Name" in e}
    secret = raw.get("DB_SECRET_ARN")
    if (
        secret
        != {
            "Fn::If": [
                "LogsInAsMaster",
                {"Fn::GetAtt": [database_id, "MasterUserSecret.SecretArn"]},
                {"Ref": "AppDbSecret"},
            ]
        }
        or username(template, "AppDbSecret") != "schoolapp_app"
    ):
        problems.append(
            "DB_SECRET_ARN must be the application user's secret (master: upgrade only)"
        )
    if ref(environment.get("DB_MIGRATION_SECRET_ARN")) != "MigrationDbSecret" or (
        username(template, "MigrationDbSecret") != "schoolapp_migrate"
    ):
        problems.append("DB_MIGRATION_SECRET_ARN must be the migration user's secret")
    problems += check_new_environment(template, environment)
    if environment.get("DB_SSL_MODE") != "verify-identity" or "DB_SSL_CA" in environment:
        problems.append("DB_SSL_MODE must be verify-identity, against the image's RDS bundle")
    if ref(environment.get("AWS_REGION")) != "AWS::Region":
        problems.append("AWS_REGION must be the stack's region")
    if container.get("Environment", []) and not has_mail_environment(container["Environment"]):
        problems.append(
            "MAIL_BACKEND must be ses exactly when SesIdentity is set, MAIL_FROM the "
            "MailFromAddress parameter, SCHOOL_NAME the SchoolName parameter"
        )
    stop = int(container.get("StopTimeout", 30))
    if not SERVICE_SHUTDOWN_SECONDS < stop <= FARGATE_MAX_STOP_TIMEOUT:
        problems.append(f"stopTimeout {stop} must exceed the {SERVICE_SHUTDOWN_SECONDS} s drain")
    logging = container.get("LogConfiguration", {})
    log_group = ref(logging.get("Options", {}).get("awslogs-group"))
    if logging.get("LogDriver") != "awslogs" or log_group not in log_groups:
        problems.append("the container must log with awslogs to the stack's log group")
    elif "RetentionInDays" not in log_groups[log_group]:
        problems.append("the log group must have a retention")

    if ref(service.get("TaskDefinition")) != task_definition_id:
        problems.append("the service must run the task definition")
    if service.get("LaunchType") != "FARGATE":
        problems.append("the service must run on Fargate")
    balancers = service.get("LoadBalancers", [])
    if [(int(b["ContainerPort"]), ref(b["TargetGroupArn"])) for b in balancers] != [
        (3000, target_group_id)
    ]:
        problems.append("the service must register port 3000 in the target group")
    network = service.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
    if network.get("AssignPublicIp") != "DISABLED":
        problems.append("tasks must not get a public IP")
    breaker = service.get("DeploymentConfiguration", {}).get("DeploymentCircuitBreaker", {})
    if not (is_true(breaker.get("Enable")) and is_true(breaker.get("Rollback"))):
        problems.append("a failed deployment must roll back (circuit breaker)")
    return problems


def username(template: Template, secret: str) -> str | None:
    """The username a generated secret of the stack holds."""
    generated = resources(template, "AWS::SecretsManager::Secret").get(secret, {})
    document = generated.get("GenerateSecretString", {}).get("SecretStringTemplate", "{}")
    name = json.loads(document).get("username")
    return str(name) if name is not None else None


def check_new_environment(template: Template, environment: dict[str, Any]) -> list[str]:
    """The variables of issues 17, 18 and 20, each from the stack's own value."""
    problems = []
    expected_refs = {
        "TRUSTED_PROXIES": "VpcCidr",
        "RATE_LIMIT_REGISTER": "RateLimitRegister",
        "RATE_LIMIT_MISMATCH": "RateLimitMismatch",
        "SCHOOL_TIMEZONE": "SchoolTimezone",
        "METRICS_SERVICE": "AWS::StackName",
        "MAIL_CONFIGURATION_SET": "MailConfigurationSet",
        "MAIL_EVENTS_QUEUE_URL": "MailEventsQueue",
    }
    for name, target in expected_refs.items():
        if ref(environment.get(name)) != target:
            problems.append(f"{name} must be {target}")
    if str(environment.get("METRICS_INTERVAL_SECONDS")) != "60":
        problems.append("METRICS_INTERVAL_SECONDS must be 60")
    for parameter, default in RATE_LIMIT_DEFAULTS.items():
        if template["Parameters"].get(parameter, {}).get("Default") != default:
            problems.append(f"{parameter} must default to the contract's {default}")
    if template["Parameters"].get("SchoolTimezone", {}).get("Default") != "UTC":
        problems.append("SchoolTimezone must default to UTC")
    return problems


# ------------------------------------------------------------------ IAM


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in widest(role.get("Policies", []))
        for statement in as_list(widest(policy["PolicyDocument"]["Statement"]))
    ]


def mentions_wildcard(value: Any) -> bool:
    return "*" in json.dumps(value)


PARAMETER_ARN = re.compile(
    r"^arn:\$\{AWS::Partition\}:ssm:\$\{AWS::Region\}:\$\{AWS::AccountId\}"
    r":parameter\$\{(?P<parameter>[A-Za-z0-9]+)\}$"
)


def parameter_in_arn(resource: Any) -> str | None:
    """X for {"Fn::Sub": "arn:...:ssm:...:parameter${X}"} (X names /a/b), else None."""
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        match = PARAMETER_ARN.match(resource["Fn::Sub"])
        return match["parameter"] if match else None
    return None


def check_task_role(template: Template) -> list[str]:
    """The service may read its three parameters and its secret, nothing else."""
    problems: list[str] = []
    _, task = service_task(template)
    role_id = (get_att(task.get("TaskRoleArn")) or "").removesuffix(".Arn")
    roles = resources(template, "AWS::IAM::Role")
    if role_id not in roles:
        return ["the task definition must use a task role of the stack"]
    role = roles[role_id]
    if role.get("ManagedPolicyArns"):
        problems.append("the task role must not carry managed policies")
    policies = resources(template, "AWS::IAM::Policy").values()
    if any(role_id in [ref(r) for r in p.get("Roles", [])] for p in policies):
        problems.append("the task role's permissions must all be in its inline policy")
    database_id, _ = one(template, "AWS::RDS::DBInstance")
    parameters = resources(template, "AWS::SSM::Parameter")
    keys = resources(template, "AWS::KMS::Key")

    granted: dict[str, list[Any]] = {}
    for statement in statements(role):
        if statement.get("Effect") != "Allow" or {"NotAction", "NotResource"} & set(statement):
            problems.append(f"only plain Allow statements: {statement}")
            continue
        if mentions_wildcard(statement.get("Resource")) or mentions_wildcard(
            statement.get("Action")
        ):
            problems.append(f"no wildcard in an action or a resource: {statement}")
        for action in as_list(statement.get("Action")):
            granted.setdefault(action, []).append(statement)

    allowed = {"ssm:GetParameter", "ssm:GetParameters", "secretsmanager:GetSecretValue"}
    allowed |= {"kms:Decrypt", "ses:SendEmail"} | MAIL_EVENT_ACTIONS
    if set(granted) != allowed:
        problems.append(f"task role actions must be exactly {sorted(allowed)}: {sorted(granted)}")

    for action in ("ssm:GetParameter", "ssm:GetParameters"):
        for statement in granted.get(action, []):
            named = [parameter_in_arn(r) for r in as_list(statement["Resource"])]
            if sorted(map(str, named)) != sorted(parameters):
                problems.append(f"{action} must be on exactly the stack's three parameters")
    master = {"Fn::GetAtt": [database_id, "MasterUserSecret.SecretArn"]}
    for statement in granted.get("secretsmanager:GetSecretValue", []):
        if statement["Resource"] != [
            {"Ref": "AppDbSecret"},
            {"Ref": "MigrationDbSecret"},
            {"Fn::If": ["LogsInAsMaster", master, NO_VALUE]},
        ]:
            problems.append(
                "GetSecretValue must be on the app and migration secrets (master: upgrade only)"
            )
    for statement in granted.get("sqs:ReceiveMessage", []):
        if get_att(statement.get("Resource")) != "MailEventsQueue.Arn" or (
            set(as_list(statement["Action"])) != MAIL_EVENT_ACTIONS
        ):
            problems.append("the SQS actions must be on exactly the mail events queue")
    problems += check_decrypt_via_secrets_manager(granted, keys)
    return problems + check_mail_permission(role)


MAIL_EVENT_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def check_decrypt_via_secrets_manager(
    granted: dict[str, list[Any]], keys: dict[str, Any]
) -> list[str]:
    problems = []
    for statement in granted.get("kms:Decrypt", []):
        targets = [get_att(r) for r in as_list(statement["Resource"])]
        if len(targets) != 1 or (targets[0] or "").removesuffix(".Arn") not in keys:
            problems.append("kms:Decrypt must be on exactly the stack's key")
        via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
        if "secretsmanager." not in json.dumps(via):
            problems.append("kms:Decrypt must be limited to use via Secrets Manager")
    return problems


def has_mail_environment(environment: list[Any]) -> bool:
    """MAIL_BACKEND is ses with SesIdentity, else off; MAIL_FROM, SCHOOL_NAME are parameters."""
    backend = {"Fn::If": ["SendsMail", "ses", "off"]}
    named = {e["Name"]: e["Value"] for e in widest(environment)}
    return (
        named.get("MAIL_BACKEND") == backend
        and ref(named.get("MAIL_FROM")) == "MailFromAddress"
        and ref(named.get("SCHOOL_NAME")) == "SchoolName"
    )


SES_ARN = re.compile(
    r"^arn:\$\{AWS::Partition\}:ses:\$\{AWS::Region\}:\$\{AWS::AccountId\}"
    r":(identity/\$\{SesIdentity\}|configuration-set/\$\{MailConfigurationSet\})$"
)


def check_mail_permission(role: dict[str, Any]) -> list[str]:
    """ses:SendEmail only when SesIdentity is set, on it, from MailFromAddress only."""
    problems: list[str] = []
    for policy in role.get("Policies", []):
        sends = "ses:" in json.dumps(policy)
        conditional = isinstance(policy, dict) and policy.get("Fn::If", [None])[0] == "SendsMail"
        if sends and not conditional:
            problems.append("the SES permission must exist only when SesIdentity is set")
    for statement in statements(role):
        if "ses:SendEmail" not in as_list(statement.get("Action")):
            continue
        resources = [r.get("Fn::Sub") if isinstance(r, dict) else r
                     for r in as_list(widest(statement.get("Resource")))]  # fmt: skip
        if not resources or not all(isinstance(r, str) and SES_ARN.match(r) for r in resources):
            problems.append(f"ses:SendEmail must be on the SesIdentity identity only: {resources}")
        sender = statement.get("Condition", {}).get("StringEquals", {}).get("ses:FromAddress")
        if ref(sender) != "MailFromAddress":
            problems.append("ses:SendEmail must be limited to MailFromAddress (ses:FromAddress)")
    return problems


def check_execution_role(template: Template) -> list[str]:
    """ECS pulls the image and writes logs; "*" only where IAM allows nothing else."""
    _, task = service_task(template)
    role_id = (get_att(task.get("ExecutionRoleArn")) or "").removesuffix(".Arn")
    role = resources(template, "AWS::IAM::Role").get(role_id)
    if role is None:
        return ["the task definition must use an execution role of the stack"]
    problems = []
    for statement in statements(role):
        if mentions_wildcard(statement.get("Resource")) and as_list(statement["Action"]) != [
            "ecr:GetAuthorizationToken"
        ]:
            problems.append(f"only ecr:GetAuthorizationToken may have Resource *: {statement}")
    return problems


# ------------------------------------------------------------------ database, parameters, scaling


def check_database(template: Template) -> list[str]:
    problems: list[str] = []
    database_id, database = one(template, "AWS::RDS::DBInstance")
    resource = template["Resources"][database_id]
    if database.get("Engine") != "mysql":
        problems.append("the engine must be mysql")
    if not str(parameter_default(template, database.get("EngineVersion"))).startswith("8."):
        problems.append("the engine version must be MySQL 8")
    if not is_true(database.get("StorageEncrypted")):
        problems.append("storage must be encrypted")
    if database.get("PubliclyAccessible") not in (False, "false"):
        problems.append("the database must not be publicly accessible")
    if resource.get("DeletionPolicy") != "Snapshot":
        problems.append("deleting the stack must leave a final snapshot")
    # RDS-managed master password: a Secrets Manager secret {"username",
    # "password"} that RDS rotates itself.
    if not is_true(database.get("ManageMasterUserPassword")) or "MasterUserPassword" in database:
        problems.append("the password must be RDS-managed in Secrets Manager (rotated)")
    _, subnets = one(template, "AWS::RDS::DBSubnetGroup")
    if ref(subnets.get("SubnetIds")) != "PrivateSubnetIds":
        problems.append("the database must be in the private subnets")
    if "KmsKeyId" in database and ref(database["KmsKeyId"]) not in resources(
        template, "AWS::KMS::Key"
    ):
        problems.append("the database must be encrypted with the stack's key")

    problems += check_secure_transport(template, database)

    parameters = resources(template, "AWS::SSM::Parameter")
    if len(parameters) != 3 or {p.get("Type") for p in parameters.values()} != {"String"}:
        problems.append("the stack must create the three String parameters")
    values = [get_att(p.get("Value")) for p in parameters.values()]
    if f"{database_id}.Endpoint.Address" not in values:
        problems.append("the host parameter must hold the database endpoint")
    return problems


def check_secure_transport(template: Template, database: dict[str, Any]) -> list[str]:
    """The database's own parameter group, of its engine's family, refuses plain text."""
    groups = resources(template, "AWS::RDS::DBParameterGroup")
    group = groups.get(ref(database.get("DBParameterGroupName")) or "")
    if group is None:
        return ["the database must use a parameter group of the stack"]
    problems = []
    version = str(resolve(template, database.get("EngineVersion")))
    family = "mysql" + ".".join(version.split(".")[:2])
    if resolve(template, group.get("Family")) != family:
        problems.append(f"the parameter group's family must be {family}")
    if str(group.get("Parameters", {}).get("require_secure_transport")).upper() not in ("1", "ON"):
        problems.append("the database must refuse connections without TLS")
    return problems


def check_auto_scaling(template: Template) -> list[str]:
    problems: list[str] = []
    target_id, target = one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    cluster_id, _ = one(template, "AWS::ECS::Cluster")
    service_id, _ = one(template, "AWS::ECS::Service")
    if target.get("ScalableDimension") != "ecs:service:DesiredCount":
        problems.append("auto scaling must scale the service's desired count")
    if target.get("ResourceId") != {"Fn::Sub": f"service/${{{cluster_id}}}/${{{service_id}.Name}}"}:
        problems.append("the scalable target must be the service")
    policies = resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    if not any(
        p.get("PolicyType") == "TargetTrackingScaling"
        and ref(p.get("ScalingTargetId")) == target_id
        for p in policies
    ):
        problems.append("the service needs a target-tracking scaling policy")
    return problems


def check_outputs(template: Template) -> list[str]:
    outputs = template.get("Outputs", {})
    needed = {"ServiceUrl", "RepositoryUri", "ClusterName", "ServiceName", "TaskFamily"}
    needed |= {"ReleaseCommand", "DbUsersCommand", "FirstStaffKeyCommand"}
    problems = [f"missing output {name}" for name in sorted(needed - set(outputs))]
    url = json.dumps(outputs.get("ServiceUrl", {}).get("Value"))
    if "https://${" not in url or ".DNSName}" not in url:
        problems.append("ServiceUrl must be https:// on the load balancer's DNS name")
    return problems


# ------------------------------------------------------------------ alarms and dashboard

# (namespace, metric) of each alarm issue 20 asks for; the 5xx rate is metric math.
REQUIRED_ALARMS = {
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
    ("AWS/ApplicationELB", "TargetResponseTime"),
    ("AWS/ApplicationELB", "HealthyHostCount"),
    ("AWS/RDS", "CPUUtilization"),
    ("AWS/RDS", "DatabaseConnections"),
    ("AWS/RDS", "FreeStorageSpace"),
    ("SchoolApp", "OutboxOldestPendingSeconds"),
    ("SchoolApp", "EmailsFailed"),
    ("AWS/SES", "Reputation.BounceRate"),
    ("AWS/SES", "Reputation.ComplaintRate"),
}
DEPLOYMENT_ALARMS = {
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
    ("AWS/ApplicationELB", "TargetResponseTime"),
}


def alarmed_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric) an alarm watches, directly or inside its metric math."""
    found = set()
    if "MetricName" in alarm:
        found.add((alarm.get("Namespace", ""), alarm["MetricName"]))
    for query in alarm.get("Metrics", []):
        metric = query.get("MetricStat", {}).get("Metric", {})
        if metric:
            found.add((metric.get("Namespace", ""), metric.get("MetricName", "")))
    return found


def alarm_topic(template: Template) -> str | None:
    topics = resources(template, "AWS::SNS::Topic")
    return "AlarmTopic" if "AlarmTopic" in topics else None


def check_alarms(template: Template) -> list[str]:
    """Every alarm notifies the alarm topic; every alarm issue 20 asks for exists."""
    problems: list[str] = []
    topic = alarm_topic(template)
    if topic is None:
        return ["the stack needs the SNS topic AlarmTopic"]
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched: set[tuple[str, str]] = set()
    for name, alarm in alarms.items():
        watched |= alarmed_metrics(alarm)
        for actions in ("AlarmActions", "OKActions"):
            if [ref(a) for a in alarm.get(actions, [])] != [topic]:
                problems.append(f"{name}: {actions} must be exactly [{topic}]")
        own = any(namespace == "SchoolApp" for namespace, _ in alarmed_metrics(alarm))
        per_stack = [{"Name": "Service", "Value": {"Ref": "AWS::StackName"}}]
        if own and alarm.get("Dimensions") != per_stack:
            problems.append(f"{name}: a SchoolApp metric is per Service = the stack's name")
    if missing := REQUIRED_ALARMS - watched:
        problems.append(f"no alarm on {sorted(missing)}")
    subscriptions = resources(template, "AWS::SNS::Subscription").values()
    if not any(
        ref(sub.get("TopicArn")) == topic
        and sub.get("Protocol") == "email"
        and ref(sub.get("Endpoint")) == "AlarmEmail"
        for sub in subscriptions
    ):
        problems.append("the AlarmEmail parameter must subscribe to the alarm topic")
    by_metric = {m: a for a in alarms.values() for m in alarmed_metrics(a)}
    outbox = by_metric.get(("SchoolApp", "OutboxOldestPendingSeconds"), {})
    if outbox.get("Statistic") != "Maximum" or float(outbox.get("Threshold", 0)) != 900:
        problems.append("the outbox alarm must fire on a Maximum age over 900 s")
    healthy = by_metric.get(("AWS/ApplicationELB", "HealthyHostCount"), {})
    if ref(healthy.get("Threshold")) != "MinTasks" or healthy.get("ComparisonOperator") != (
        "LessThanThreshold"
    ):
        problems.append("HealthyHostCount must alarm below MinTasks")
    latency = by_metric.get(("AWS/ApplicationELB", "TargetResponseTime"), {})
    if latency.get("ExtendedStatistic") != "p99":
        problems.append("the latency alarm must watch p99")
    return problems


def check_deployment_alarms(template: Template) -> list[str]:
    """ECS rolls a deployment back when the 5xx or the latency alarm fires."""
    _, service = one(template, "AWS::ECS::Service")
    config = service.get("DeploymentConfiguration", {}).get("Alarms", {})
    if not (is_true(config.get("Enable")) and is_true(config.get("Rollback"))):
        return ["deployment alarms must be enabled with rollback"]
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    names = [ref(name) for name in config.get("AlarmNames", [])]
    problems = [
        f"deployment alarm {n} is not an alarm of the stack" for n in names if n not in alarms
    ]
    conditional = [n for n in names if "Condition" in template["Resources"].get(n or "", {})]
    if conditional:
        problems.append(f"deployment alarms must always exist: {conditional}")
    watched = {m for n in names if n in alarms for m in alarmed_metrics(alarms[n])}
    if missing := DEPLOYMENT_ALARMS - watched:
        problems.append(f"no deployment alarm on {sorted(missing)}")
    return problems


def check_dashboard(template: Template) -> list[str]:
    boards = resources(template, "AWS::CloudWatch::Dashboard")
    if len(boards) != 1:
        return ["the stack needs one dashboard"]
    body = json.dumps(next(iter(boards.values())).get("DashboardBody"))
    missing = sorted(metric for _, metric in REQUIRED_ALARMS if metric not in body)
    return [f"the dashboard lacks {missing}"] if missing else []


# ------------------------------------------------------------------ one deployer, first image


def check_first_release(template: Template) -> list[str]:
    """The service is created by the first release with MinTasks tasks, not 0."""
    problems = []
    service_id, service = one(template, "AWS::ECS::Service")
    if template["Resources"][service_id].get("Condition") != "HasImage":
        problems.append("the service must exist only once an image does (Condition HasImage)")
    if service.get("DesiredCount") != {"Fn::If": ["CreatesService", {"Ref": "MinTasks"}, NO_VALUE]}:
        problems.append(
            "the service must start with MinTasks tasks, and later updates leave the count alone"
        )
    if template["Conditions"].get("CreatesService") != {
        "Fn::Equals": [{"Ref": "FirstRelease"}, "true"]
    }:
        problems.append("CreatesService must be FirstRelease=true")
    _, target = one(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    if ref(target.get("MinCapacity")) != "MinTasks":
        problems.append("auto scaling's floor must be MinTasks")
    return problems


# ------------------------------------------------------------------ production defaults


def stack_key(value: Any) -> str | None:
    """The stack's KMS key a KmsKeyId-like value names (Ref or GetAtt .Arn)."""
    return ref(value) or (get_att(value) or "").removesuffix(".Arn") or None


def check_hardening(template: Template) -> list[str]:
    problems: list[str] = []
    keys = resources(template, "AWS::KMS::Key")
    for name, task in resources(template, "AWS::ECS::TaskDefinition").items():
        for box in task.get("ContainerDefinitions", []):
            if not is_true(box.get("ReadonlyRootFilesystem")):
                problems.append(f"{name}: the root filesystem must be read-only")
    _, task = service_task(template)
    api = task.get("ContainerDefinitions", [{}])[0]
    volumes = {v["Name"]: v for v in task.get("Volumes", [])}
    mounts = {m["ContainerPath"]: m for m in api.get("MountPoints", [])}
    tmp = mounts.get("/tmp", {})
    if set(volumes.get(tmp.get("SourceVolume", ""), {"Host": 1})) != {"Name"}:
        problems.append("/tmp must be the task's ephemeral volume")
    probe = " ".join(api.get("HealthCheck", {}).get("Command", []))
    if not probe.startswith("CMD python") or "http://127.0.0.1:3000/health'" not in probe:
        problems.append("the container needs a health check on http://127.0.0.1:3000/health")
    for name, group in resources(template, "AWS::Logs::LogGroup").items():
        if stack_key(group.get("KmsKeyId")) not in keys:
            problems.append(f"log group {name} must be encrypted with a key of the stack")
    _, repository = one(template, "AWS::ECR::Repository")
    encryption = repository.get("EncryptionConfiguration", {})
    if encryption.get("EncryptionType") != "KMS" or stack_key(encryption.get("KmsKey")) not in keys:
        problems.append("the image repository must be encrypted with a key of the stack")
    for name, topic in resources(template, "AWS::SNS::Topic").items():
        if stack_key(topic.get("KmsMasterKeyId")) not in keys:
            problems.append(f"topic {name} must be encrypted with a key of the stack")
    return problems + check_access_logs(template) + check_database_operations(template)


def check_access_logs(template: Template) -> list[str]:
    balancer_id, balancer = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in balancer.get("LoadBalancerAttributes", [])}
    bucket = ref(attributes.get("access_logs.s3.bucket"))
    if str(attributes.get("access_logs.s3.enabled")) != "true" or bucket not in resources(
        template, "AWS::S3::Bucket"
    ):
        return ["the ALB must write access logs to the stack's bucket"]
    policies = [
        p
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if ref(p["Bucket"]) == bucket
    ]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    writers = [s for s in statements if s.get("Effect") == "Allow" and "s3:PutObject" in as_list(
        s.get("Action"))]  # fmt: skip
    principal = json.dumps([s.get("Principal") for s in writers])
    if not writers or "logdelivery.elasticloadbalancing.amazonaws.com" not in principal:
        return ["the bucket policy must let the ELB log delivery write"]
    if "ElbLogAccount" not in principal or "*" in principal:
        return ["older regions deliver from the regional ELB account: the policy must name it"]
    prefix = str(attributes.get("access_logs.s3.prefix"))
    resources_ = json.dumps([s.get("Resource") for s in writers])
    if f"/{prefix}/AWSLogs/${{AWS::AccountId}}/*" not in resources_:
        return ["the ALB may write under its prefix and this account only"]
    if "DependsOn" not in template["Resources"][balancer_id]:
        return ["the ALB must wait for the bucket policy (it checks it)"]
    return []


def check_database_operations(template: Template) -> list[str]:
    problems = []
    _database_id, database = one(template, "AWS::RDS::DBInstance")
    if ref(database.get("MaxAllocatedStorage")) != "DbMaxAllocatedStorage":
        problems.append("storage must grow by itself (MaxAllocatedStorage)")
    if set(database.get("EnableCloudwatchLogsExports", [])) != {"error", "slowquery"}:
        problems.append("the error and slow-query logs must go to CloudWatch Logs")
    role = (get_att(database.get("MonitoringRoleArn")) or "").removesuffix(".Arn")
    if int(database.get("MonitoringInterval", 0)) <= 0 or role not in resources(
        template, "AWS::IAM::Role"
    ):
        problems.append("Enhanced Monitoring needs an interval and the stack's role")
    if database.get("EnablePerformanceInsights") != {
        "Fn::If": ["HasPerformanceInsights", True, False]
    }:
        problems.append("Performance Insights must be on wherever the class supports it")
    group = resources(template, "AWS::RDS::DBParameterGroup").get(
        ref(database.get("DBParameterGroupName")) or "", {}
    )
    if str(group.get("Parameters", {}).get("slow_query_log")) != "1":
        problems.append("the slow-query log must be on for its export")
    return problems


# ------------------------------------------------------------------ one-off tasks and DB users


def role_grants(template: Template, role_id: str) -> dict[str, list[Any]]:
    """Action -> resources, from the role's plain Allow statements."""
    role = resources(template, "AWS::IAM::Role").get(role_id, {})
    granted: dict[str, list[Any]] = {}
    for statement in statements(role):
        for action in as_list(statement.get("Action")):
            granted.setdefault(action, []).extend(as_list(statement.get("Resource")))
    return granted


def one_off(template: Template, name: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(container, environment, role id) of a one-off task definition."""
    task = resources(template, "AWS::ECS::TaskDefinition").get(name, {})
    box = task.get("ContainerDefinitions", [{}])[0]
    environment = {e["Name"]: e["Value"] for e in box.get("Environment", [])}
    return box, environment, (get_att(task.get("TaskRoleArn")) or "").removesuffix(".Arn")


def check_run_task_output(template: Template, output: str, task: str) -> list[str]:
    command = json.dumps(template.get("Outputs", {}).get(output, {}).get("Value"))
    needed = ["aws ecs run-task", "--launch-type FARGATE", f"--task-definition ${{{task}}}",
              "securityGroups=[${TaskSecurityGroup}]", "assignPublicIp=DISABLED"]  # fmt: skip
    missing = [part for part in needed if part not in command]
    return [f"output {output} lacks {missing}"] if missing else []


def check_db_users(template: Template) -> list[str]:
    problems: list[str] = []
    database_id, _ = one(template, "AWS::RDS::DBInstance")
    master = f"{database_id}.MasterUserSecret.SecretArn"
    box, environment, role_id = one_off(template, "DbUsersTaskDefinition")
    if box.get("Command") != ["python", "index.py", "db-users"]:
        problems.append("the db-users task runs `python index.py db-users`")
    expected = {"DB_ADMIN_SECRET_ARN": master, "DB_SECRET_ARN": "AppDbSecret",
                "DB_MIGRATION_SECRET_ARN": "MigrationDbSecret"}  # fmt: skip
    for name, target in expected.items():
        if (ref(environment.get(name)) or get_att(environment.get(name))) != target:
            problems.append(f"db-users: {name} must be {target}")
    if role_id in ("TaskRole", ""):
        problems.append("the db-users task needs its own role")
    granted = role_grants(template, role_id)
    secrets = {ref(r) or get_att(r) for r in granted.get("secretsmanager:GetSecretValue", [])}
    if secrets != {master, "AppDbSecret", "MigrationDbSecret"}:
        problems.append(f"db-users may read exactly the three secrets: {secrets}")
    if set(granted) != {"ssm:GetParameter", "ssm:GetParameters", "secretsmanager:GetSecretValue",
                        "kms:Decrypt"}:  # fmt: skip
        problems.append(f"db-users role actions: {sorted(granted)}")
    if mentions_wildcard([granted[a] for a in granted]):
        problems.append("db-users role: no wildcard")
    return problems + check_run_task_output(template, "DbUsersCommand", "DbUsersTaskDefinition")


STAFF_KEYS = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
    ":parameter/schoolapp/${AWS::StackName}/staff-keys/*"
)


def check_key_issuer(template: Template) -> list[str]:
    problems: list[str] = []
    box, environment, role_id = one_off(template, "KeyIssuerTaskDefinition")
    command = json.dumps(box.get("Command"))
    if (
        '"keys", "create"' not in command
        or "/schoolapp/${AWS::StackName}/staff-keys/" not in command
    ):
        problems.append("the key issuer runs `keys create ... --to-parameter` under staff-keys/")
    if ref(environment.get("DB_SECRET_ARN")) != "AppDbSecret":
        problems.append("the key issuer logs in as the application user")
    if role_id in ("TaskRole", ""):
        problems.append("the key issuer needs its own role")
    granted = role_grants(template, role_id)
    if set(granted) != {"ssm:GetParameter", "ssm:GetParameters", "secretsmanager:GetSecretValue",
                        "kms:Decrypt", "ssm:PutParameter"}:  # fmt: skip
        problems.append(f"key issuer role actions: {sorted(granted)}")
    if granted.get("ssm:PutParameter") != [{"Fn::Sub": STAFF_KEYS}]:
        problems.append("ssm:PutParameter only under /schoolapp/<stack>/staff-keys/")
    if [ref(r) for r in granted.get("secretsmanager:GetSecretValue", [])] != ["AppDbSecret"]:
        problems.append("the key issuer reads the application user's secret only")
    return problems + check_run_task_output(
        template, "FirstStaffKeyCommand", "KeyIssuerTaskDefinition"
    )


# ------------------------------------------------------------------ bounces and complaints, WAF


def check_mail_events(template: Template) -> list[str]:
    problems: list[str] = []
    destinations = resources(template, "AWS::SES::ConfigurationSetEventDestination").values()
    topics = [
        ref(d["EventDestination"].get("SnsDestination", {}).get("TopicARN"))
        for d in destinations
        if ref(d.get("ConfigurationSetName")) == "MailConfigurationSet"
        and {"bounce", "complaint"} <= set(d["EventDestination"].get("MatchingEventTypes", []))
        and is_true(d["EventDestination"].get("Enabled"))
    ]
    if len(topics) != 1:
        return ["the configuration set must send bounces and complaints to one SNS topic"]
    queues = resources(template, "AWS::SQS::Queue")
    subscribed = [
        (get_att(sub.get("Endpoint")) or "").removesuffix(".Arn")
        for sub in resources(template, "AWS::SNS::Subscription").values()
        if ref(sub.get("TopicArn")) == topics[0] and sub.get("Protocol") == "sqs"
    ]
    if subscribed != ["MailEventsQueue"] or "MailEventsQueue" not in queues:
        return ["MailEventsQueue must be the topic's one SQS subscriber"]
    redrive = queues["MailEventsQueue"].get("RedrivePolicy", {})
    if (get_att(redrive.get("deadLetterTargetArn")) or "").removesuffix(".Arn") not in queues:
        problems.append("the queue needs a dead-letter queue")
    policies = [
        p for p in resources(template, "AWS::SQS::QueuePolicy").values()
        if [ref(q) for q in p.get("Queues", [])] == ["MailEventsQueue"]
    ]  # fmt: skip
    sends = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    if [
        (s.get("Principal"), s.get("Action"), s.get("Condition")) for s in sends
    ] != [({"Service": "sns.amazonaws.com"}, "sqs:SendMessage",
           {"ArnEquals": {"aws:SourceArn": {"Ref": topics[0]}}})]:  # fmt: skip
        problems.append("only the mail events topic may send to the queue")
    return problems


MANAGED_GROUPS = {
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
}


def check_waf(template: Template) -> list[str]:
    problems: list[str] = []
    acl_id, acl = one(template, "AWS::WAFv2::WebACL")
    rules = acl.get("Rules", [])
    groups = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r.get("Statement", {})
    }
    if missing := MANAGED_GROUPS - groups:
        problems.append(f"the WAF lacks the managed groups {sorted(missing)}")
    rate = [r for r in rules if "RateBasedStatement" in r.get("Statement", {})]
    if len(rate) != 1:
        return [*problems, "the WAF needs one rate-based rule"]
    statement = rate[0]["Statement"]["RateBasedStatement"]
    scope = json.dumps(statement.get("ScopeDownStatement", {}))
    if '"POST"' not in scope or '"/api/register"' not in scope or "AndStatement" not in scope:
        problems.append("the rate rule must be scoped down to POST /api/register")
    if ref(statement.get("Limit")) != "WafRegisterLimit":
        problems.append("the rate rule's limit must be the WafRegisterLimit parameter")
    if rate[0].get("Action", {}).get("Fn::If", [None])[0] != "WafBlocks":
        problems.append("WafMode must decide whether the rate rule counts or blocks")
    if template["Parameters"].get("WafMode", {}).get("AllowedValues") != ["count", "block"]:
        problems.append("WafMode must be count or block")
    associations = resources(template, "AWS::WAFv2::WebACLAssociation").values()
    balancer_id, _ = one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    if not any(ref(a.get("ResourceArn")) == balancer_id for a in associations):
        problems.append("the WebACL must protect the ALB")
    logging = [
        c for c in resources(template, "AWS::WAFv2::LoggingConfiguration").values()
        if get_att(c.get("ResourceArn")) == f"{acl_id}.Arn"
    ]  # fmt: skip
    groups_named = json.dumps([c.get("LogDestinationConfigs") for c in logging])
    waf_groups = [
        name for name, g in resources(template, "AWS::Logs::LogGroup").items()
        if "aws-waf-logs-" in json.dumps(g.get("LogGroupName")) and f"${{{name}}}" in groups_named
    ]  # fmt: skip
    if len(logging) != 1 or not waf_groups:
        problems.append("the WAF must log to a log group named aws-waf-logs-...")
    elif "authorization" not in json.dumps(logging[0].get("RedactedFields")):
        problems.append("WAF logs must redact the Authorization header (staff keys)")
    return problems


CHECKS: list[Callable[[Template], list[str]]] = [
    check_security_group_chain,
    check_load_balancer,
    check_service,
    check_task_role,
    check_execution_role,
    check_database,
    check_auto_scaling,
    check_outputs,
    check_alarms,
    check_deployment_alarms,
    check_dashboard,
    check_first_release,
    check_hardening,
    check_db_users,
    check_key_issuer,
    check_mail_events,
    check_waf,
]


# ------------------------------------------------------------------ tests


def test_cfn_lint_is_clean() -> None:
    api = importlib.import_module("cfnlint.api")
    matches = api.lint_file(TEMPLATE)
    # Errors and warnings both make the cfn-lint command fail.
    assert [str(m) for m in matches if m.rule.id[0] in "EW"] == []


def test_cfn_lint_catches_a_broken_template() -> None:
    api = importlib.import_module("cfnlint.api")
    broken = TEMPLATE.read_text(encoding="utf-8").replace("Port: 3000", "Port: three-thousand")
    assert any(m.rule.id.startswith("E") for m in api.lint(broken))


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_invariant_holds(template: Template, check: Callable[[Template], list[str]]) -> None:
    assert check(template) == []


def resource(template: Template, name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][name]["Properties"]
    return properties


def container(template: Template) -> dict[str, Any]:
    _, task = service_task(template)
    first: dict[str, Any] = task["ContainerDefinitions"][0]
    return first


def task_role_statements(template: Template) -> list[dict[str, Any]]:
    return statements(resource(template, "TaskRole"))


def add_separate_rule(template: Template, group: str, **rule: Any) -> None:
    template["Resources"]["Extra"] = {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {"GroupId": {"Ref": group}, "IpProtocol": "tcp", **rule},
    }


MUTATIONS: dict[str, tuple[Callable[[Template], Any], Callable[[Template], list[str]]]] = {
    "mysql open to a CIDR": (
        lambda t: add_separate_rule(
            t, "DbSecurityGroup", FromPort=3306, ToPort=3306, CidrIp="10.0.0.0/8"
        ),
        check_security_group_chain,
    ),
    "task port open to the internet": (
        lambda t: resource(t, "TaskIngressFromAlb").update(CidrIp="0.0.0.0/0"),
        check_security_group_chain,
    ),
    "task port from the wrong group": (
        lambda t: resource(t, "TaskIngressFromAlb").update(
            SourceSecurityGroupId={"Ref": "DbSecurityGroup"}
        ),
        check_security_group_chain,
    ),
    "ssh on the ALB": (
        lambda t: resource(t, "AlbSecurityGroup")["SecurityGroupIngress"].append(
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}
        ),
        check_security_group_chain,
    ),
    "mixed inline and separate ingress": (
        lambda t: resource(t, "DbSecurityGroup").update(
            SecurityGroupIngress=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 3306,
                    "ToPort": 3306,
                    "SourceSecurityGroupId": {"Ref": "TaskSecurityGroup"},
                }
            ]
        ),
        check_security_group_chain,
    ),
    "deep health check": (
        lambda t: resource(t, "TargetGroup").update(HealthCheckPath="/health/ready"),
        check_load_balancer,
    ),
    "lenient matcher": (
        lambda t: resource(t, "TargetGroup").update(Matcher={"HttpCode": "200-399"}),
        check_load_balancer,
    ),
    "default deregistration delay": (
        lambda t: resource(t, "TargetGroup")["TargetGroupAttributes"][0].update(Value="300"),
        check_load_balancer,
    ),
    "idle timeout above keep-alive": (
        lambda t: resource(t, "LoadBalancer")["LoadBalancerAttributes"][0].update(Value="120"),
        check_load_balancer,
    ),
    "plain HTTP served": (
        lambda t: resource(t, "HttpListener").update(
            DefaultActions=[{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
        ),
        check_load_balancer,
    ),
    "stopTimeout shorter than the drain": (
        lambda t: container(t).update(StopTimeout=10),
        check_service,
    ),
    "environment variable dropped": (
        lambda t: container(t).update(
            Environment=[e for e in container(t)["Environment"] if e.get("Name") != "DB_SECRET_ARN"]
        ),
        check_service,
    ),
    "wrong container port": (
        lambda t: container(t).update(PortMappings=[{"ContainerPort": 8080}]),
        check_service,
    ),
    "wildcard resource": (
        lambda t: task_role_statements(t)[1].update(Resource="*"),
        check_task_role,
    ),
    "all parameters under a path": (
        lambda t: task_role_statements(t)[0].update(
            Resource={"Fn::Sub": "arn:aws:ssm:us-east-1:1:parameter/schoolapp/*"}
        ),
        check_task_role,
    ),
    "extra action": (
        lambda t: task_role_statements(t)[0]["Action"].append("ssm:GetParametersByPath"),
        check_task_role,
    ),
    "unconditioned decrypt": (
        lambda t: task_role_statements(t)[2].pop("Condition"),
        check_task_role,
    ),
    "email from any identity": (
        lambda t: task_role_statements(t)[3].update(
            Resource={"Fn::Sub": "arn:aws:ses:us-east-1:1:identity/*"}
        ),
        check_task_role,
    ),
    "email from any address": (
        lambda t: task_role_statements(t)[3].pop("Condition"),
        check_task_role,
    ),
    "email allowed with mail off": (
        lambda t: resource(t, "TaskRole")["Policies"].append(
            resource(t, "TaskRole")["Policies"].pop()["Fn::If"][1]
        ),
        check_task_role,
    ),
    "email backend always ses": (
        lambda t: next(
            e for e in container(t)["Environment"] if e.get("Name") == "MAIL_BACKEND"
        ).update(Value="ses"),
        check_service,
    ),
    "managed policy on the task role": (
        lambda t: resource(t, "TaskRole").update(
            ManagedPolicyArns=["arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess"]
        ),
        check_task_role,
    ),
    "wildcard in the execution role": (
        lambda t: statements(resource(t, "ExecutionRole"))[1].update(Resource="*"),
        check_execution_role,
    ),
    "unencrypted database": (
        lambda t: resource(t, "Database").update(StorageEncrypted=False),
        check_database,
    ),
    "public database": (
        lambda t: resource(t, "Database").update(PubliclyAccessible=True),
        check_database,
    ),
    "password in the template": (
        lambda t: resource(t, "Database").update(
            ManageMasterUserPassword=False, MasterUserPassword="hunter22"
        ),
        check_database,
    ),
    "plain-text connections allowed": (
        lambda t: resource(t, "DbParameterGroup")["Parameters"].update(
            require_secure_transport="0"
        ),
        check_database,
    ),
    "default parameter group": (
        lambda t: resource(t, "Database").pop("DBParameterGroupName"),
        check_database,
    ),
    "parameter group of another engine version": (
        lambda t: resource(t, "DbParameterGroup").update(Family="mysql8.0"),
        check_database,
    ),
    "TLS without verification": (
        lambda t: next(e for e in container(t)["Environment"] if e["Name"] == "DB_SSL_MODE").update(
            Value="required"
        ),
        check_service,
    ),
    "MySQL 5.7": (
        lambda t: t["Parameters"]["DbEngineVersion"].update(Default="5.7.44"),
        check_database,
    ),
    "an alarm that notifies nobody": (
        lambda t: resource(t, "DbCpuAlarm").pop("AlarmActions"),
        check_alarms,
    ),
    "an alarm to another topic": (
        lambda t: resource(t, "SesBounceRateAlarm").update(AlarmActions=["arn:aws:sns:x:1:other"]),
        check_alarms,
    ),
    "no alarm on the outbox": (
        lambda t: t["Resources"].pop("OutboxAgeAlarm"),
        check_alarms,
    ),
    "outbox alarm on another service's metrics": (
        lambda t: resource(t, "OutboxAgeAlarm").update(
            Dimensions=[{"Name": "Service", "Value": "schoolapp"}]
        ),
        check_alarms,
    ),
    "latency alarm on the average": (
        lambda t: resource(t, "LatencyP99Alarm").update(ExtendedStatistic="p50"),
        check_alarms,
    ),
    "nobody subscribed": (
        lambda t: t["Resources"].pop("AlarmEmailSubscription"),
        check_alarms,
    ),
    "deployment alarm removed": (
        lambda t: resource(t, "Service")["DeploymentConfiguration"]["Alarms"]["AlarmNames"].pop(),
        check_deployment_alarms,
    ),
    "deployment alarms without rollback": (
        lambda t: resource(t, "Service")["DeploymentConfiguration"]["Alarms"].update(
            Rollback=False
        ),
        check_deployment_alarms,
    ),
    "deployment alarm that does not exist": (
        lambda t: t["Resources"].pop("Alb5xxAlarm"),
        check_deployment_alarms,
    ),
    "dashboard without the outbox": (
        lambda t: resource(t, "Dashboard").update(
            DashboardBody=json.dumps(resource(t, "Dashboard")["DashboardBody"]).replace(
                "OutboxOldestPendingSeconds", "x"
            )
        ),
        check_dashboard,
    ),
    "first image started by auto scaling": (
        lambda t: resource(t, "Service").update(DesiredCount=0),
        check_first_release,
    ),
    "every update resets the count": (
        lambda t: resource(t, "Service").update(DesiredCount={"Ref": "MinTasks"}),
        check_first_release,
    ),
    "service without an image": (
        lambda t: t["Resources"]["Service"].pop("Condition"),
        check_first_release,
    ),
    "writable root filesystem": (
        lambda t: container(t).update(ReadonlyRootFilesystem=False),
        check_hardening,
    ),
    "one-off task with a writable root": (
        lambda t: resource(t, "KeyIssuerTaskDefinition")["ContainerDefinitions"][0].pop(
            "ReadonlyRootFilesystem"
        ),
        check_hardening,
    ),
    "/tmp on the host": (
        lambda t: resource(t, "TaskDefinition")["Volumes"][0].update(Host={"SourcePath": "/x"}),
        check_hardening,
    ),
    "no container health check": (
        lambda t: container(t).pop("HealthCheck"),
        check_hardening,
    ),
    "no access logs": (
        lambda t: resource(t, "LoadBalancer")["LoadBalancerAttributes"][2].update(Value="false"),
        check_hardening,
    ),
    "access logs writable by anyone": (
        lambda t: resource(t, "AccessLogBucketPolicy")["PolicyDocument"]["Statement"][0].update(
            Principal="*"
        ),
        check_hardening,
    ),
    "log group without a key": (
        lambda t: resource(t, "LogGroup").pop("KmsKeyId"),
        check_hardening,
    ),
    "images with AWS's key": (
        lambda t: resource(t, "Repository").update(
            EncryptionConfiguration={"EncryptionType": "AES256"}
        ),
        check_hardening,
    ),
    "fixed storage": (
        lambda t: resource(t, "Database").pop("MaxAllocatedStorage"),
        check_hardening,
    ),
    "no slow-query export": (
        lambda t: resource(t, "Database").update(EnableCloudwatchLogsExports=["error"]),
        check_hardening,
    ),
    "no enhanced monitoring": (
        lambda t: resource(t, "Database").update(MonitoringInterval=0),
        check_hardening,
    ),
    "service logs in as master": (
        lambda t: next(
            e for e in container(t)["Environment"] if e.get("Name") == "DB_SECRET_ARN"
        ).update(Value={"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}),
        check_service,
    ),
    "service reads the master secret always": (
        lambda t: task_role_statements(t)[1].update(
            Resource=[
                {"Ref": "AppDbSecret"},
                {"Ref": "MigrationDbSecret"},
                {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]},
            ]
        ),
        check_task_role,
    ),
    "db-users on the service's role": (
        lambda t: resource(t, "DbUsersTaskDefinition").update(
            TaskRoleArn={"Fn::GetAtt": ["TaskRole", "Arn"]}
        ),
        check_db_users,
    ),
    "db-users writes parameters": (
        lambda t: statements(resource(t, "DbUsersTaskRole"))[0]["Action"].append(
            "ssm:PutParameter"
        ),
        check_db_users,
    ),
    "no db-users command": (
        lambda t: t["Outputs"].pop("DbUsersCommand"),
        check_db_users,
    ),
    "key issuer writes any parameter": (
        lambda t: statements(resource(t, "KeyIssuerTaskRole"))[-1].update(
            Resource={
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/*"
            }
        ),
        check_key_issuer,
    ),
    "key issuer reads the master secret": (
        lambda t: statements(resource(t, "KeyIssuerTaskRole"))[1].update(
            Resource={"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
        ),
        check_key_issuer,
    ),
    "key issuer task in the public": (
        lambda t: t["Outputs"]["FirstStaffKeyCommand"].update(Value="aws ecs run-task"),
        check_key_issuer,
    ),
    "bounces not published": (
        lambda t: resource(t, "MailEventDestination")["EventDestination"].update(
            MatchingEventTypes=["delivery"]
        ),
        check_mail_events,
    ),
    "queue open to any topic": (
        lambda t: resource(t, "MailEventsQueuePolicy")["PolicyDocument"]["Statement"][0].pop(
            "Condition"
        ),
        check_mail_events,
    ),
    "no dead-letter queue": (
        lambda t: resource(t, "MailEventsQueue").pop("RedrivePolicy"),
        check_mail_events,
    ),
    "queue URL not given to the service": (
        lambda t: container(t).update(
            Environment=[
                e
                for e in container(t)["Environment"]
                if "MAIL_EVENTS_QUEUE_URL" not in json.dumps(e)
            ]
        ),
        check_service,
    ),
    "proxies trusted from anywhere": (
        lambda t: next(
            e for e in container(t)["Environment"] if e.get("Name") == "TRUSTED_PROXIES"
        ).update(Value="0.0.0.0/0"),
        check_service,
    ),
    "no IP reputation group": (
        lambda t: resource(t, "WebAcl")["Rules"].pop(2),
        check_waf,
    ),
    "rate rule on every path": (
        lambda t: resource(t, "WebAcl")["Rules"][3]["Statement"]["RateBasedStatement"].pop(
            "ScopeDownStatement"
        ),
        check_waf,
    ),
    "rate rule always blocks": (
        lambda t: resource(t, "WebAcl")["Rules"][3].update(Action={"Block": {}}),
        check_waf,
    ),
    "staff keys in the WAF logs": (
        lambda t: resource(t, "WafLogging").pop("RedactedFields"),
        check_waf,
    ),
    "WAF not on the ALB": (
        lambda t: t["Resources"].pop("WebAclAssociation"),
        check_waf,
    ),
    "no target tracking": (
        lambda t: resource(t, "CpuScalingPolicy").update(PolicyType="StepScaling"),
        check_auto_scaling,
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_careless_edit_is_caught(template: Template, mutation: str) -> None:
    mutate, check = MUTATIONS[mutation]
    assert check(template) == []
    mutate(template)
    assert check(template) != []
