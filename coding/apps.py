from django.apps import AppConfig


class CodingConfig(AppConfig):
    name = "coding"
