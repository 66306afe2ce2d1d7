from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin with the operator's console as its default site."""

    default_site = "console.admin_site.OpscoreAdminSite"
