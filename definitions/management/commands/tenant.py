"""`manage.py tenant`: tenants by hand (create, list, suspend, resume, delete) and as code (plan,
apply, export). It lives in the definitions app, the one that may call every app below it."""

import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError

from definitions import selectors as definition_selectors
from definitions import services as definitions
from definitions.files import load_definitions
from definitions.models import ApplicationState
from definitions.parsing import DefinitionInvalid
from definitions.services import Planned
from definitions.spec import TenantSpec
from kernel.errors import ServiceError
from sites.models import UNFINISHED_STATES
from tenants import selectors, services
from tenants.audit import Actor
from tenants.cli import fail_on_service_error, wait_until_active
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create, list, suspend, resume and delete tenants; plan, apply and export their definitions."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a tenant and wait until it is active.")
        create.add_argument("slug")
        create.add_argument("--owner", required=True, help="Owner's email; the user is created if needed.")
        create.add_argument("--name", default="")
        create.add_argument("--timeout", type=float, default=60.0, help="Seconds to wait for the tenant.")
        create.add_argument("--no-wait", action="store_true", help="Return as soon as creation is queued.")
        sub.add_parser("list", help="List tenants.")
        suspend = sub.add_parser("suspend", help="Suspend a tenant.")
        suspend.add_argument("slug")
        suspend.add_argument("--reason", required=True)
        resume = sub.add_parser("resume", help="Resume a suspended tenant.")
        resume.add_argument("slug")
        delete = sub.add_parser("delete", help="Delete a tenant: its sites first, then its data.")
        delete.add_argument("slug")
        delete.add_argument("--confirm", required=True, help="The tenant's slug again.")
        for name, text in (
            ("plan", "Show what applying definitions would change, changing nothing."),
            ("apply", "Make tenants what their definitions say."),
        ):
            command = sub.add_parser(name, help=text)
            command.add_argument("-f", "--file", dest="path", required=True, help="A definition file or a folder.")
            command.add_argument(
                "--prune",
                action="store_true",
                help="Delete tenants once applied from a definition whose file is gone (else: listed, left alone).",
            )
            if name == "plan":
                command.add_argument(
                    "--exit-code", action="store_true", help="Exit 2 when there are changes (for CI), 0 when none."
                )
            else:
                command.add_argument("--timeout", type=float, default=300.0, help="Seconds to wait for new tenants.")
                command.add_argument("--no-wait", action="store_true", help="Do not wait for site operations.")
        export = sub.add_parser("export", help="Print a tenant's definition (YAML).")
        export.add_argument("slug")
        export.add_argument("-o", "--output", help="Write it to this file instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("cli")
        try:
            getattr(self, f"_{options['action']}")(actor, options)
        except DefinitionInvalid as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(exc.problems)} problem(s) found; nothing was changed.") from None
        except ServiceError as exc:
            raise fail_on_service_error(exc) from None

    def _tenant(self, slug: str) -> Tenant:
        tenant = selectors.tenant_get_by_slug(slug)
        if tenant is None:
            raise CommandError(f"No tenant “{slug}”; see `manage.py tenant list`.")
        return tenant

    def _create(self, actor: Actor, options: dict) -> None:
        owner = services.user_ensure(email=options["owner"], verified=False)
        tenant = services.tenant_create(actor=actor, slug=options["slug"], name=options["name"], owner=owner)
        if options["no_wait"]:
            self.stdout.write(f"{tenant.slug} queued: {tenant.portal_url}")
            return
        tenant = wait_until_active(tenant, options["timeout"])
        self.stdout.write(f"{tenant.slug} active: {tenant.portal_url}")

    def _list(self, actor: Actor, options: dict) -> None:
        rows = selectors.tenant_list()
        self.stdout.write(f"{'SLUG':<24} {'STATUS':<13} {'MEMBERS':>7}  NAME")
        for t in rows:
            self.stdout.write(f"{t.slug:<24} {t.status:<13} {t.member_count:>7}  {t.name}")

    def _suspend(self, actor: Actor, options: dict) -> None:
        tenant = services.tenant_suspend(actor=actor, tenant=self._tenant(options["slug"]), reason=options["reason"])
        self.stdout.write(f"{tenant.slug} suspended.")

    def _resume(self, actor: Actor, options: dict) -> None:
        tenant = services.tenant_resume(actor=actor, tenant=self._tenant(options["slug"]))
        self.stdout.write(f"{tenant.slug} active.")

    def _delete(self, actor: Actor, options: dict) -> None:
        tenant = services.tenant_delete(actor=actor, tenant=self._tenant(options["slug"]), confirm=options["confirm"])
        self.stdout.write(f"{tenant.slug} is being deleted: its sites first, then its data (the worker does it).")

    # --- Tenants as code ----------------------------------------------------------------------------

    def _plans(self, actor: Actor, specs: list[TenantSpec]) -> list[Planned]:
        """Every definition planned before anything is applied: one bad file changes nothing."""
        plans: list[Planned] = []
        problems = []
        for spec in specs:
            try:
                plans.append(definitions.definition_plan(actor=actor, spec=spec))
            except DefinitionInvalid as exc:
                problems.extend(exc.problems)
        if problems:
            raise DefinitionInvalid(problems)
        return plans

    def _unlisted(self, specs: list[TenantSpec]) -> list[str]:
        named = {spec.name for spec in specs}
        return [slug for slug in definition_selectors.managed_tenant_slugs() if slug not in named]

    def _show(self, planned: Planned) -> None:
        self.stdout.write(planned.plan.summary())
        for change in planned.plan.changes:
            self.stdout.write(f"  {change}")
        for warning in planned.warnings:
            self.stderr.write(f"  warning: {warning}")

    def _prune_needs_a_folder(self, options: dict) -> None:
        if options["prune"] and not Path(options["path"]).is_dir():
            raise CommandError(
                "--prune needs the folder of every definition: with one file, every other tenant would go."
            )

    def _plan(self, actor: Actor, options: dict) -> None:
        self._prune_needs_a_folder(options)
        specs = load_definitions(Path(options["path"]))
        plans = self._plans(actor, specs)
        for planned in plans:
            self._show(planned)
        unlisted = self._unlisted(specs)
        for slug in unlisted:
            verb = "would be DELETED (--prune)" if options["prune"] else "left alone (no file; --prune deletes it)"
            self.stdout.write(f"{slug}: {verb}")
        changed = any(planned.plan.changes for planned in plans) or (options["prune"] and unlisted)
        if options["exit_code"] and changed:
            sys.exit(2)

    def _apply(self, actor: Actor, options: dict) -> None:
        self._prune_needs_a_folder(options)
        specs = load_definitions(Path(options["path"]))
        self._plans(actor, specs)  # all or nothing: every file is checked before the first change
        operations: list[tuple[Tenant, dict]] = []
        for spec in specs:
            applied = definitions.definition_apply(actor=actor, spec=spec)
            self.stdout.write(applied.plan.summary())
            for change in applied.plan.changes:
                self.stdout.write(f"  {change}")
            application = applied.application
            if application.state == ApplicationState.WAITING:
                application = self._finish_creation(application.pk, options["timeout"])
            tenant = selectors.tenant_get_by_slug(spec.name)
            if tenant is not None:
                operations += [(tenant, entry) for entry in application.operations]
        unlisted = self._unlisted(specs)
        for slug in unlisted:
            if options["prune"]:
                definitions.definition_delete(actor=actor, name=slug)
                self.stdout.write(f"{slug}: deleting (its file is gone): its sites first, then its data")
            else:
                self.stdout.write(f"{slug}: left alone (no file; --prune deletes it)")
        if operations and not options["no_wait"]:
            self._wait_for(operations, options["timeout"])

    def _finish_creation(self, application_id: int, timeout: float) -> Any:
        """A new tenant: wait for its schema (the worker makes it), then apply the rest here."""
        deadline = time.monotonic() + timeout
        self.stdout.write("  waiting for the new organisation to be created (the worker does it)…")
        while time.monotonic() < deadline:
            application = definitions.application_continue(application_id=application_id)
            if application is not None and application.state != ApplicationState.WAITING:
                if application.state == ApplicationState.FAILED:
                    raise CommandError(application.error)
                for change in application.changes:
                    if change["kind"] != "tenant":
                        self.stdout.write(f"  applied: {change['kind']} {change['target']}: {change['detail']}")
                return application
            time.sleep(0.2)
        raise CommandError(f"The new organisation is not active after {timeout:.0f}s: is a Celery worker running?")

    def _wait_for(self, operations: list[tuple[Tenant, dict]], timeout: float) -> None:
        """Follow the site operations the definitions started, printing each as it ends."""
        from django_tenants.utils import tenant_context

        from sites.models import SiteOperation

        deadline = time.monotonic() + timeout
        pending = list(operations)
        self.stdout.write(f"following {len(pending)} site operation(s)…")
        failed = 0
        while pending and time.monotonic() < deadline:
            still = []
            for tenant, entry in pending:
                with tenant_context(tenant):
                    operation = SiteOperation.objects.filter(pk=entry["operation"]).first()
                if operation is not None and operation.state in UNFINISHED_STATES:
                    still.append((tenant, entry))
                    continue
                state = operation.state if operation is not None else "gone"
                failed += state == "failed"
                detail = f": {operation.error[:200]}" if operation is not None and operation.error else ""
                self.stdout.write(f"  {tenant.slug}/{entry['site']} {entry['kind']}: {state}{detail}")
            pending = still
            if pending:
                time.sleep(0.5)
        if pending:
            names = ", ".join(f"{t.slug}/{e['site']} {e['kind']}" for t, e in pending)
            raise CommandError(f"Still running after {timeout:.0f}s: {names} (is a Celery worker running?)")
        if failed:
            raise CommandError(f"{failed} site operation(s) failed; see above.")

    def _export(self, actor: Actor, options: dict) -> None:
        tenant = definitions.tenant_for_definition(actor=actor, name=options["slug"])
        state = definition_selectors.tenant_state(tenant)
        text = yaml.safe_dump(state.spec.document(), sort_keys=False, allow_unicode=True)
        for warning in state.warnings():
            self.stderr.write(f"warning: {warning}")
        if options.get("output"):
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"{tenant.slug} written to {options['output']}")
        else:
            self.stdout.write(text, ending="")
