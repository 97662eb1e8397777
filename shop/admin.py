from django.contrib import admin

from .models import IdempotencyKey

admin.site.site_header = "Group-buy shop operations"
admin.site.site_title = "Shop ops"
admin.site.index_title = "Operations"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("endpoint", "key", "user", "status", "response_status", "created_at")
    list_filter = ("endpoint", "status")
    search_fields = ("key",)
    readonly_fields = [f.name for f in IdempotencyKey._meta.fields]
