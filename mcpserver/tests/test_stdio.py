"""`manage.py mcp` as a desktop client starts it: the key comes from AIPRESS_API_KEY, and without a
usable one the command says why on one line and exits non-zero (nothing is served)."""

import subprocess
import sys

import pytest
from django.conf import settings

from mcpserver.tests.conftest import stdio_environment

pytestmark = pytest.mark.django_db(transaction=True)


def start(key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "mcp"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=settings.BASE_DIR,
        env=stdio_environment(key),
    )


def test_without_a_usable_key_the_command_says_why_and_serves_nothing(acme, key_for):
    missing = start("")
    assert missing.returncode != 0 and missing.stdout == ""
    assert "Set AIPRESS_API_KEY" in missing.stderr.strip().splitlines()[-1]
    invalid = start(key_for(acme)[:-2] + "zz")
    assert invalid.returncode != 0 and invalid.stdout == ""
    assert invalid.stderr.strip().splitlines()[-1] == (
        "CommandError: This API key is invalid or revoked; create a new one in the portal."
    )
