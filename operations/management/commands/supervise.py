import sys

from operations.supervisor import Supervisor, standard_children
from opscore.cli import OpsCommand


class Command(OpsCommand):
    help = (
        "Run the workers (one process per slot) and the django-q2 cluster, replacing any that "
        "dies, until SIGINT. `make run` does this beside the web server; run it alone on a "
        "machine that only works."
    )

    def handle(self, *args, **opts):
        sys.exit(Supervisor(standard_children()).run())
