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
    "DB_SSL_MODE",
    "AWS_REGION",
    "CORS_ORIGINS",
}
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
    task_definition_id, task = one(template, "AWS::ECS::TaskDefinition")
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
    if get_att(environment.get("DB_SECRET_ARN")) != f"{database_id}.MasterUserSecret.SecretArn":
        problems.append("DB_SECRET_ARN must be the database's managed secret")
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
    _, task = one(template, "AWS::ECS::TaskDefinition")
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
    allowed |= {"kms:Decrypt", "ses:SendEmail"}
    if set(granted) != allowed:
        problems.append(f"task role actions must be exactly {sorted(allowed)}: {sorted(granted)}")

    for action in ("ssm:GetParameter", "ssm:GetParameters"):
        for statement in granted.get(action, []):
            named = [parameter_in_arn(r) for r in as_list(statement["Resource"])]
            if sorted(map(str, named)) != sorted(parameters):
                problems.append(f"{action} must be on exactly the stack's three parameters")
    for statement in granted.get("secretsmanager:GetSecretValue", []):
        if [get_att(r) for r in as_list(statement["Resource"])] != [
            f"{database_id}.MasterUserSecret.SecretArn"
        ]:
            problems.append("GetSecretValue must be on exactly the database secret")
    for statement in granted.get("kms:Decrypt", []):
        targets = [get_att(r) for r in as_list(statement["Resource"])]
        if len(targets) != 1 or (targets[0] or "").removesuffix(".Arn") not in keys:
            problems.append("kms:Decrypt must be on exactly the stack's key")
        via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
        if "secretsmanager." not in json.dumps(via):
            problems.append("kms:Decrypt must be limited to use via Secrets Manager")
    return problems + check_mail_permission(role)


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
    _, task = one(template, "AWS::ECS::TaskDefinition")
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
    problems = [f"missing output {name}" for name in sorted(needed - set(outputs))]
    url = json.dumps(outputs.get("ServiceUrl", {}).get("Value"))
    if "https://${" not in url or ".DNSName}" not in url:
        problems.append("ServiceUrl must be https:// on the load balancer's DNS name")
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
    _, task = one(template, "AWS::ECS::TaskDefinition")
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
