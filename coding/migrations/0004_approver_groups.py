"""The groups that carry the decision permissions: "approvers" (proposals, code) and "release
managers" (merges, deploys, production config). Permissions are made here, not left to
post_migrate, because the groups need them now."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SEE = ["missions.view_proposal", "coding.view_codingrun"]  # to read what they decide
GROUPS = {
    "approvers": [*SEE, "missions.approve_proposal", "coding.approve_code"],
    "release managers": [
        *SEE,
        "coding.approve_merge",
        "coding.approve_deploy",
        "coding.approve_prod_config",
    ],
}


def make_groups(apps, schema_editor):
    for label in ("missions", "coding"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def drop_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("coding", "0003_approvals_bound_and_permissions"),
        ("missions", "0033_approvals_bound_to_content"),
    ]

    operations = [migrations.RunPython(make_groups, drop_groups)]
