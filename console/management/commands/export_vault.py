from pathlib import Path

from django.conf import settings

from console.vault import export_vault
from opscore.cli import REFUSED, OpsCommand, dump, fail, given_path


class Command(OpsCommand):
    help = "Write the Markdown vault (a one-way projection of the database) under --root."

    def add_arguments(self, parser):
        parser.add_argument("--root", default=None, help="default: OPS_VAULT_ROOT")
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="rewrite every file from the database (an edited file is kept as .edited.md)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        root = given_path("--root", opts["root"]) or Path(settings.OPS_VAULT_ROOT)
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not opts["json"]:
                self.stderr.write(f"Writing the vault under {root}…")
            counts = export_vault(root, rebuild=opts["rebuild"])
        except OSError as error:  # a root that cannot be made or written: the caller's to fix
            why = f"cannot write the vault under {root}: {error.strerror or error}"
            fail(why, as_json=opts["json"], code=REFUSED)
        if opts["json"]:
            self.stdout.write(dump({"root": str(root), **counts}))
            return
        parts = ", ".join(f"{k} {v}" for k, v in counts.items())
        self.stdout.write(f"Vault at {root}: {parts}")
