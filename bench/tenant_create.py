"""Time to a usable tenant: cloning the template schema versus running the tenant migrations.

Measured with 0 and with 200 tenants already present, on a fresh database of its own. "Usable"
means what the portal waits for: the tenant row, domain and owner exist and the status is active.

    .venv/bin/python bench/tenant_create.py [--clones 20] [--migrations 10] [--existing 200]

Target (issue 2): cloning p95 at most 2 s, and at least 5 times faster than migrating.
"""

import argparse
import time

from _setup import django_on, fresh_database, percentile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clones", type=int, default=20)
    parser.add_argument("--migrations", type=int, default=10)
    parser.add_argument("--existing", type=int, default=200)
    args = parser.parse_args()

    django_on(fresh_database("aipress_bench_tenants"))

    from django.db import transaction
    from django.utils import timezone

    from tenants import services
    from tenants.audit import Actor
    from tenants.models import Tenant, TenantStatus, User
    from tenants.schema import migrate_tenant_schema

    owner = User.objects.create_user(email="bench@example.com")
    actor = Actor.system("bench")
    counter = iter(range(10**6))

    def by_clone() -> float:
        start = time.perf_counter()
        tenant = services.tenant_create(actor=actor, slug=f"bench-c{next(counter)}", name="bench", owner=owner)
        services.tenant_provision(tenant_id=tenant.pk)
        elapsed = time.perf_counter() - start
        assert Tenant.objects.get(pk=tenant.pk).status == TenantStatus.ACTIVE
        return elapsed

    def by_migration() -> float:
        # The same rows as the service makes, but the schema comes from running every migration.
        start = time.perf_counter()
        tenant = services.tenant_create(actor=actor, slug=f"bench-m{next(counter)}", name="bench", owner=owner)
        migrate_tenant_schema(tenant.schema_name)
        with transaction.atomic():
            Tenant.objects.filter(pk=tenant.pk).update(status=TenantStatus.ACTIVE, activated_at=timezone.now())
        return time.perf_counter() - start

    rows = []
    for existing in (0, args.existing):
        present = Tenant.objects.count()
        if present < existing:
            print(f"creating {existing - present} tenants to start from {existing} ...", flush=True)
            for _ in range(existing - present):
                by_clone()
        clone_times = [by_clone() for _ in range(args.clones)]
        migrate_times = [by_migration() for _ in range(args.migrations)]
        rows.append((existing, "clone template", clone_times))
        rows.append((existing, "run migrations", migrate_times))

    print()
    print(f"{'existing':>8}  {'method':<15} {'n':>3} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for existing, method, times in rows:
        print(
            f"{existing:>8}  {method:<15} {len(times):>3} {percentile(times, 50):>7.3f} "
            f"{percentile(times, 95):>7.3f} {max(times):>7.3f}"
        )
    print()
    for existing in (0, args.existing):
        clone = next(t for e, m, t in rows if e == existing and m.startswith("clone"))
        migrate = next(t for e, m, t in rows if e == existing and m.startswith("run"))
        ratio50 = percentile(migrate, 50) / percentile(clone, 50)
        ratio95 = percentile(migrate, 95) / percentile(clone, 95)
        ok = percentile(clone, 95) <= 2.0 and ratio50 >= 5
        print(
            f"{existing:>4} tenants present: cloning is {ratio50:.1f}x faster at p50, {ratio95:.1f}x at p95; "
            f"clone p95 {percentile(clone, 95):.3f} s  -> target {'met' if ok else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
