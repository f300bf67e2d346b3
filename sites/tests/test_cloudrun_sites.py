"""Sites on Google Cloud, as an operator who set SITES_RUNTIME=cloudrun sees them. The official SDKs
talk to loopback fakes of Cloud Run, Cloud SQL Admin, Secret Manager and IAM that check what they
receive (sites/tests/gcp), and to the Cloud Storage emulator; database users are made over a real
MySQL connection (the sites' MariaDB). Through the API a real worker runs the pipeline; where a
worker must die at a chosen moment, the test is the worker."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from google.cloud import run_v2

from kernel.testing import wait_until
from sites import pipeline, services
from sites.models import OperationState, Site, SiteEvent, SiteOperation, SiteSecret, SiteStatus
from sites.runtimes import memory
from sites.runtimes.cloudrun import clients, database, web
from sites.spec import SALT_NAMES
from sites.tests.conftest import PROJECT, REGION, SQL_INSTANCE, Cloud
from sites.tests.factories import ACTOR, requested_site

pytestmark = pytest.mark.django_db(transaction=True)

SERVICES = rf"/v2/projects/{PROJECT}/locations/{REGION}/services"
DATABASES = rf"/v1/projects/{PROJECT}/instances/{SQL_INSTANCE}/databases"


# --- Helpers ---------------------------------------------------------------------------------------


def _finished(client, accepted, timeout=60):
    """Follow an accepted change's operation to its end; the operation as the API shows it then."""
    url = accepted.json()["operation"]["url"]

    def done():
        body = client.get(url).json()
        return body if body["state"] in ("succeeded", "failed", "cancelled") else None

    try:
        return wait_until(done, timeout=timeout, what=f"operation {url}")
    except AssertionError:
        events = client.get(url.split("/operations/")[0] + "/events/").json()
        raise AssertionError(f"{client.get(url).json()} did not finish; latest events: {events[:3]}") from None


def _bodies(cloud: Cloud, method: str, pattern: str) -> list[dict]:
    return [r.body for fake in cloud.fakes() for r in fake.requests_to(method, pattern)]


def _key(settings, tenant, site) -> str:
    return f"{settings.SITES_KEY_PREFIX}t{tenant.pk}_s{site.pk}"


def _service_id(key: str) -> str:
    return f"aipress-{key.replace('_', '-')}".lower()


def _labels(tenant, site) -> dict[str, str]:
    return {"aipress-tenant-id": str(tenant.pk), "aipress-site-id": str(site.pk), "aipress-managed": "true"}


def _bucket(name):
    return clients.storage_client().lookup_bucket(name)


def _grants(user):
    """The user's grants on the real MySQL server, None when there is no such user."""
    with database.admin(database.config()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(f"SHOW GRANTS FOR `{user}`@`%`")
        return [row[0] for row in cursor.fetchall() if not row[0].startswith("GRANT USAGE")]


def _title_served(uri: str) -> str | None:
    return web.site_name(uri)


def _site(tenant, name="blog") -> Site:
    with tenant_context(tenant):
        return Site.objects.get(slug=name)


def work(tenant, site_id, limit=200) -> None:
    """Be the worker: advance the site's operations until none is left. Time passes at once: a
    waiting operation (a cloud operation to poll, a retry's backoff) is due again right away."""
    for _ in range(limit):
        with tenant_context(tenant):
            if pipeline.advance(tenant=tenant, site_id=site_id) == "idle":
                return
            SiteOperation.objects.filter(site_id=site_id, state=OperationState.WAITING).update(poll_at=timezone.now())
    raise AssertionError("the site's operations never settled")


@pytest.fixture
def api(gcp, make_tenant, client_for, api_key_for, celery_worker_thread):
    tenant = make_tenant(slug="acme")
    return tenant, client_for(tenant, key=api_key_for(tenant))


@pytest.fixture
def by_hand(gcp, make_tenant, monkeypatch):
    """The test is the worker: nothing is queued for a real one."""
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: None)
    return make_tenant


# --- Through the API -----------------------------------------------------------------------------


def test_a_new_site_gets_every_piece_labelled_and_least_privileged(api, gcp, settings):
    tenant, client = api
    created = client.post("/api/v1/sites/", {"name": "blog", "title": "Crumbs"}, format="json")
    assert created.status_code == 202, created.content
    assert _finished(client, created)["state"] == "succeeded"
    assert client.get("/api/v1/sites/blog/").json()["status"] == "ready"
    site = _site(tenant)
    key, labels = _key(settings, tenant, site), _labels(tenant, site)

    # The database in Cloud SQL through the Admin API; its user over MySQL, never through the API
    # (which would make it a cloudsqlsuperuser): ALL on its own database and nothing else.
    (made,) = _bodies(gcp, "POST", DATABASES + "$")
    assert made == {"name": f"wp_{key}", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}
    assert not gcp.sql.requests_to("POST", r"/users")
    escaped = f"wp_{key}".replace("_", "\\_")  # `_` would be a wildcard in a grant's database name
    assert _grants(f"wp_{key}") == [f"GRANT ALL PRIVILEGES ON `{escaped}`.* TO `wp_{key}`@`%`"]

    # One Cloud Run service, labelled on the service AND its revision template.
    (service,) = _bodies(gcp, "POST", SERVICES + "$")
    template = service["template"]
    assert service["labels"] == labels and template["labels"] == labels
    account = template["serviceAccount"]
    assert account.startswith("ap-") and account.endswith(f"@{PROJECT}.iam.gserviceaccount.com")
    assert [a["email"] for a in gcp.iam.accounts.values()] == [account]
    assert template["scaling"] == {"maxInstanceCount": settings.SITES_CLOUDRUN_MAX_INSTANCES}  # min 0
    automatic = run_v2.ServiceScaling.ScalingMode.AUTOMATIC  # enums go as numbers
    assert service["scaling"] == {"scalingMode": automatic, "maxInstanceCount": settings.SITES_CLOUDRUN_MAX_INSTANCES}
    assert template["containers"][0]["image"] == settings.SITES_IMAGE
    volumes = {v["name"]: v for v in template["volumes"]}
    assert volumes["cloudsql"]["cloudSqlInstance"]["instances"] == [f"{PROJECT}:{REGION}:{SQL_INSTANCE}"]
    bucket_name = f"{PROJECT}-{key.replace('_', '-')}-uploads".lower()
    assert volumes["uploads"]["gcs"] == {"bucket": bucket_name, "mountOptions": ["uid=33", "gid=33"]}
    env = {e["name"]: e for e in template["containers"][0]["env"]}
    assert env["WP_TITLE"] == {"name": "WP_TITLE", "value": "Crumbs"}
    assert env["DB_SOCKET"]["value"] == f"/cloudsql/{PROJECT}:{REGION}:{SQL_INSTANCE}"
    for name in ("DB_PASSWORD", *SALT_NAMES, "WP_ADMIN_PASSWORD"):
        assert env[name] == {
            "name": name,
            "valueSource": {"secretKeyRef": {"secret": f"aipress-{key}-{name}", "version": "1"}},  # pinned
        }
    # Installed: a revision without the admin password, whose secret is gone everywhere.
    live = gcp.run.service(_service_id(key))
    assert "WP_ADMIN_PASSWORD" not in {e["name"] for e in live["template"]["containers"][0]["env"]}
    with tenant_context(tenant):
        assert not SiteSecret.objects.filter(site=site, name="WP_ADMIN_PASSWORD").exists()
        references = list(SiteSecret.objects.filter(site=site).values_list("reference", flat=True))
    assert f"projects/{PROJECT}/secrets/aipress-{key}-WP_ADMIN_PASSWORD" not in gcp.secrets.secrets
    # The platform's database holds references, never values.
    assert len(references) == 9 and all(r.startswith(f"projects/{PROJECT}/secrets/aipress-{key}-") for r in references)

    _assert_access_is_the_sites_alone(gcp, key, account, bucket_name, labels)

    # Public, and it answers as WordPress.
    (public,) = [r.body for r in gcp.run.requests_to("POST", r":setIamPolicy$")]
    assert public["policy"]["bindings"] == [{"role": "roles/run.invoker", "members": ["allUsers"]}]
    assert _title_served(live["uri"]) == "Crumbs"
    assert client.get("/api/v1/sites/blog/").json()["wordpress_version"] == "7.1"


def _assert_access_is_the_sites_alone(gcp: Cloud, key: str, account: str, bucket_name: str, labels: dict) -> None:
    # Each secret readable by the site's account and by no one else.
    for name in ("DB_PASSWORD", *SALT_NAMES):
        secret = f"projects/{PROJECT}/secrets/aipress-{key}-{name}"
        assert gcp.secrets.access_problem(secret, "latest", f"serviceAccount:{account}") is None
        stranger = f"serviceAccount:ap-other@{PROJECT}.iam.gserviceaccount.com"
        assert gcp.secrets.access_problem(secret, "latest", stranger) == "denied"

    # The uploads bucket: uniform access, the labels, objectAdmin for the site's account alone.
    bucket = _bucket(bucket_name)
    assert bucket.iam_configuration.uniform_bucket_level_access_enabled
    assert bucket.iam_configuration.public_access_prevention == "enforced"
    assert bucket.labels == labels
    bindings = bucket.get_iam_policy().bindings
    assert [b["members"] for b in bindings if b["role"] == "roles/storage.objectAdmin"] == [
        {f"serviceAccount:{account}"}
    ]

    # The account may reach the shared instance through the Cloud SQL volume, and only that instance.
    (sql_client,) = gcp.projects.bindings(PROJECT, "roles/cloudsql.client")
    assert sql_client["members"] == [f"serviceAccount:{account}"]
    assert sql_client["condition"]["expression"] == (
        f'resource.name == "projects/{PROJECT}/instances/{SQL_INSTANCE}" '
        '&& resource.service == "sqladmin.googleapis.com"'
    )


def test_update_env_suspend_resume_and_delete_reach_cloud_run(api, gcp, settings):
    tenant, client = api
    created = client.post("/api/v1/sites/", {"name": "blog", "title": "Crumbs"}, format="json")
    assert _finished(client, created)["state"] == "succeeded"
    site = _site(tenant)
    key, labels = _key(settings, tenant, site), _labels(tenant, site)
    service_id = _service_id(key)
    uri = gcp.run.service(service_id)["uri"]

    # Update: the title and scaling patch the service (one new revision), and WordPress follows.
    gcp.forget_requests()
    changed = client.patch(
        "/api/v1/sites/blog/", {"title": "Crumbs & Co", "scaling": {"max_php_workers": 3}}, format="json"
    )
    assert changed.status_code == 202, changed.content
    assert _finished(client, changed)["state"] == "succeeded"
    (patch,) = _bodies(gcp, "PATCH", SERVICES + "/")
    env = {e["name"]: e.get("value") for e in patch["template"]["containers"][0]["env"]}
    assert (env["WP_TITLE"], env["MAX_PHP_WORKERS"]) == ("Crumbs & Co", "3")
    assert patch["template"]["maxInstanceRequestConcurrency"] == 3
    assert patch["template"]["labels"] == labels
    assert _title_served(uri) == "Crumbs & Co"

    _env_vars_reach_the_service_by_reference(client, gcp, key)

    # Suspend: no traffic, no instance, nobody may call it; resume puts it all back.
    suspended = client.post("/api/v1/sites/blog/suspend/")
    assert _finished(client, suspended)["state"] == "succeeded"
    now = gcp.run.service(service_id)
    assert now["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert now["scaling"] == {"scalingMode": "MANUAL", "manualInstanceCount": 0}
    assert web.fetch(uri + "/")[0] == 403
    resumed = client.post("/api/v1/sites/blog/resume/")
    assert _finished(client, resumed)["state"] == "succeeded"
    resumed_service = gcp.run.service(service_id)
    assert resumed_service["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert resumed_service["scaling"] == {
        "scalingMode": "AUTOMATIC",
        "maxInstanceCount": settings.SITES_CLOUDRUN_MAX_INSTANCES,
    }
    assert _title_served(uri) == "Crumbs & Co"
    assert client.get("/api/v1/sites/blog/").json()["status"] == "ready"

    # Delete: service, bucket, secrets, database, user and account all go.
    deleted = client.delete("/api/v1/sites/blog/")
    assert _finished(client, deleted)["state"] == "succeeded"
    _assert_all_gone(gcp, key)


def _env_vars_reach_the_service_by_reference(client, gcp: Cloud, key: str) -> None:
    # An env var: kept in Secret Manager, reaching the service as a reference, never as its value.
    gcp.forget_requests()
    put = client.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"value": "sk_live_42", "sensitive": True}, format="json")
    assert put.status_code == 202, put.content
    assert _finished(client, put)["state"] == "succeeded"
    assert gcp.secrets.secret_value(f"projects/{PROJECT}/secrets/aipress-{key}-STRIPE_KEY") == b"sk_live_42"
    (patch,) = _bodies(gcp, "PATCH", SERVICES + "/")
    (stripe,) = [e for e in patch["template"]["containers"][0]["env"] if e["name"] == "STRIPE_KEY"]
    assert stripe["valueSource"] == {"secretKeyRef": {"secret": f"aipress-{key}-STRIPE_KEY", "version": "1"}}
    assert all("sk_live_42" not in str(r.body) for r in gcp.run.requests)
    # A new value: a new version, and a new revision that refers to it; the old version is destroyed
    # only once that revision serves, the secret kept.
    gcp.forget_requests()
    put = client.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"value": "sk_live_43", "sensitive": True}, format="json")
    assert _finished(client, put)["state"] == "succeeded"
    (patch,) = _bodies(gcp, "PATCH", SERVICES + "/")
    (stripe,) = [e for e in patch["template"]["containers"][0]["env"] if e["name"] == "STRIPE_KEY"]
    assert stripe["valueSource"]["secretKeyRef"]["version"] == "2"
    destroyed = wait_until(
        lambda: gcp.secrets.requests_to("POST", r":destroy$"), timeout=10, what="the old version destroyed"
    )
    assert [r.path.split("/")[-1] for r in destroyed] == ["1:destroy"]
    stripe_secret = f"projects/{PROJECT}/secrets/aipress-{key}-STRIPE_KEY"
    assert gcp.secrets.secret_value(stripe_secret) == b"sk_live_43"
    assert gcp.secrets.secret_value(stripe_secret + "/versions/1") != b"sk_live_42"  # destroyed
    assert gcp.secrets.access_problem(stripe_secret, "1", "allUsers") == "not-found"


def _assert_all_gone(gcp: Cloud, key: str) -> None:
    assert gcp.run.service(_service_id(key)) is None
    assert _bucket(f"{PROJECT}-{key.replace('_', '-')}-uploads".lower()) is None
    assert gcp.secrets.secrets == {}
    assert f"wp_{key}" not in gcp.sql.databases(PROJECT, SQL_INSTANCE)
    assert _grants(f"wp_{key}") is None
    assert gcp.iam.accounts == {}
    assert gcp.projects.bindings(PROJECT, "roles/cloudsql.client") == []


# --- The worker dies, the cloud refuses ------------------------------------------------------------

# What a create makes with one call each; a repeat would be a duplicate (or a refused request).
CREATES = {
    "service": ("POST", SERVICES + "$"),
    "account": ("POST", rf"/v1/projects/{PROJECT}/serviceAccounts$"),
}
# The steps of a create that start cloud operations (answer Pending) before they are done.
LONG_STEPS = ("database", "pool", "install")


@pytest.mark.parametrize("dies", ["database", "files", "secrets", "pool", "server", "install", "health"])
@pytest.mark.parametrize("moment", ["after the step", "after starting cloud work"])
def test_a_worker_killed_at_any_moment_resumes_without_duplicates(by_hand, gcp, settings, monkeypatch, dies, moment):
    """Killed after a step did its work but before it was recorded, or after it started a cloud
    operation but before its name was saved: the next worker takes over and nothing is made twice."""
    tenant = by_hand(slug="acme")
    site = requested_site(tenant, "blog", title="Crumbs")
    target = "_step_done" if moment == "after the step" else "_wait"
    original = getattr(pipeline, target)

    def killed(operation, tenant_, worker, *args, **kwargs):
        step = kwargs.get("step", args[0] if args else None)
        if step == dies:
            monkeypatch.setattr(pipeline, target, original)
            raise memory.WorkerDied(step)
        return original(operation, tenant_, worker, *args, **kwargs)

    monkeypatch.setattr(pipeline, target, killed)
    try:
        work(tenant, site.pk)
    except memory.WorkerDied:
        with tenant_context(tenant):  # its heartbeat goes stale; the reconciler's next worker takes over
            SiteOperation.objects.update(
                heartbeat_at=timezone.now() - timedelta(seconds=settings.SITES_STEP_STALE_SECONDS + 1)
            )
        work(tenant, site.pk)
    else:
        assert moment == "after starting cloud work" and dies not in LONG_STEPS  # no cloud work to lose
    assert _site(tenant).status == SiteStatus.READY
    key = _key(settings, tenant, site)
    for what, (method, pattern) in CREATES.items():
        assert len([r for fake in gcp.fakes() for r in fake.requests_to(method, pattern)]) == 1, what
    # A database whose creating operation was lost is found, not made again (Cloud SQL would
    # refuse a second one while the first is being made).
    assert [d for d in gcp.sql.databases(PROJECT, SQL_INSTANCE) if key in d] == [f"wp_{key}"]
    assert _title_served(gcp.run.service(_service_id(key))["uri"]) == "Crumbs"


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (429, "a quota of the project is exhausted"),
        (403, "permission denied: the platform's service account lacks a role"),
        (409, "it already exists or is being changed by another operation"),
    ],
)
def test_a_cloud_error_fails_the_step_with_advice_and_a_retry_finishes_the_site(by_hand, gcp, settings, status, advice):
    tenant = by_hand(slug="acme")
    site = requested_site(tenant, "blog", title="Crumbs")
    gcp.run.fail_next("POST", SERVICES + "$", status, "Google says no", times=pipeline.STEP_RETRIES + 1)
    work(tenant, site.pk)
    failed = _site(tenant)
    assert failed.status == SiteStatus.FAILED
    service_id = _service_id(_key(settings, tenant, site))
    assert failed.last_error.startswith(f"pool: creating the Cloud Run service {service_id}: {advice}")
    assert f"{status}: Google says no" in failed.last_error

    services.site_retry(tenant=tenant, actor=ACTOR, name="blog")
    work(tenant, site.pk)
    assert _site(tenant).status == SiteStatus.READY
    assert len(gcp.run.requests_to("POST", SERVICES + "$")) == pipeline.STEP_RETRIES + 2  # the refused ones, then one


def test_a_failed_deployment_says_why(by_hand, gcp):
    tenant = by_hand(slug="acme")
    site = requested_site(tenant, "blog")
    for _ in range(pipeline.STEP_RETRIES + 1):
        gcp.run.fail_next_operation("Revision 'x' is not ready: the container failed to start on PORT=8080.")
    work(tenant, site.pk)
    failed = _site(tenant)
    assert failed.status == SiteStatus.FAILED
    assert "Cloud Run could not finish deploying" in failed.last_error
    assert "the container failed to start" in failed.last_error
    # Fixed on Google's side: a retry deploys the same spec again (a new revision) and the site serves.
    services.site_retry(tenant=tenant, actor=ACTOR, name="blog")
    work(tenant, site.pk)
    assert _site(tenant).status == SiteStatus.READY
    assert len(gcp.run.requests_to("POST", SERVICES + "$")) == 1


# --- Two tenants -----------------------------------------------------------------------------------


def test_no_call_made_for_one_tenant_names_another_tenants_resources(by_hand, gcp, settings):
    acme, globex = by_hand(slug="acme"), by_hand(slug="globex")
    ours, theirs = requested_site(acme, "blog"), requested_site(globex, "blog")
    work(globex, theirs.pk)
    gcp.forget_requests()
    # acme's site, its whole life: create, update, env, suspend, resume, delete.
    work(acme, ours.pk)
    services.site_update(tenant=acme, actor=ACTOR, name="blog", title="Ours")
    work(acme, ours.pk)
    services.env_set(tenant=acme, actor=ACTOR, name="blog", key="API_TOKEN", value="t0ken", sensitive=True)
    work(acme, ours.pk)
    services.site_suspend(tenant=acme, actor=ACTOR, name="blog")
    work(acme, ours.pk)
    services.site_resume(tenant=acme, actor=ACTOR, name="blog")
    work(acme, ours.pk)
    services.site_delete(tenant=acme, actor=ACTOR, name="blog")
    work(acme, ours.pk)

    their_key = _key(settings, globex, theirs)
    their_names = {their_key, their_key.replace("_", "-"), f'"aipress-tenant-id": "{globex.pk}"'}
    # The project's IAM policy is one document: writing acme's Cloud SQL access carries globex's
    # account along, untouched. Every other call names acme's resources only.
    project_policy = [r for r in gcp.projects.requests if r.path.endswith(":setIamPolicy")]
    for request in gcp.requests():
        if request in project_policy:
            continue
        said = f"{request.path} {request.query} {request.body}".replace("'", '"')
        assert not any(name in said for name in their_names), said
    their_account = f"serviceAccount:{gcp.run.service(_service_id(their_key))['template']['serviceAccount']}"
    for request in project_policy:
        (binding,) = [b for b in request.body["policy"]["bindings"] if b["role"] == "roles/cloudsql.client"]
        assert their_account in binding["members"]
    # globex's site is whole and serving.
    service = gcp.run.service(_service_id(their_key))
    assert _title_served(service["uri"]) == "Blog"
    assert f"wp_{their_key}" in gcp.sql.databases(PROJECT, SQL_INSTANCE)
    assert len([s for s in gcp.secrets.secrets if their_key in s]) == 9
    assert _bucket(f"{PROJECT}-{their_key.replace('_', '-')}-uploads".lower()) is not None


# --- The reconciler and the CLI ------------------------------------------------------------------


def test_the_drift_check_asks_the_cloud_and_repairs_what_went_missing(by_hand, gcp, settings):
    from sites import tasks

    tenant = by_hand(slug="acme")
    site = requested_site(tenant, "blog", title="Crumbs")
    work(tenant, site.pk)
    key = _key(settings, tenant, site)
    with tenant_context(tenant):
        assert tasks.site_check_drift(site.pk) == []
    # Someone deletes the bucket and makes the service private, by hand in the console.
    bucket = _bucket(f"{PROJECT}-{key.replace('_', '-')}-uploads".lower())
    bucket.delete()
    resource = gcp.run.service(_service_id(key))["name"]
    clients.services().set_iam_policy(request={"resource": resource, "policy": {"bindings": []}})
    assert web.fetch(gcp.run.service(_service_id(key))["uri"] + "/")[0] == 403

    with tenant_context(tenant):
        assert tasks.site_check_drift(site.pk) == ["files", "server"]
    work(tenant, site.pk)
    with tenant_context(tenant):
        assert list(SiteOperation.objects.order_by("-id").values_list("kind", "state")[:1]) == [("repair", "succeeded")]
        assert tasks.site_check_drift(site.pk) == []
    assert _bucket(f"{PROJECT}-{key.replace('_', '-')}-uploads".lower()).labels == _labels(tenant, site)
    assert _title_served(gcp.run.service(_service_id(key))["uri"]) == "Crumbs"
    assert len(gcp.run.requests_to("POST", SERVICES + "$")) == 1  # repaired, not made again


def test_the_cli_makes_and_deletes_a_cloud_site(api, gcp):
    import io

    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    call_command("site", "create", "--tenant", "acme", "cli-site", "--title", "From CLI", stdout=out, stderr=err)
    assert out.getvalue().startswith("cli-site ready: ")
    (service,) = [r.body for r in gcp.run.requests_to("POST", SERVICES + "$")]
    assert {e["name"]: e.get("value") for e in service["template"]["containers"][0]["env"]}["WP_TITLE"] == "From CLI"
    done = io.StringIO()
    call_command("site", "delete", "--tenant", "acme", "cli-site", stdout=done)
    assert "cli-site deleted." in done.getvalue()
    assert gcp.run.services == {} and gcp.iam.accounts == {}


def test_a_busy_cloud_sql_instance_makes_the_next_site_wait_not_fail(by_hand, gcp):
    """Cloud SQL runs one operation at a time per instance: a second site's database waits its turn."""
    tenant = by_hand(slug="acme")
    first, second = requested_site(tenant, "one"), requested_site(tenant, "two")
    with tenant_context(tenant):
        assert pipeline.advance(tenant=tenant, site_id=first.pk) == "waiting"  # its database is being made
        assert pipeline.advance(tenant=tenant, site_id=second.pk) == "waiting"  # refused: the instance is busy
        assert (
            SiteEvent.objects.filter(site=second, step="database", outcome="waiting")
            .get()
            .detail.startswith("Cloud SQL is busy creating")
        )
    work(tenant, first.pk)
    work(tenant, second.pk)
    assert _site(tenant, "one").status == _site(tenant, "two").status == SiteStatus.READY
    with tenant_context(tenant):
        assert not SiteEvent.objects.filter(outcome="failed").exists()
