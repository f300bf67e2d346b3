"""The local runtime: sites on this host, for real (nginx, one php-fpm pool per site, MariaDB)."""

from sites.runtimes.local import database, files, health, install, pool, sandbox, server, system_user, webserver
from sites.spec import SALT_NAMES, Done, SiteSpec, StepError, StepResult

__all__ = ["SALT_NAMES", "LocalRuntime", "public_addresses"]


def public_addresses() -> list[tuple[str, str]]:
    """This host's public addresses, as the records a hostname served here needs."""
    from django.conf import settings

    found = [("A", settings.SITES_PUBLIC_IPV4)]
    return found + ([("AAAA", settings.SITES_PUBLIC_IPV6)] if settings.SITES_PUBLIC_IPV6 else [])


class LocalRuntime:
    name = "local"

    def ensure(self, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        if step == "database":
            database.ensure_database(spec.key, spec.secrets["DB_PASSWORD"])
            return Done(f"database {database.database_name(spec.key)} with its own user")
        if step == "files":
            version = files.ensure_files(spec.key)
            return Done(f"WordPress {version} laid out in {files.docroot(spec.key)}")
        if step == "pool":
            return Done(pool.ensure_pool(spec))
        if step == "server":
            return Done(webserver.ensure_server_block(spec, suspended=spec.suspended))
        if step == "install":
            installed = install.ensure_installed(spec)
            # The title may have changed, outside WordPress's own hooks (the plugin's purges): no page
            # kept with the old one may be served.
            webserver.purge_cache(spec, ())
            return Done(installed)
        if step == "health":
            return Done("suspended: WordPress is not asked" if spec.suspended else health.check(spec))
        raise StepError(f"The local runtime has no step {step!r}.")

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> None:
        if step == "install":
            install.end_previous_installer(spec.key)
        elif step == "server":
            webserver.remove_server_block(spec.key)
            webserver.remove_logs(spec.key)
        elif step == "pool":
            pool.remove_pool(spec.key)
        elif step == "files":
            files.remove_files(spec.key)
            system_user.remove_user(spec.key)
        elif step == "database":
            database.drop_database(spec.key)

    def status(self, step: str, spec: SiteSpec) -> bool:
        checks = {
            "database": lambda: database.database_exists(spec.key),
            "files": lambda: files.files_present(spec.key),
            "pool": lambda: pool.pool_present(spec.key),
            "server": lambda: webserver.server_block_present(spec.key),
        }
        # install and health leave nothing to look for that the steps above do not already cover.
        return checks[step]() if step in checks else True

    def cache_purge(self, spec: SiteSpec, urls: tuple[str, ...]) -> str:
        """Empty the site's full-page cache in nginx (sites.page_cache.CachePurging)."""
        return webserver.purge_cache(spec, urls)

    def wordpress_version(self, spec: SiteSpec) -> str:
        return files.wordpress_version()  # every local site runs Debian's WordPress

    def public_records(self, spec: SiteSpec) -> list[tuple[str, str]]:
        return public_addresses()

    def check(self) -> str:
        running = server.daemons_running()
        down = [name for name, up in running.items() if not up]
        if down:
            raise StepError(f"{' and '.join(down)} not running (`make run` starts them)")
        with database.admin_connection() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = database.one_value(cursor)
        sandboxed = "sandboxed" if sandbox.enforced() else "NOT sandboxed (the platform is not root)"
        return f"nginx and php-fpm running, {sandboxed}; MariaDB {version} at {database.sites_db_host()}"
