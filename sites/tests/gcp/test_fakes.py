"""The fakes driven through the real Google SDKs: what they accept, what they refuse, and how their
long-running operations are polled. The helpers at the top are the client constructions that work
against an http:// endpoint with anonymous credentials; the runtime can copy them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import google_crc32c
import httplib2  # no stubs installed
import pytest
import requests
from google.api_core import exceptions
from google.api_core import operation as lro
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2, secretmanager_v1
from google.cloud.storage import Client as StorageClient
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.longrunning import operations_pb2  # type: ignore[import-untyped]  # no stubs installed
from google.oauth2.credentials import Credentials
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from sites.tests.gcp.fakes import FakeCloudRun, FakeCloudSql, FakeIam, FakeSecretManager, StorageEmulator

PROJECT = "aipress-test"
REGION = "europe-west1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
AUTOMATIC = secretmanager_v1.Replication(automatic=secretmanager_v1.Replication.Automatic())

# Client constructions (what the runtime does, pointed at a fake)


def run_client(endpoint: str) -> run_v2.ServicesClient:
    # An api_endpoint with a scheme is used as is by the REST transport (url_scheme only applies to a bare host).
    return run_v2.ServicesClient(
        transport="rest", client_options=ClientOptions(api_endpoint=endpoint), credentials=AnonymousCredentials()
    )


def secrets_client(endpoint: str) -> secretmanager_v1.SecretManagerServiceClient:
    return secretmanager_v1.SecretManagerServiceClient(
        transport="rest", client_options=ClientOptions(api_endpoint=endpoint), credentials=AnonymousCredentials()
    )


def sqladmin_client(endpoint: str) -> Any:
    # With an explicit `http`, build() skips credentials entirely (no Authorization header, no ADC lookup);
    # api_endpoint replaces rootUrl, and the paths are v1/projects/... relative to it.
    return discovery.build(
        "sqladmin", "v1", http=httplib2.Http(), static_discovery=True, client_options={"api_endpoint": endpoint}
    )


def iam_client(endpoint: str) -> Any:
    return discovery.build(
        "iam", "v1", http=httplib2.Http(), static_discovery=True, client_options={"api_endpoint": endpoint}
    )


def poll_run_operation(endpoint: str, name: str) -> lro.Operation:
    """Poll a Cloud Run operation by its name alone, from a new client (as the worker does later, in
    another process). Each .done() is one GET of the operation."""
    client = run_client(endpoint)
    latest = client.get_operation(operations_pb2.GetOperationRequest(name=name))
    return lro.from_gapic(latest, client.transport.operations_client, run_v2.Service, metadata_type=run_v2.Service)


# Fixtures


@pytest.fixture
def secret_manager() -> Iterator[FakeSecretManager]:
    with FakeSecretManager() as fake:
        yield fake
    assert fake.crashes == []


@pytest.fixture
def cloud_run() -> Iterator[FakeCloudRun]:
    with FakeCloudRun() as fake:
        yield fake
    assert fake.crashes == []


@pytest.fixture
def cloud_sql() -> Iterator[FakeCloudSql]:
    with FakeCloudSql(instances={PROJECT: ["shared-sql"]}) as fake:
        yield fake
    assert fake.crashes == []


@pytest.fixture
def iam() -> Iterator[FakeIam]:
    with FakeIam() as fake:
        yield fake
    assert fake.crashes == []


def wordpress_service(
    site_id: int = 12, *, title: str = "Crumbs", labels: dict[str, str] | None = None, db_ref: str = "db-12"
) -> run_v2.Service:
    env = [
        run_v2.EnvVar(name="WP_TITLE", value=title),
        run_v2.EnvVar(name="WP_HOME", value=f"https://blog{site_id}.example.test"),
        run_v2.EnvVar(
            name="DB_PASSWORD",
            value_source=run_v2.EnvVarSource(secret_key_ref=run_v2.SecretKeySelector(secret=db_ref, version="latest")),
        ),
    ]
    return run_v2.Service(
        labels={"aipress-tenant-id": "7"},
        ingress=run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL,
        template=run_v2.RevisionTemplate(
            labels={"aipress-tenant-id": "7", "aipress-site-id": str(site_id)} if labels is None else labels,
            service_account=f"site-{site_id}@{PROJECT}.iam.gserviceaccount.com",
            scaling=run_v2.RevisionScaling(min_instance_count=0, max_instance_count=2),
            volumes=[
                run_v2.Volume(
                    name="cloudsql",
                    cloud_sql_instance=run_v2.CloudSqlInstance(instances=[f"{PROJECT}:{REGION}:shared-sql"]),
                ),
                run_v2.Volume(name="uploads", gcs=run_v2.GCSVolumeSource(bucket=f"aipress-site-{site_id}")),
            ],
            containers=[
                run_v2.Container(
                    image=f"{REGION}-docker.pkg.dev/{PROJECT}/wp/wordpress:6",
                    env=env,
                    ports=[run_v2.ContainerPort(container_port=8080)],
                    volume_mounts=[
                        run_v2.VolumeMount(name="cloudsql", mount_path="/cloudsql"),
                        run_v2.VolumeMount(name="uploads", mount_path="/var/www/html/wp-content/uploads"),
                    ],
                )
            ],
        ),
    )


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL of the fake
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def deploy(client: run_v2.ServicesClient, service: run_v2.Service, service_id: str) -> run_v2.Service:
    operation = client.create_service(parent=PARENT, service=service, service_id=service_id)
    while not operation.done():
        pass
    return operation.result()


def make_public(client: run_v2.ServicesClient, name: str) -> None:
    policy = policy_pb2.Policy(bindings=[policy_pb2.Binding(role="roles/run.invoker", members=["allUsers"])])
    client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=name, policy=policy))


# Cloud Run


def test_cloud_run_create_is_a_long_running_operation_polled_by_name(cloud_run: FakeCloudRun) -> None:
    cloud_run.polls_before_done = 2  # reading the service below is the fake's clock ticking once
    client = run_client(cloud_run.endpoint)
    operation = client.create_service(parent=PARENT, service=wordpress_service(), service_id="blog-12")
    name = operation.operation.name
    assert name.startswith(f"{PARENT}/operations/")
    assert operation.metadata.name == f"{PARENT}/services/blog-12"

    # Not Ready until the operation has reported done.
    pending = client.get_service(name=f"{PARENT}/services/blog-12")
    assert pending.reconciling
    assert pending.terminal_condition.state == run_v2.Condition.State.CONDITION_RECONCILING
    assert not pending.uri

    # Later, elsewhere: only the name is known.
    polled = poll_run_operation(cloud_run.endpoint, name)
    assert not polled.operation.done  # what the first GET said
    assert polled.done()  # a second GET
    service = polled.result()
    assert service.uri == f"{cloud_run.endpoint}/run/blog-12"
    assert service.latest_ready_revision == service.latest_created_revision
    assert service.latest_ready_revision.startswith(f"{PARENT}/services/blog-12/revisions/blog-12-00001-")

    # The raw mixin call parses the same JSON strictly (unknown fields would fail here).
    raw = run_client(cloud_run.endpoint).get_operation(operations_pb2.GetOperationRequest(name=name))
    assert raw.done
    assert raw.response.type_url == "type.googleapis.com/google.cloud.run.v2.Service"

    ready = client.get_service(name=f"{PARENT}/services/blog-12")
    assert ready.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert not ready.reconciling
    assert ready.template.labels["aipress-site-id"] == "12"
    assert ready.template.containers[0].env[2].value_source.secret_key_ref.secret == "db-12"
    assert ready.ingress == run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL
    # The GAPIC REST transport asks for numeric enums, and gets them.
    assert cloud_run.requests[0].query["$alt"] == ["json;enum-encoding=int"]


def test_cloud_run_polls_before_done_and_operation_waiting(cloud_run: FakeCloudRun) -> None:
    cloud_run.polls_before_done = 3
    client = run_client(cloud_run.endpoint)
    operation = client.create_service(parent=PARENT, service=wordpress_service(), service_id="blog-12")
    assert [operation.done() for _ in range(4)] == [False, False, False, True]
    assert operation.result().uri
    with pytest.raises(exceptions.NotFound):
        client.get_operation(operations_pb2.GetOperationRequest(name=f"{PARENT}/operations/nope"))


def test_cloud_run_get_list_update_delete(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    first = deploy(client, wordpress_service(12), "blog-12")
    deploy(client, wordpress_service(13), "blog-13")
    assert [s.name.rsplit("/", 1)[-1] for s in client.list_services(parent=PARENT)] == ["blog-12", "blog-13"]
    pages = client.list_services(request=run_v2.ListServicesRequest(parent=PARENT, page_size=1)).pages
    assert [len(page.services) for page in pages] == [1, 1]

    changed = client.get_service(name=first.name)
    changed.template.containers[0].env[0].value = "Crumbs and more"
    operation = client.update_service(service=changed)
    assert not operation.done()
    assert operation.done()
    updated = operation.result()
    assert updated.generation == 2
    assert updated.latest_ready_revision != first.latest_ready_revision
    assert "-00002-" in updated.latest_ready_revision

    deletion = client.delete_service(name=first.name)
    assert not deletion.done()
    assert deletion.done()
    with pytest.raises(exceptions.NotFound) as missing:
        client.get_service(name=first.name)
    assert "does not exist" in missing.value.message
    with pytest.raises(exceptions.NotFound):
        client.delete_service(name=first.name)
    with pytest.raises(exceptions.NotFound):
        client.update_service(service=changed)


def test_cloud_run_update_allow_missing_creates(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    service = wordpress_service()
    service.name = f"{PARENT}/services/blog-12"
    operation = client.update_service(request=run_v2.UpdateServiceRequest(service=service, allow_missing=True))
    operation.done()
    assert operation.done()
    assert client.get_service(name=service.name).uri


def test_cloud_run_duplicate_is_conflict(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    deploy(client, wordpress_service(), "blog-12")
    # Over REST, api_core raises by HTTP status: Conflict (409), not its gRPC subclass AlreadyExists.
    with pytest.raises(exceptions.Conflict) as duplicate:
        client.create_service(parent=PARENT, service=wordpress_service(), service_id="blog-12")
    assert duplicate.value.response.json()["error"]["status"] == "ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("service_id", "change", "field"),
    [
        ("Blog-12", None, "service_id"),
        ("blog-12-", None, "service_id"),
        ("b" * 50, None, "service_id"),
        ("12-blog", None, "service_id"),
        ("blog-12", "no-site-label", "service.template.labels"),
        ("blog-12", "bad-label-value", "service.template.labels[aipress-site-id]"),
        ("blog-12", "bad-service-label", "service.labels[Tenant]"),
        ("blog-12", "no-image", "service.template.containers[0].image"),
        ("blog-12", "bad-enum", "service.ingress"),
        ("blog-12", "bad-scaling", "service.template.scaling.max_instance_count"),
        ("blog-12", "negative-scaling", "service.template.scaling.min_instance_count"),
        ("blog-12", "bad-cloudsql", "service.template.volumes[0].cloud_sql_instance.instances"),
        ("blog-12", "bad-bucket", "service.template.volumes[1].gcs.bucket"),
        ("blog-12", "undeclared-mount", "service.template.containers[0].volume_mounts[1].name"),
        ("blog-12", "reserved-env", "service.template.containers[0].env[0].name"),
        ("blog-12", "bad-secret", "service.template.containers[0].env[2].value_source.secret_key_ref.secret"),
        ("blog-12", "service-scaling", "service.scaling.max_instance_count"),
    ],
)
def test_cloud_run_refuses_malformed_services(  # noqa: PLR0912 - one case per malformation
    cloud_run: FakeCloudRun, service_id: str, change: str | None, field: str
) -> None:
    service = wordpress_service()
    template = service.template
    match change:
        case "no-site-label":
            service.template.labels = {"aipress-tenant-id": "7"}
        case "bad-label-value":
            template.labels["aipress-site-id"] = "Site 12"
        case "bad-service-label":
            service.labels = {"Tenant": "7"}
        case "no-image":
            template.containers[0].image = ""
        case "bad-enum":
            service.ingress = 42  # type: ignore[assignment]  # a number outside the enum, as a buggy caller would send
        case "bad-scaling":
            template.scaling = run_v2.RevisionScaling(min_instance_count=3, max_instance_count=2)
        case "negative-scaling":
            template.scaling = run_v2.RevisionScaling(min_instance_count=-1)
        case "bad-cloudsql":
            template.volumes[0].cloud_sql_instance.instances = ["shared-sql"]
        case "bad-bucket":
            template.volumes[1].gcs.bucket = "Bad_Bucket!"
        case "undeclared-mount":
            template.containers[0].volume_mounts[1].name = "nope"
        case "reserved-env":
            template.containers[0].env[0].name = "PORT"
        case "bad-secret":
            template.containers[0].env[2].value_source.secret_key_ref.secret = "projects/x/db 12"
        case "service-scaling":
            service.scaling = run_v2.ServiceScaling(min_instance_count=5, max_instance_count=1)
    client = run_client(cloud_run.endpoint)
    with pytest.raises(exceptions.BadRequest) as refused:
        client.create_service(parent=PARENT, service=service, service_id=service_id)
    violations = [v for d in refused.value.details if isinstance(d, dict) for v in d.get("fieldViolations", [])]
    assert violations[0]["field"] == field, refused.value.message
    assert refused.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert cloud_run.services == {}


def test_cloud_run_refuses_an_update_that_drops_the_labels(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    service = deploy(client, wordpress_service(), "blog-12")
    del service.template.labels["aipress-tenant-id"]
    with pytest.raises(exceptions.BadRequest, match="aipress-tenant-id"):
        client.update_service(service=service)
    assert "aipress-tenant-id" in client.get_service(name=service.name).template.labels


def test_cloud_run_injected_errors_surface_as_sdk_exceptions(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    cloud_run.fail_next(
        "POST", r"/services$", 429, "Quota exceeded for quota metric 'Write requests'.", reason="RATE_LIMIT_EXCEEDED"
    )
    with pytest.raises(exceptions.TooManyRequests) as quota:
        client.create_service(parent=PARENT, service=wordpress_service(), service_id="blog-12")
    assert quota.value.reason == "RATE_LIMIT_EXCEEDED"
    assert quota.value.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    cloud_run.fail_next("POST", r"/services$", 403, "Permission 'run.services.create' denied.", times=2)
    for _ in range(2):
        with pytest.raises(exceptions.Forbidden):
            client.create_service(parent=PARENT, service=wordpress_service(), service_id="blog-12")
    deploy(client, wordpress_service(), "blog-12")  # the injection is used up

    cloud_run.fail_next("GET", r"/services/blog-12$", 409, "Conflict")
    with pytest.raises(exceptions.Conflict):
        client.get_service(name=f"{PARENT}/services/blog-12")

    cloud_run.fail_next_operation("Revision 'blog-12-00002-abc' is not ready and cannot serve traffic.")
    service = client.get_service(name=f"{PARENT}/services/blog-12")
    operation = client.update_service(service=service)
    operation.done()
    with pytest.raises(exceptions.FailedPrecondition, match="not ready"):
        operation.result()
    failed = client.get_service(name=f"{PARENT}/services/blog-12")
    assert failed.terminal_condition.state == run_v2.Condition.State.CONDITION_FAILED


def test_cloud_run_iam_policy(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    name = deploy(client, wordpress_service(), "blog-12").name
    policy = client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=name))
    assert list(policy.bindings) == []
    make_public(client, name)
    policy = client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=name))
    assert [(b.role, list(b.members)) for b in policy.bindings] == [("roles/run.invoker", ["allUsers"])]

    # A stale etag is a concurrent change.
    stale = policy_pb2.Policy(bindings=policy.bindings, etag=b"stale")
    with pytest.raises(exceptions.Conflict):
        client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=name, policy=stale))
    for role, member in [
        ("roles/secretmanager.secretAccessor", "allUsers"),
        ("run.invoker", "allUsers"),
        ("roles/run.invoker", "everyone"),
        ("roles/run.invoker", "serviceAccount:not-an-email"),
    ]:
        bad = policy_pb2.Policy(bindings=[policy_pb2.Binding(role=role, members=[member])])
        with pytest.raises(exceptions.BadRequest):
            client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=name, policy=bad))
    with pytest.raises(exceptions.NotFound):
        client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=f"{PARENT}/services/nope"))


def test_cloud_run_serves_the_wordpress_container(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    operation = client.create_service(
        parent=PARENT, service=wordpress_service(title="Crumbs & Co"), service_id="blog-12"
    )
    uri = f"{cloud_run.endpoint}/run/blog-12"
    assert http_get(uri + "/")[0] == 404  # no ready revision yet
    while not operation.done():
        pass
    assert operation.result().uri == uri
    assert http_get(uri + "/")[0] == 403  # not public yet
    make_public(client, operation.result().name)

    status, content_type, body = http_get(uri + "/")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert "wp-content" in body
    assert "<title>Crumbs &amp; Co</title>" in body
    status, content_type, body = http_get(uri + "/wp-json/")
    assert (status, content_type.split(";")[0]) == (200, "application/json")
    assert json.loads(body) == {"name": "Crumbs & Co", "url": "https://blog12.example.test"}
    assert http_get(uri + "/wp-admin/nothing")[0] == 404
    assert http_get(f"{cloud_run.endpoint}/run/blog-99/")[0] == 404

    # An update keeps serving the previous revision until the new one is ready.
    service = client.get_service(name=f"{PARENT}/services/blog-12")
    service.template.containers[0].env[0].value = "Renamed"
    update = client.update_service(service=service)
    assert json.loads(http_get(uri + "/wp-json/")[2])["name"] == "Crumbs & Co"
    while not update.done():
        pass
    assert json.loads(http_get(uri + "/wp-json/")[2])["name"] == "Renamed"

    # Internal ingress: the public URL is refused.
    service = client.get_service(name=f"{PARENT}/services/blog-12")
    service.ingress = run_v2.IngressTraffic.INGRESS_TRAFFIC_INTERNAL_ONLY  # type: ignore[assignment]  # proto-plus enum fields are typed as the enum class, members as int
    update = client.update_service(service=service)
    while not update.done():
        pass
    assert http_get(uri + "/")[0] == 403


def test_cloud_run_container_without_configuration_answers_503(cloud_run: FakeCloudRun) -> None:
    client = run_client(cloud_run.endpoint)
    service = wordpress_service()
    del service.template.containers[0].env[2]  # no DB_PASSWORD secret
    name = deploy(client, service, "blog-12").name
    make_public(client, name)
    status, _, body = http_get(f"{cloud_run.endpoint}/run/blog-12/")
    assert (status, body) == (503, "This site is not configured")


def test_cloud_run_checks_secret_access_when_linked(secret_manager: FakeSecretManager) -> None:
    with FakeCloudRun(secret_manager=secret_manager) as cloud_run:
        client = run_client(cloud_run.endpoint)
        with pytest.raises(exceptions.FailedPrecondition, match="was not found"):
            deploy(client, wordpress_service(), "blog-12")

        secrets = secrets_client(secret_manager.endpoint)
        secret = secrets.create_secret(
            parent=f"projects/{PROJECT}",
            secret_id="db-12",
            secret=secretmanager_v1.Secret(replication=AUTOMATIC),
        )
        secrets.add_secret_version(parent=secret.name, payload=secretmanager_v1.SecretPayload(data=b"s3cret"))
        service = client.get_service(name=f"{PARENT}/services/blog-12")
        with pytest.raises(exceptions.FailedPrecondition, match="Permission denied on secret"):
            operation = client.update_service(service=service)
            while not operation.done():
                pass
            operation.result()

        accessor = f"serviceAccount:site-12@{PROJECT}.iam.gserviceaccount.com"
        policy = policy_pb2.Policy(
            bindings=[policy_pb2.Binding(role="roles/secretmanager.secretAccessor", members=[accessor])]
        )
        secrets.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=secret.name, policy=policy))
        operation = client.update_service(service=client.get_service(name=f"{PARENT}/services/blog-12"))
        while not operation.done():
            pass
        assert operation.result().terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED


def test_authorization_header_must_be_a_bearer_token(cloud_run: FakeCloudRun) -> None:
    with_token = run_v2.ServicesClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=cloud_run.endpoint),
        credentials=Credentials(token="ya29.fake-token"),
    )
    with pytest.raises(exceptions.NotFound):
        with_token.get_service(name=f"{PARENT}/services/nope")
    assert cloud_run.requests[-1].headers["authorization"] == "Bearer ya29.fake-token"

    url = f"{cloud_run.endpoint}/v2/{PARENT}/services"
    request = urllib.request.Request(url, headers={"Authorization": "Basic eA=="})  # noqa: S310 - loopback
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback URL of the fake
    error = json.loads(refused.value.read())["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")

    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(f"{cloud_run.endpoint}/v2/nothing/here", timeout=5)  # noqa: S310
    assert json.loads(unknown.value.read())["error"]["status"] == "NOT_FOUND"


def test_bodies_no_sdk_would_send_are_refused_too(cloud_run: FakeCloudRun) -> None:
    """Hand-written JSON (or a newer/older client) gets Google's parse errors, naming the field."""
    template = {"labels": {"aipress-tenant-id": "7", "aipress-site-id": "1"}, "containers": [{"image": "x"}]}
    both = {"name": "A", "value": "1", "valueSource": {"secretKeyRef": {"secret": "s"}}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"template": template, "bogus": 1}, "Unknown name \"bogus\" at 'service'"),
        ({"template": {**template, "containers": [{"image": "x", "env": [both]}]}}, "Multiple values for oneof"),
        (
            {"template": {**template, "scaling": {"minInstanceCount": "many"}}},
            "service.template.scaling.minInstanceCount",
        ),
        ({"template": template, "ingress": "INGRESS_SOMETIMES"}, "service.ingress"),
        ({"template": template, "labels": {"a": 1}}, "service.labels[a]"),
    ]
    url = f"{cloud_run.endpoint}/v2/{PARENT}/services?serviceId=blog-1"
    for body, message in cases:
        response = requests.post(url, json=body, timeout=5)
        error = response.json()["error"]
        assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
        assert message in error["message"]
    assert cloud_run.services == {}


# Secret Manager


def test_secret_manager_secrets_and_versions(secret_manager: FakeSecretManager) -> None:
    client = secrets_client(secret_manager.endpoint)
    parent = f"projects/{PROJECT}"
    labels = {"aipress-tenant-id": "7", "aipress-site-id": "12"}
    secret = client.create_secret(
        parent=parent, secret_id="db-12", secret=secretmanager_v1.Secret(replication=AUTOMATIC, labels=labels)
    )
    assert secret.name == f"{parent}/secrets/db-12"
    assert client.get_secret(name=secret.name).labels["aipress-site-id"] == "12"
    client.create_secret(
        parent=parent,
        secret_id="db-13",
        secret=secretmanager_v1.Secret(
            replication=secretmanager_v1.Replication(
                user_managed=secretmanager_v1.Replication.UserManaged(
                    replicas=[secretmanager_v1.Replication.UserManaged.Replica(location=REGION)]
                )
            ),
            labels={**labels, "aipress-site-id": "13"},
        ),
    )
    found = client.list_secrets(request={"parent": parent, "filter": "labels.aipress-site-id=12"})
    assert [s.name for s in found] == [secret.name]
    assert len(list(client.list_secrets(request={"parent": parent, "filter": "labels.aipress-tenant-id:7"}))) == 2

    data = b"correct horse battery staple"
    version = client.add_secret_version(
        parent=secret.name, payload=secretmanager_v1.SecretPayload(data=data, data_crc32c=google_crc32c.value(data))
    )
    assert version.name == f"{secret.name}/versions/1"
    assert version.state == secretmanager_v1.SecretVersion.State.ENABLED
    client.add_secret_version(parent=secret.name, payload=secretmanager_v1.SecretPayload(data=b"v2"))
    latest = client.access_secret_version(name=f"{secret.name}/versions/latest")
    assert (latest.name, latest.payload.data) == (f"{secret.name}/versions/2", b"v2")
    assert latest.payload.data_crc32c == google_crc32c.value(b"v2")
    assert client.access_secret_version(name=f"{secret.name}/versions/1").payload.data == data
    assert secret_manager.secret_value(secret.name, "1") == data

    destroyed = client.destroy_secret_version(name=f"{secret.name}/versions/2")
    assert destroyed.state == secretmanager_v1.SecretVersion.State.DESTROYED
    assert client.get_secret_version(name=f"{secret.name}/versions/2").state == destroyed.state
    with pytest.raises(exceptions.BadRequest, match="DESTROYED"):
        client.access_secret_version(name=f"{secret.name}/versions/latest")
    with pytest.raises(exceptions.NotFound):
        client.access_secret_version(name=f"{secret.name}/versions/9")

    client.delete_secret(name=secret.name)
    with pytest.raises(exceptions.NotFound):
        client.get_secret(name=secret.name)
    with pytest.raises(exceptions.NotFound):
        client.delete_secret(name=secret.name)


def test_secret_manager_refusals(secret_manager: FakeSecretManager) -> None:
    client = secrets_client(secret_manager.endpoint)
    parent = f"projects/{PROJECT}"
    client.create_secret(parent=parent, secret_id="db-12", secret=secretmanager_v1.Secret(replication=AUTOMATIC))
    with pytest.raises(exceptions.Conflict):
        client.create_secret(parent=parent, secret_id="db-12", secret=secretmanager_v1.Secret(replication=AUTOMATIC))
    with pytest.raises(exceptions.BadRequest, match="replication"):
        client.create_secret(parent=parent, secret_id="db-13", secret=secretmanager_v1.Secret())
    with pytest.raises(exceptions.BadRequest, match="secret_id"):
        client.create_secret(parent=parent, secret_id="db.13", secret=secretmanager_v1.Secret(replication=AUTOMATIC))
    with pytest.raises(exceptions.BadRequest, match="label"):
        client.create_secret(
            parent=parent,
            secret_id="db-13",
            secret=secretmanager_v1.Secret(replication=AUTOMATIC, labels={"site": "x" * 64}),
        )
    # Annotations: keys of their own alphabet (no '/', unlike Kubernetes'), any value, 16 KiB in all.
    for bad in ({"aipress.io/copy-of": "x"}, {"-copy-of": "x"}, {"copy-of": "x" * 16 * 1024}):
        with pytest.raises(exceptions.BadRequest, match="annotation"):
            client.create_secret(
                parent=parent, secret_id="db-13", secret=secretmanager_v1.Secret(replication=AUTOMATIC, annotations=bad)
            )
    annotated = client.create_secret(
        parent=parent,
        secret_id="db-14",
        secret=secretmanager_v1.Secret(
            replication=AUTOMATIC, annotations={"Copy.of_2": f"{parent}/secrets/db-12/versions/1"}
        ),
    )
    assert annotated.annotations["Copy.of_2"] == f"{parent}/secrets/db-12/versions/1"
    with pytest.raises(exceptions.BadRequest, match="Checksum"):
        client.add_secret_version(
            parent=f"{parent}/secrets/db-12", payload=secretmanager_v1.SecretPayload(data=b"x", data_crc32c=1)
        )
    with pytest.raises(exceptions.NotFound):
        client.add_secret_version(parent=f"{parent}/secrets/db-99", payload=secretmanager_v1.SecretPayload(data=b"x"))
    with pytest.raises(exceptions.NotFound, match="no versions"):
        client.access_secret_version(name=f"{parent}/secrets/db-12/versions/latest")

    secret_manager.fail_next("POST", r":addVersion$", 429, "Quota exceeded.")
    with pytest.raises(exceptions.TooManyRequests):
        client.add_secret_version(parent=f"{parent}/secrets/db-12", payload=secretmanager_v1.SecretPayload(data=b"x"))
    secret_manager.fail_next("GET", r"/secrets/db-12$", 403, "Permission denied.", reason="IAM_PERMISSION_DENIED")
    with pytest.raises(exceptions.Forbidden) as denied:
        client.get_secret(name=f"{parent}/secrets/db-12")
    assert denied.value.reason == "IAM_PERMISSION_DENIED"


def test_secret_manager_iam_policy(secret_manager: FakeSecretManager) -> None:
    client = secrets_client(secret_manager.endpoint)
    secret = client.create_secret(
        parent=f"projects/{PROJECT}", secret_id="db-12", secret=secretmanager_v1.Secret(replication=AUTOMATIC)
    )
    member = f"serviceAccount:site-12@{PROJECT}.iam.gserviceaccount.com"
    policy = policy_pb2.Policy(
        bindings=[policy_pb2.Binding(role="roles/secretmanager.secretAccessor", members=[member])]
    )
    set_policy = client.set_iam_policy(request={"resource": secret.name, "policy": policy})
    got = client.get_iam_policy(request={"resource": secret.name})
    assert got.etag == set_policy.etag
    assert [(b.role, list(b.members)) for b in got.bindings] == [("roles/secretmanager.secretAccessor", [member])]
    assert secret_manager.access_problem(secret.name, "latest", member) == "not-found"  # no version yet
    client.add_secret_version(parent=secret.name, payload=secretmanager_v1.SecretPayload(data=b"x"))
    assert secret_manager.access_problem(secret.name, "latest", member) is None
    bad = policy_pb2.Policy(bindings=[policy_pb2.Binding(role="roles/run.invoker", members=[member])])
    with pytest.raises(exceptions.BadRequest, match="not supported"):
        client.set_iam_policy(request={"resource": secret.name, "policy": bad})


# Cloud SQL Admin


def test_cloud_sql_instance_and_databases(cloud_sql: FakeCloudSql) -> None:
    cloud_sql.polls_before_done = 2  # reading the database below is the fake's clock ticking once
    sql = sqladmin_client(cloud_sql.endpoint)
    instance = sql.instances().get(project=PROJECT, instance="shared-sql").execute()
    assert (instance["state"], instance["connectionName"]) == ("RUNNABLE", f"{PROJECT}:{REGION}:shared-sql")
    assert cloud_sql.requests[-1].path == f"/v1/projects/{PROJECT}/instances/shared-sql"
    assert "authorization" not in cloud_sql.requests[-1].headers

    operation = (
        sql.databases()
        .insert(
            project=PROJECT,
            instance="shared-sql",
            body={"name": "site_12", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"},
        )
        .execute()
    )
    assert (operation["kind"], operation["status"], operation["operationType"]) == (
        "sql#operation",
        "PENDING",
        "CREATE_DATABASE",
    )
    assert (operation["targetId"], operation["targetProject"]) == ("shared-sql", PROJECT)
    with pytest.raises(HttpError) as not_yet:
        sql.databases().get(project=PROJECT, instance="shared-sql", database="site_12").execute()
    assert not_yet.value.resp.status == 404

    # Polled by name alone, from a new client.
    fresh = sqladmin_client(cloud_sql.endpoint)
    first = fresh.operations().get(project=PROJECT, operation=operation["name"]).execute()
    done = fresh.operations().get(project=PROJECT, operation=operation["name"]).execute()
    assert (first["status"], done["status"]) == ("RUNNING", "DONE")
    assert "error" not in done

    database = sql.databases().get(project=PROJECT, instance="shared-sql", database="site_12").execute()
    assert (database["kind"], database["collation"]) == ("sql#database", "utf8mb4_unicode_ci")
    names = [d["name"] for d in sql.databases().list(project=PROJECT, instance="shared-sql").execute()["items"]]
    assert "site_12" in names
    assert "mysql" in names  # a MySQL instance lists its system databases too

    deletion = sql.databases().delete(project=PROJECT, instance="shared-sql", database="site_12").execute()
    assert deletion["operationType"] == "DELETE_DATABASE"
    while fresh.operations().get(project=PROJECT, operation=deletion["name"]).execute()["status"] != "DONE":
        pass
    with pytest.raises(HttpError) as gone:
        sql.databases().get(project=PROJECT, instance="shared-sql", database="site_12").execute()
    assert gone.value.resp.status == 404
    assert cloud_sql.requests_to("POST", r"/users$") == []


def test_cloud_sql_refusals_and_failures(cloud_sql: FakeCloudSql) -> None:
    sql = sqladmin_client(cloud_sql.endpoint)
    databases = sql.databases()
    with pytest.raises(HttpError) as unknown_instance:
        sql.instances().get(project=PROJECT, instance="nope").execute()
    assert unknown_instance.value.resp.status == 404
    with pytest.raises(HttpError) as unknown_instance:
        databases.insert(project=PROJECT, instance="nope", body={"name": "site_12"}).execute()
    assert unknown_instance.value.resp.status == 404

    for body, field in [
        ({"name": "site-12"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({}, "name"),
        ({"name": "site_12", "charset": "utf8mb4", "collation": "latin1_swedish_ci"}, "collation"),
        ({"name": "site_12", "charset": "klingon"}, "charset"),
        ({"name": "site_12", "owner": "me"}, "owner"),
    ]:
        with pytest.raises(HttpError) as refused:
            databases.insert(project=PROJECT, instance="shared-sql", body=body).execute()
        assert refused.value.resp.status == 400, body
        error = json.loads(refused.value.content)["error"]
        assert error["errors"][0]["reason"] == "invalid"
        assert error["details"][-1]["fieldViolations"][0]["field"] == field

    first = databases.insert(project=PROJECT, instance="shared-sql", body={"name": "site_12"}).execute()
    # A second insert of the same name, even while the first is running, is refused at once.
    with pytest.raises(HttpError) as duplicate:
        databases.insert(project=PROJECT, instance="shared-sql", body={"name": "site_12"}).execute()
    assert duplicate.value.resp.status == 400
    assert "exists" in duplicate.value.reason
    assert first["status"] == "PENDING"
    with pytest.raises(HttpError) as system:
        databases.delete(project=PROJECT, instance="shared-sql", database="mysql").execute()
    assert system.value.resp.status == 400

    cloud_sql.fail_next_operation("Disk full.")
    failing = databases.insert(project=PROJECT, instance="shared-sql", body={"name": "site_13"}).execute()
    operations = sql.operations()
    while (result := operations.get(project=PROJECT, operation=failing["name"]).execute())["status"] != "DONE":
        pass
    assert result["error"]["errors"] == [{"kind": "sql#operationError", "code": "ERROR_RDBMS", "message": "Disk full."}]
    assert "site_13" not in cloud_sql.databases(PROJECT, "shared-sql")

    cloud_sql.fail_next("POST", r"/databases$", 429, "Rate limit exceeded.")
    with pytest.raises(HttpError) as limited:
        databases.insert(project=PROJECT, instance="shared-sql", body={"name": "site_14"}).execute()
    assert limited.value.resp.status == 429
    assert json.loads(limited.value.content)["error"]["status"] == "RESOURCE_EXHAUSTED"
    with pytest.raises(HttpError) as no_operation:
        operations.get(project=PROJECT, operation="nope").execute()
    assert no_operation.value.resp.status == 404


# IAM service accounts


def test_iam_service_accounts(iam: FakeIam) -> None:
    accounts = iam_client(iam.endpoint).projects().serviceAccounts()
    created = accounts.create(
        name=f"projects/{PROJECT}",
        body={"accountId": "site-12", "serviceAccount": {"displayName": "Site 12", "description": "WordPress"}},
    ).execute()
    email = f"site-12@{PROJECT}.iam.gserviceaccount.com"
    assert (created["email"], created["name"]) == (email, f"projects/{PROJECT}/serviceAccounts/{email}")
    assert iam.requests[-1].path == f"/v1/projects/{PROJECT}/serviceAccounts"
    assert accounts.get(name=f"projects/{PROJECT}/serviceAccounts/{email}").execute()["displayName"] == "Site 12"
    assert accounts.get(name=f"projects/-/serviceAccounts/{created['uniqueId']}").execute()["email"] == email
    listed = accounts.list(name=f"projects/{PROJECT}").execute()
    assert [a["email"] for a in listed["accounts"]] == [email]

    with pytest.raises(HttpError) as duplicate:
        accounts.create(name=f"projects/{PROJECT}", body={"accountId": "site-12"}).execute()
    assert duplicate.value.resp.status == 409
    for account_id in ["site1", "Site-12", "site-12-", "s" * 31, "12-site"]:
        with pytest.raises(HttpError) as refused:
            accounts.create(name=f"projects/{PROJECT}", body={"accountId": account_id}).execute()
        assert refused.value.resp.status == 400, account_id
    with pytest.raises(HttpError) as unknown_field:
        accounts.create(name=f"projects/{PROJECT}", body={"accountId": "site-13", "role": "owner"}).execute()
    assert "Unknown name" in unknown_field.value.reason

    iam.fail_next("POST", r"/serviceAccounts$", 403, "Permission 'iam.serviceAccounts.create' denied.")
    with pytest.raises(HttpError) as denied:
        accounts.create(name=f"projects/{PROJECT}", body={"accountId": "site-13"}).execute()
    assert denied.value.resp.status == 403
    assert denied.value.error_details[0]["reason"] == "forbidden"

    assert accounts.delete(name=f"projects/{PROJECT}/serviceAccounts/{email}").execute() == {}
    for call in (accounts.get, accounts.delete):
        with pytest.raises(HttpError) as missing:
            call(name=f"projects/{PROJECT}/serviceAccounts/{email}").execute()
        assert missing.value.resp.status == 404
    assert accounts.list(name=f"projects/{PROJECT}").execute() == {}


# Cloud Storage (gcp-storage-emulator)


def test_storage_emulator_bucket_with_uniform_access_labels_and_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    with StorageEmulator() as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
        client = StorageClient(project=PROJECT, credentials=AnonymousCredentials())
        bucket = client.bucket("aipress-site-12")
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.labels = {"aipress-tenant-id": "7"}
        client.create_bucket(bucket, location=REGION)

        bucket = client.get_bucket("aipress-site-12")
        assert bucket.iam_configuration.uniform_bucket_level_access_enabled
        bucket.labels = {**bucket.labels, "aipress-site-id": "12"}
        bucket.patch()
        assert client.get_bucket("aipress-site-12").labels == {"aipress-tenant-id": "7", "aipress-site-id": "12"}

        policy = bucket.get_iam_policy(requested_policy_version=3)
        policy.bindings.append(
            {
                "role": "roles/storage.objectAdmin",
                "members": {f"serviceAccount:site-12@{PROJECT}.iam.gserviceaccount.com"},
            }
        )
        bucket.set_iam_policy(policy)
        roles = {b["role"] for b in bucket.get_iam_policy(requested_policy_version=3).bindings}
        assert "roles/storage.objectAdmin" in roles

        bucket.labels = {"Bad Key": "x"}
        with pytest.raises(exceptions.BadRequest):
            bucket.patch()
        with pytest.raises(exceptions.Conflict):
            client.create_bucket("aipress-site-12")
