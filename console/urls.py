"""The merchant console's pages (``/console/``), one module per page under ``pages/``."""

from django.urls import path

from .pages import home, language, signin, staff

app_name = "console"

urlpatterns = [
    path("", home.home, name="home"),
    path("signin", signin.signin, name="signin"),
    path("signin/callback", signin.signin_callback, name="signin_callback"),
    path("signout", signin.signout, name="signout"),
    path("language", language.language, name="language"),
    path("staff/", staff.staff_list, name="staff"),
    path("staff/invite", staff.staff_invite, name="staff_invite"),
    path("staff/<int:staff_id>/remove", staff.staff_remove, name="staff_remove"),
    path("staff/leave", staff.staff_leave, name="staff_leave"),
]
