"""The merchant console's pages (``/console/``), one module per page under ``pages/``."""

from django.urls import path

from .pages import home, signin

app_name = "console"

urlpatterns = [
    path("", home.home, name="home"),
    path("signin", signin.signin, name="signin"),
    path("signout", signin.signout, name="signout"),
]
