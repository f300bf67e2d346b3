"""Cloud Storage for tests: gcp-storage-emulator, in process and in memory, on a free port.

Two gaps of the emulator are closed here because the platform depends on them: it ignores everything
but the name when a bucket is created (so uniform bucket-level access and labels sent with the insert
were lost), and it accepts any labels. Both are fixed by wrapping its bucket insert and patch handlers:
the insert keeps the writable fields it was sent, and labels breaking GCP's rules get a 400."""

from __future__ import annotations

import threading
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from gcp_storage_emulator import server as emulator
from gcp_storage_emulator.handlers import buckets

from sites.tests.gcp.base import ApiError, check_labels

_install_lock = threading.Lock()
_installed = False


def _label_error(response: Any, data: Any) -> bool:
    """Answer 400 like GCS when the body's labels break the label rules."""
    labels = data.get("labels") if isinstance(data, dict) else None
    if labels is None:
        return False
    try:
        # A PATCH removes a label by sending it as null.
        check_labels({k: v for k, v in labels.items() if v is not None}, "labels")
    except ApiError as error:
        response.status = HTTPStatus.BAD_REQUEST
        response.json(
            {
                "error": {
                    "code": 400,
                    "message": error.message,
                    "errors": [{"message": error.message, "domain": "global", "reason": "invalid"}],
                }
            }
        )
        return True
    return False


def _insert(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
    if _label_error(response, request.data):
        return
    buckets.insert(request, response, storage, *args, **kwargs)
    if response.status == HTTPStatus.OK and isinstance(request.data, dict):
        name = request.data["name"]
        bucket = buckets._patch_bucket(storage.buckets[name], request.data)
        bucket["metageneration"] = "1"
        storage.create_bucket(name, bucket)
        response.json(bucket)


def _patch(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
    if _label_error(response, request.data):
        return
    data = request.data
    name = request.params.get("bucket_name")
    bucket = storage.buckets.get(name) if name else None
    labels = data.get("labels") if isinstance(data, dict) else None
    buckets.patch(request, response, storage, *args, **kwargs)
    # GCS merges patched labels (null removes one); the emulator replaced the whole map.
    if bucket is not None and labels is not None and response.status == HTTPStatus.OK:
        merged = {**(bucket.get("labels") or {}), **labels}
        stored = storage.buckets[name]
        stored["labels"] = {k: v for k, v in merged.items() if v is not None}
        storage.create_bucket(name, stored)
        response.json(stored)


def _install() -> None:
    global _installed  # noqa: PLW0603 - the emulator's route table is module state; patch it once
    with _install_lock:
        if _installed:
            return
        for _pattern, handlers in emulator.HANDLERS:
            if handlers.get(emulator.POST) is buckets.insert:
                handlers[emulator.POST] = _insert
            if handlers.get(emulator.PATCH) is buckets.patch:
                handlers[emulator.PATCH] = _patch
        _installed = True


class StorageEmulator:
    """`with StorageEmulator() as gcs:` serves the GCS JSON API at `gcs.endpoint`; point
    google-cloud-storage at it with the environment variable STORAGE_EMULATOR_HOST=gcs.endpoint."""

    def __init__(self, *, project_number: str = "123456789012") -> None:
        _install()
        self._server = emulator.create_server("127.0.0.1", 0, in_memory=True, project_number=project_number)
        self.endpoint = ""

    def start(self) -> Self:
        self._server.start()
        port = self._server._api._httpd.server_address[1]  # the emulator does not expose its port
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def wipe(self) -> None:
        self._server.wipe()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
