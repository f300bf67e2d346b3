"""The local runtime: sites on this host, for real (nginx, one php-fpm pool per site, MariaDB)."""

from sites.runtimes.base import SiteSpec, StepError
from sites.runtimes.local import database, files, health, install, pool, system_user, webserver

SALT_NAMES = (
    "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
    "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
)  # fmt: skip


class LocalRuntime:
    name = "local"
    steps = ("database", "files", "php_pool", "web_server", "wordpress_install", "health_check")

    def secret_names(self) -> tuple[str, ...]:
        return ("DB_PASSWORD", *SALT_NAMES)

    def provision_step(self, step: str, spec: SiteSpec) -> str:
        if step == "database":
            database.ensure_database(spec.key, spec.secrets["DB_PASSWORD"])
            return f"database {database.database_name(spec.key)} with its own user"
        if step == "files":
            version = files.ensure_files(spec.key)
            return f"WordPress {version} laid out in {files.docroot(spec.key)}"
        if step == "php_pool":
            return pool.ensure_pool(spec)
        if step == "web_server":
            return webserver.ensure_server_block(spec)
        if step == "wordpress_install":
            return install.install_wordpress(spec)
        if step == "health_check":
            return health.check(spec)
        raise StepError(f"The local runtime has no step {step!r}.")

    def wordpress_version(self, spec: SiteSpec) -> str:
        return files.wordpress_version()  # every local site runs Debian's WordPress

    def status(self, spec: SiteSpec) -> dict[str, bool]:
        return {
            "database": database.database_exists(spec.key),
            "files": files.files_present(spec.key),
            "php_pool": pool.pool_present(spec.key),
            "web_server": webserver.server_block_present(spec.key),
        }

    def missing(self, spec: SiteSpec) -> list[str]:
        return [step for step, present in self.status(spec).items() if not present]

    def update(self, spec: SiteSpec) -> str:
        """Apply title and scaling to the running site: the pool (max workers) and WordPress's title."""
        return f"{pool.ensure_pool(spec)}; {install.set_title(spec)}"

    def apply_env(self, spec: SiteSpec) -> str:
        # php-fpm's graceful reload: requests in flight finish; other sites are not interrupted.
        return pool.ensure_pool(spec)

    def suspend(self, spec: SiteSpec) -> None:
        webserver.ensure_server_block(spec, suspended=True)

    def resume(self, spec: SiteSpec) -> None:
        webserver.ensure_server_block(spec, suspended=False)

    def delete(self, spec: SiteSpec) -> None:
        install.end_previous_installer(spec.key)
        webserver.remove_server_block(spec.key)
        pool.remove_pool(spec.key)
        database.drop_database(spec.key)
        files.remove_files(spec.key)
        webserver.remove_logs(spec.key)
        system_user.remove_user(spec.key)
