import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sites.runtimes.local import sandbox, server, system_user


class Command(BaseCommand):
    help = "Run the local site runtime's nginx or php-fpm master in the foreground (used by the Procfile)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("daemon", choices=["nginx", "php-fpm"])

    def handle(self, *args: Any, **options: Any) -> None:
        server.render_main_configs()
        command = server.nginx_command() if options["daemon"] == "nginx" else server.php_fpm_command()
        problem = server.nginx_test() if options["daemon"] == "nginx" else server.php_fpm_test()
        if problem:
            raise CommandError(f"{options['daemon']} configuration is invalid: {problem}")
        if options["daemon"] == "php-fpm":
            # The packet filter does not survive a reboot: put every existing site behind it again.
            sandbox.firewall_install(system_user.existing_site_uids())
        # Replaces this process, as a process manager expects, with none of the platform's environment.
        os.execvpe(command[0], command, server.DAEMON_ENVIRONMENT)  # noqa: S606
