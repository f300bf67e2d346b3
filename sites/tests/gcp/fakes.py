"""The fakes in one import: `from sites.tests.gcp.fakes import FakeCloudRun, FakeCloudSql, ...`."""

from sites.tests.gcp.base import ApiError, FakeApi, Recorded
from sites.tests.gcp.cloudrun import FakeCloudRun
from sites.tests.gcp.cloudsql import FakeCloudSql
from sites.tests.gcp.iam import FakeIam
from sites.tests.gcp.resourcemanager import FakeResourceManager
from sites.tests.gcp.secretmanager import FakeSecretManager
from sites.tests.gcp.storage import StorageEmulator

__all__ = [
    "ApiError",
    "FakeApi",
    "FakeCloudRun",
    "FakeCloudSql",
    "FakeIam",
    "FakeResourceManager",
    "FakeSecretManager",
    "Recorded",
    "StorageEmulator",
]
