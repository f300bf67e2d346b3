"""`aipress`: tenants as code against a remote control plane, for CI pipelines.

    AIPRESS_URL=https://aipress.example AIPRESS_API_KEY=aip_... aipress plan -f tenants/
    aipress apply -f tenants/ [--prune]
    aipress export acme > tenants/acme.yaml
    printf %s "$STRIPE_KEY" | aipress secret set stripe-live

It needs no Django and no database: only the API (docs/tenant-as-code.md). Every file is planned
before anything is applied, so one bad file changes nothing. Errors are one line each and the exit
status is 1; `plan --exit-code` exits 2 when there are changes.
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
import yaml

SUFFIXES = (".yaml", ".yml", ".json")
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Failed(Exception):
    """Something the person has to fix: printed as one line each, exit 1."""

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines


class Api:
    def __init__(self, url: str, key: str) -> None:
        self.base = url.rstrip("/")
        self.client = httpx.Client(
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json", "User-Agent": "aipress-cli"},
            timeout=TIMEOUT,
            follow_redirects=False,
        )

    def url(self, path: str) -> str:
        """On our own address only: a URL the server answers with (`follow`) is taken for its path,
        so the key is never sent anywhere but AIPRESS_URL (behind a proxy the server may not know
        the address it is reached at)."""
        if path.startswith(("http://", "https://")):
            path = httpx.URL(path).raw_path.decode("ascii")
        return f"{self.base}{path}"

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise Failed(f"cannot reach {self.base}: {exc}") from None

    def call(
        self, method: str, path: str, *, body: str | None = None, source: str = "", ok: tuple[int, ...] = ()
    ) -> Any:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/yaml"
            if source:
                # A header is ASCII: a path with other letters travels percent-encoded.
                headers["X-Definition-Source"] = quote(source, safe="/._-")
        content = body.encode() if body is not None else None
        answer = self.send(method, self.url(path), content=content, headers=headers)
        if not (200 <= answer.status_code < 300 or answer.status_code in ok):
            raise Failed(*_problem_lines(answer, source))
        try:
            return answer.json() if answer.content else {}
        except ValueError:
            raise Failed(f"{method} {answer.request.url}: the answer is not JSON (is AIPRESS_URL right?)") from None


def _problem_lines(answer: httpx.Response, source: str) -> list[str]:
    if 300 <= answer.status_code < 400:
        where = answer.headers.get("Location", "elsewhere")
        return [f"{answer.request.url} redirects to {where}: set AIPRESS_URL to the address it answers on"]
    try:
        problem = answer.json()
    except ValueError:
        return [f"{answer.request.method} {answer.request.url}: HTTP {answer.status_code}"]
    if not isinstance(problem, dict):
        return [f"{answer.request.method} {answer.request.url}: HTTP {answer.status_code}"]
    errors = problem.get("errors") or []
    if errors:
        lines = []
        for error in errors:
            where = error.get("source") or source or "request"
            line = f":{error['line']}" if error.get("line") else ""
            field = f" {error['field']}:" if error.get("field") else ""
            lines.append(f"{where}{line}:{field} {error.get('message', '')}")
        return lines
    prefix = f"{source}: " if source else ""
    return [f"{prefix}{problem.get('detail') or problem.get('title') or answer.status_code}"]


# --- Files -------------------------------------------------------------------------------------


def definition_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    raise Failed(f"{path}: no such file or folder")


def read_definitions(path: Path) -> list[tuple[str, str, str]]:
    """(tenant name, text, file) for every file; only the name is read here, the server checks the rest."""
    found: list[tuple[str, str, str]] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    files = definition_files(path)
    if not files:
        raise Failed(f"{path}: no definition files (*.yaml, *.yml, *.json) here")
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
            data = yaml.safe_load(text)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file}: cannot be read: {exc}")
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problems.append(f"{file}{where}: not valid YAML or JSON: {getattr(exc, 'problem', exc)}")
            continue
        name = data.get("metadata", {}).get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{file}: metadata.name: missing: this field is required")
            continue
        if name in seen:
            problems.append(f"{file}: metadata.name: “{name}” is also defined in {seen[name]}")
            continue
        seen[name] = str(file)
        found.append((name, text, str(file)))
    if problems:
        raise Failed(*problems)
    return found


# --- Commands ----------------------------------------------------------------------------------


def _plans(api: Api, definitions: list[tuple[str, str, str]]) -> list[tuple[str, str, str, dict]]:
    planned: list[tuple[str, str, str, dict]] = []
    problems: list[str] = []
    for name, text, source in definitions:
        try:
            plan = api.call("POST", f"/api/v1/tenants/{name}/plan/", body=text, source=source)
        except Failed as failed:
            problems.extend(failed.lines)
            continue
        planned.append((name, text, source, plan))
    if problems:
        raise Failed(*problems, f"{len(problems)} problem(s) found; nothing was changed.")
    return planned


def _show_plan(plan: dict) -> None:
    print(plan["summary"])
    signs = {"create": "+", "update": "~", "delete": "-"}
    for change in plan["changes"]:
        print(f"  {signs[change['action']]} {change['kind']} {change['target']}: {change['detail']}")
    for warning in plan.get("warnings", []):
        print(f"  warning: {warning}", file=sys.stderr)


def _unlisted(api: Api, names: set[str], prune: bool) -> list[str]:
    managed = api.call("GET", "/api/v1/tenants/?managed=true", ok=(403, 404))
    if "managed" not in managed:
        if prune:
            raise Failed("--prune needs a staff API key: only staff see and delete tenants")
        return []
    return [slug for slug in managed["managed"] if slug not in names]


def _prune_needs_a_folder(args: argparse.Namespace) -> None:
    if args.prune and not Path(args.file).is_dir():
        raise Failed("--prune needs the folder of every definition: with one file, every other tenant would go")


def command_plan(api: Api, args: argparse.Namespace) -> int:
    _prune_needs_a_folder(args)
    definitions = read_definitions(Path(args.file))
    planned = _plans(api, definitions)
    for *_, plan in planned:
        _show_plan(plan)
    unlisted = _unlisted(api, {name for name, *_ in definitions}, args.prune)
    for slug in unlisted:
        print(f"{slug}: {'would be DELETED (--prune)' if args.prune else 'left alone (no file; --prune deletes it)'}")
    changed = any(plan["changes"] for *_, plan in planned) or (args.prune and bool(unlisted))
    return 2 if args.exit_code and changed else 0


def command_apply(api: Api, args: argparse.Namespace) -> int:
    _prune_needs_a_folder(args)
    definitions = read_definitions(Path(args.file))
    planned = _plans(api, definitions)  # all or nothing: every file is checked before the first change
    unlisted = _unlisted(api, {name for name, *_ in definitions}, args.prune)
    follow: list[str] = []
    applied: list[str] = []
    for name, text, source, plan in planned:
        try:
            if plan["creating"]:
                answer = api.call("POST", "/api/v1/tenants/", body=text, source=source)
            else:
                answer = api.call("PUT", f"/api/v1/tenants/{name}/", body=text, source=source)
        except Failed as failed:
            done = f"already applied: {', '.join(applied)}" if applied else "none was applied"
            raise Failed(*failed.lines, f"{name} was not applied (nothing of it changed); {done}") from None
        applied.append(name)
        _show_plan({**plan, "summary": answer["summary"], "warnings": answer.get("warnings", [])})
        if answer.get("follow"):
            follow.append(answer["follow"])
    for slug in unlisted:
        if args.prune:
            api.call("DELETE", f"/api/v1/tenants/{slug}/")
            print(f"{slug}: deleting (its file is gone): its sites first, then its data")
        else:
            print(f"{slug}: left alone (no file; --prune deletes it)")
    if follow and not args.no_wait:
        return _follow(api, follow, args.timeout)
    return 0


def _follow(api: Api, urls: list[str], timeout: float) -> int:
    """Wait for each application to be done, printing every site operation as it ends."""
    deadline = time.monotonic() + timeout
    shown: set[tuple[str, int]] = set()
    pending = list(urls)
    failed = 0
    while pending and time.monotonic() < deadline:
        still = []
        for url in pending:
            status = api.call("GET", url)
            for operation in status["operations"]:
                mark = (status["tenant"], operation["operation"])
                if operation["state"] not in ("queued", "running", "waiting") and mark not in shown:
                    shown.add(mark)
                    failed += operation["state"] == "failed"
                    error = f": {operation['error']}" if operation.get("error") else ""
                    print(f"  {status['tenant']}/{operation['site']} {operation['kind']}: {operation['state']}{error}")
            if status["state"] == "failed":
                raise Failed(f"{status['tenant']}: {status['error']}")
            if not status["done"]:
                still.append(url)
        pending = still
        if pending:
            time.sleep(1.0)
    if pending:
        raise Failed(f"still running after {timeout:.0f}s; follow it at: {', '.join(pending)}")
    if failed:
        raise Failed(f"{failed} site operation(s) failed; see above.")
    return 0


def command_export(api: Api, args: argparse.Namespace) -> int:
    answer = api.send("GET", api.url(f"/api/v1/tenants/{args.name}/"), headers={"Accept": "application/yaml"})
    if not 200 <= answer.status_code < 300:
        raise Failed(*_problem_lines(answer, ""))
    if args.output:
        Path(args.output).write_text(answer.text, encoding="utf-8")
        print(f"{args.name} written to {args.output}")
    else:
        sys.stdout.write(answer.text)
    return 0


def _secret_value(args: argparse.Namespace) -> str:
    """From a file or standard input, never the command line (it would land in shell history and ps)."""
    if args.from_file:
        return Path(args.from_file).read_text(encoding="utf-8").removesuffix("\n")
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Value of {args.name} (not shown): ")
    return sys.stdin.read().removesuffix("\n")


def command_secret(api: Api, args: argparse.Namespace) -> int:
    if args.what == "list":
        for secret in api.call("GET", "/api/v1/secrets/"):
            used = ", ".join(secret.get("used_by", [])) or "unused"
            print(f"{secret['name']:<32} {secret.get('updated_at', '')}  {used}")
        return 0
    if args.what == "delete":
        api.call("DELETE", f"/api/v1/secrets/{args.name}/")
        print(f"{args.name} deleted")
        return 0
    value = _secret_value(args)
    answer = api.send("PUT", api.url(f"/api/v1/secrets/{args.name}/"), json={"value": value})
    if not 200 <= answer.status_code < 300:
        raise Failed(*_problem_lines(answer, ""))
    print(f"{args.name} {'stored' if answer.status_code == 201 else 'replaced'} (the value is never shown again)")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="aipress", description=__doc__.split("\n\n")[0] if __doc__ else "")
    sub = top.add_subparsers(dest="command", required=True)
    for name, text in (("plan", "Show what applying would change."), ("apply", "Apply the definitions.")):
        command = sub.add_parser(name, help=text)
        command.add_argument("-f", "--file", required=True, help="A definition file or a folder of them.")
        command.add_argument("--prune", action="store_true", help="Delete tenants whose file is gone (staff key).")
        if name == "plan":
            command.add_argument("--exit-code", action="store_true", help="Exit 2 when there are changes.")
        else:
            command.add_argument("--no-wait", action="store_true", help="Do not wait for site operations.")
            command.add_argument("--timeout", type=float, default=600.0, help="Seconds to wait (default 600).")
    export = sub.add_parser("export", help="Print a tenant's definition as YAML.")
    export.add_argument("name")
    export.add_argument("-o", "--output")
    secret = sub.add_parser("secret", help="Tenant secrets: named, write-only values definitions refer to.")
    actions = secret.add_subparsers(dest="what", required=True)
    setting = actions.add_parser("set", help="Store a value (from standard input or --from-file).")
    setting.add_argument("name")
    setting.add_argument("--from-file")
    actions.add_parser("list", help="List the secrets' names (never their values).")
    deleting = actions.add_parser("delete", help="Delete a secret no env var refers to.")
    deleting.add_argument("name")
    return top


def _environment() -> tuple[str, str]:
    url, key = os.environ.get("AIPRESS_URL", ""), os.environ.get("AIPRESS_API_KEY", "")
    missing = [name for name, value in (("AIPRESS_URL", url), ("AIPRESS_API_KEY", key)) if not value]
    if missing:
        raise Failed(f"set {' and '.join(missing)} (the control plane's address and an API key)")
    return url, key


def _lines(failed: Failed) -> Iterator[str]:
    yield from failed.lines or ("failed",)


def main(argv: list[str] | None = None) -> NoReturn:
    args = parser().parse_args(argv)
    commands = {"plan": command_plan, "apply": command_apply, "export": command_export, "secret": command_secret}
    try:
        api = Api(*_environment())
        code = commands[args.command](api, args)
    except Failed as failed:
        for line in _lines(failed):
            print(f"aipress: {line}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)
