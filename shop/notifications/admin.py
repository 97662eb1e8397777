from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "title", "read_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("title", "recipient__nickname")
    raw_id_fields = ("recipient",)
