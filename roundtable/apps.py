from django.apps import AppConfig


class RoundtableConfig(AppConfig):
    name = "roundtable"
