from django.apps import AppConfig


class GroupstoreConfig(AppConfig):
    name = "groupstore"
