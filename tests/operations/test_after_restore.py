"""What a restore leaves for what comes after it: the restore's own row says all that happened
(the app role's hand-back too), and the drill drills a file that is there."""

import psycopg
import pytest

from operations import restore
from operations.backups import take_backup
from operations.management.commands.restore import HAND_BACK_FAILED
from opscore.cli import main
from opscore.models import BackupRun
from tests.operations.conftest import working_on


@pytest.fixture(autouse=True)
def quiet_checks(settings):
    settings.SILENCED_SYSTEM_CHECKS = ["opscore.W001", "opscore.W002", "opscore.W003"]


def test_a_restore_whose_hand_back_fails_says_so_in_its_row_and_exit_code(
    scratch, tmp_path, capsys, monkeypatch
):
    """The data was restored, then handing its objects back to the app role failed: the
    operator got one error line and no row, and could not tell a restore that happened from
    one that did not."""
    backup = take_backup(actor="t", directory=tmp_path)

    def refused(database):
        raise psycopg.errors.InsufficientPrivilege("must be owner of database")

    monkeypatch.setattr(restore, "hand_back_to_app_role", refused)
    with working_on(scratch):
        with pytest.raises(SystemExit) as exited:
            main(["opscore", "restore", "--from", backup.path, "--yes"])
        row = BackupRun.objects.get(kind="restore")

    assert exited.value.code == HAND_BACK_FAILED
    assert row.status == "succeeded" and row.path == backup.path
    assert "hand-back to the app role failed" in row.error
    assert "must be owner of database" in row.error
    assert "must be owner of database" in capsys.readouterr().err
