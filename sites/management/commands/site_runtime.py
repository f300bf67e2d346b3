import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sites.runtimes.local import server


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
        os.execvp(command[0], command)  # noqa: S606 - replaces this process, as a process manager expects
