"""Attacks from a site's own PHP on the platform that hosts it: each must fail, and the site must
still work. The PHP runs in the site's real pool, behind the real nginx, as the site's own user."""

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from sites.runtimes.local import server
from sites.tests.conftest import put_php, run_php

# Values a user may type that php-fpm would have expanded from its own environment, or could not
# have carried at all (quotes, line breaks, backslashes): each must reach PHP byte for byte.
TRICKY_VALUES = {
    "LEAK_SECRET": "x${DJANGO_SECRET_KEY}x",
    "LEAK_DATABASE": "${DATABASE_URL}",
    "LEAK_KEYS": "$SITES_SECRET_KEYS ${SITES_SECRET_KEYS}",
    "QUOTES": """it's "quoted" ; not a comment""",
    "MULTILINE": "-----BEGIN KEY-----\nline two\r\nend\\n'\\'",
    "CODE_LOOKALIKE": "<?php echo 1; ?> ${HOME} %s \\x00",
}

ENV_PROBE = r"""<?php
header('Content-Type: application/json');
$names = json_decode($_GET['names']);
$seen = [];
foreach ($names as $name) { $seen[$name] = getenv($name); }
echo json_encode($seen);
"""


def test_env_values_reach_php_exactly_as_typed_and_nothing_of_the_platform_does(provisioned):
    _, provision = provisioned
    spec = provision(201, env=TRICKY_VALUES)
    put_php(spec, "env.php", ENV_PROBE)
    platform = ["DJANGO_SECRET_KEY", "DATABASE_URL", "SITES_SECRET_KEYS", "SITES_MARIADB_URL", "REDIS_URL"]
    seen = run_php(spec, "env.php", names=json.dumps([*TRICKY_VALUES, *platform]))
    assert {name: seen[name] for name in TRICKY_VALUES} == TRICKY_VALUES
    assert {name: seen[name] for name in platform} == dict.fromkeys(platform, False)


def test_php_fpm_and_nginx_run_with_none_of_the_platform_settings(site_daemons):
    secrets = [settings.SECRET_KEY, *settings.SITES_SECRET_KEYS, settings.SITES_MARIADB_URL, settings.REDIS_URL]
    for daemon in ("php-fpm", "nginx"):
        pid = int((server.runtime_dir() / daemon / f"{daemon}.pid").read_text())
        environment = Path(f"/proc/{pid}/environ").read_bytes()
        for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "SITES_SECRET_KEYS", "SITES_MARIADB_URL"):
            assert name.encode() not in environment, (daemon, name)
        for value in secrets:
            assert value.encode() not in environment, daemon


REACH_PROBE = r"""<?php
header('Content-Type: application/json');
mysqli_report(MYSQLI_REPORT_OFF);
$answers = [];
foreach (json_decode($_GET['targets'], true) as $label => $target) {
    $socket = @stream_socket_client($target, $errno, $error, 3);
    $answers[$label] = $socket ? 'connected' : "refused: $error";
}
$root = @mysqli_connect('127.0.0.1', 'root', '');
$answers['mariadb root over tcp'] = $root ? 'logged in' : mysqli_connect_error();
$root_socket = @mysqli_connect('localhost', 'root', '');
$answers['mariadb root over its socket'] = $root_socket ? 'logged in' : mysqli_connect_error();
[$host, $port] = explode(':', getenv('DB_HOST'));
$sites_root = @mysqli_connect($host, 'root', '', '', (int) $port);
$answers['sites mariadb as root'] = $sites_root ? 'logged in' : mysqli_connect_error();
$own = @mysqli_connect($host, getenv('DB_USER'), getenv('DB_PASSWORD'), getenv('DB_NAME'), (int) $port);
$answers['own database'] = $own ? $own->query('SELECT COUNT(*) FROM wp_posts')->fetch_row()[0] : mysqli_connect_error();
echo json_encode($answers);
"""


def _listening(target: str) -> bool:
    """Whether the test process itself (the platform's user) can connect to `target`."""
    where = urlsplit(target)
    try:
        if where.scheme == "unix":
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(1)
                client.connect(where.path)
        else:
            with socket.create_connection((where.hostname, where.port), timeout=1):
                pass
    except OSError:
        return False
    return True


def test_site_php_reaches_none_of_the_platform_services_but_its_own_database(provisioned, tmp_path):
    _, provision = provisioned
    spec = provision(202)
    # A service of the platform's that this test starts itself, so the attack has a live target
    # whatever the machine runs: a TCP port and a UNIX socket under /run.
    with socket.socket() as platform_port, socket.socket(socket.AF_UNIX) as platform_socket:
        platform_port.bind(("127.0.0.1", 0))
        platform_port.listen()
        socket_path = Path(f"/run/aipress-test-{os.getpid()}.sock")
        platform_socket.bind(str(socket_path))
        platform_socket.listen()
        try:
            database = settings.DATABASES["default"]
            db_host = database["HOST"] or database.get("OPTIONS", {}).get("host") or "127.0.0.1"
            db_port = database["PORT"] or 5432
            redis = urlsplit(settings.REDIS_URL)
            targets = {
                "platform port": f"tcp://127.0.0.1:{platform_port.getsockname()[1]}",
                "platform socket under /run": f"unix://{socket_path}",
                # The platform's own database, over TCP or (an embedded server) its socket.
                "postgresql": f"unix://{db_host}/.s.PGSQL.{db_port}"
                if db_host.startswith("/")
                else f"tcp://{db_host}:{db_port}",
                "redis": f"tcp://{redis.hostname}:{redis.port or 6379}",
            }
            if Path("/run/postgresql/.s.PGSQL.5432").exists():
                targets["postgresql socket"] = "unix:///run/postgresql/.s.PGSQL.5432"
            # Not this host, but a cloud VM's metadata server (its credentials): refused, not unanswered.
            metadata = "tcp://169.254.169.254:80"
            for label, target in targets.items():  # each is alive for the platform itself
                assert _listening(target), label
            put_php(spec, "reach.php", REACH_PROBE)
            answers = run_php(spec, "reach.php", targets=json.dumps({**targets, "metadata": metadata}))
        finally:
            socket_path.unlink(missing_ok=True)
    for label in targets:
        assert answers[label].startswith("refused"), (label, answers[label])
    assert answers["metadata"] == "refused: Connection refused"
    assert "logged in" not in answers["mariadb root over tcp"]
    assert "logged in" not in answers["mariadb root over its socket"]
    assert "denied" in answers["sites mariadb as root"].lower()
    assert int(answers["own database"]) >= 1  # WordPress's first post: the site's own database works


MAIL_PROBE = r"""<?php
header('Content-Type: application/json');
require __DIR__ . '/wp-load.php';
$failure = null;
add_action('wp_mail_failed', function ($error) use (&$failure) { $failure = $error->get_error_message(); });
$sent = wp_mail('someone@example.com', 'hello', 'body');
echo json_encode(['mail_exists' => function_exists('mail'), 'sent' => $sent, 'failure' => $failure]);
"""


def test_mail_is_off_and_wordpress_says_why_instead_of_crashing(provisioned):
    _, provision = provisioned
    spec = provision(203)
    put_php(spec, "mail.php", MAIL_PROBE)
    answer = run_php(spec, "mail.php")
    assert answer["mail_exists"] is False
    assert answer["sent"] is False
    assert "SMTP plugin" in answer["failure"]


def test_a_value_stored_under_a_name_refused_since_never_reaches_php_nor_the_installer(provisioned, monkeypatch):
    """Names refused today may have been stored before the rule existed: they are dropped on the way."""
    from sites.runtimes.local import install

    _, provision = provisioned
    spec = provision(204, env={"LD_PRELOAD": "/nonexistent/evil.so", "BASH_ENV": "/x", "SHOP": "on"})
    put_php(spec, "env.php", ENV_PROBE)
    seen = run_php(spec, "env.php", names=json.dumps(["LD_PRELOAD", "BASH_ENV", "SHOP"]))
    assert seen == {"LD_PRELOAD": False, "BASH_ENV": False, "SHOP": "on"}
    # The installer's own process (and the root-run commands that wrap it) gets no value of the site's.
    environments = []
    popen = install.subprocess.Popen
    with monkeypatch.context() as patch:
        patch.setattr(
            install.subprocess, "Popen", lambda *a, **kw: environments.append(kw.get("env")) or popen(*a, **kw)
        )
        install.set_title(spec)
    names = set(environments[0])
    assert names - {"PATH", "LANG"} == {name for name in names if name.startswith("AIPRESS_")}


def test_deleting_a_site_ends_its_processes_before_lifting_its_filter(provisioned):
    """A process the site left running must not outlive the packet filter that held it."""
    import subprocess

    from sites.runtimes.local import sandbox, system_user
    from sites.tests.conftest import tear_down

    runtime, provision = provisioned
    spec = provision(205)
    uid, _ = system_user.ids(spec.key)
    lingering = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "300"])
    try:
        tear_down(runtime, spec)
        assert lingering.wait(timeout=10) != 0  # killed
        assert system_user.ids(spec.key) is None
        assert not sandbox.firewall_guards(uid)
    finally:
        if lingering.poll() is None:
            lingering.kill()
