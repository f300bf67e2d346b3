"""The local runtime: sites on this host, for real. Steps so far: database and files; the php-fpm
pool, nginx server block, WordPress install and health check join them (issue 3, in progress)."""

from sites.runtimes.base import SiteSpec, StepError
from sites.runtimes.local import database, files

SALT_NAMES = (
    "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
    "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
)  # fmt: skip


class LocalRuntime:
    name = "local"
    steps = ("database", "files")

    def secret_names(self) -> tuple[str, ...]:
        return ("DB_PASSWORD", *SALT_NAMES)

    def provision_step(self, step: str, spec: SiteSpec) -> str:
        if step == "database":
            database.ensure_database(spec.key, spec.secrets["DB_PASSWORD"])
            return f"database {database.database_name(spec.key)} with its own user"
        if step == "files":
            version = files.ensure_files(spec.key)
            return f"WordPress {version} laid out in {files.docroot(spec.key)}"
        raise StepError(f"The local runtime has no step {step!r}.")

    def missing(self, spec: SiteSpec) -> list[str]:
        present = {"database": database.database_exists(spec.key), "files": files.files_present(spec.key)}
        return [step for step in self.steps if not present[step]]

    def delete(self, spec: SiteSpec) -> None:
        database.drop_database(spec.key)
        files.remove_files(spec.key)
