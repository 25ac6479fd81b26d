from __future__ import annotations

from typing import Any, TypeVar, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html

from energyleaf.common.admin import admin_view_urls

from .models import (
    AnomalyNotification,
    MailDelivery,
    Report,
    ReportDay,
    ReportSettings,
    StaffDigestMail,
    StudyMail,
    SurveyInvitation,
)
from .services.report_mails import report_mail_render, report_mails_resend

MailRow = TypeVar("MailRow", bound=MailDelivery)


class MailDeliveryAdmin(admin.ModelAdmin[MailRow]):
    """What the admin of every mail kind shares: its rows are written only by their services
    (read-only here: nothing to add or change; deleting only where `rows_deletable`), and on the
    change page the outbox's fields (`MailDelivery`) follow the row's own fields, before any
    computed ones."""

    rows_deletable = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.rows_deletable and super().has_delete_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        model_fields = {field.name for field in self.model._meta.get_fields()}
        mail = [name for name in fields if name in MailDelivery.MAIL_FIELDS]
        own = [name for name in fields if name in model_fields and name not in mail]
        computed = [name for name in fields if name not in model_fields]
        return [*own, *mail, *computed]


@admin.register(AnomalyNotification)
class AnomalyNotificationAdmin(MailDeliveryAdmin[AnomalyNotification]):
    """Read-only: rows are written only by the anomaly mail service."""

    list_display = (
        "id",
        "user",
        "sensor",
        "sequence",
        "mail_status",
        "mail_skip_reason",
        "mail_attempts",
        "created_at",
        "mail_sent_at",
    )
    list_filter = ("mail_status", "mail_skip_reason")
    list_select_related = ("user", "sensor", "sequence")
    search_fields = ("user__email", "sensor__client_id")
    raw_id_fields = ("user", "sensor", "sequence")
    show_full_result_count = False
    date_hierarchy = "created_at"


class ReportDayInline(admin.TabularInline[ReportDay, Report]):
    model = ReportDay
    fields = ("day", "consumption_kwh", "cost_eur", "goal_kwh", "exceeded", "progress_percent")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(MailDeliveryAdmin[Report]):
    """Read-only: reports are built only by the report service. The change page links to a
    preview of the report's mail; the "resend" action mails selected reports again (recorded in
    the audit log with the admin)."""

    rows_deletable = True

    list_display = (
        "id",
        "user",
        "first_day",
        "last_day",
        "status",
        "total_consumption_kwh",
        "total_cost_eur",
        "mail_status",
        "created_at",
    )
    list_filter = ("status", "no_data_reason", "mail_status")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
    readonly_fields = ("mail_preview",)
    show_full_result_count = False
    date_hierarchy = "period_start"
    inlines = (ReportDayInline,)
    actions = ("resend_mails",)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.change_report")

    @admin.display(description="Mail preview")
    def mail_preview(self, obj: Report) -> str:
        if obj.pk is None or obj.status != Report.Status.OK:
            return "-"
        url = reverse("admin:reports_report_mail_preview", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">Show the mail</a>', url)

    def get_urls(self) -> list[URLPattern]:
        preview = (
            "<int:report_id>/mail-preview/",
            self.mail_preview_view,
            "reports_report_mail_preview",
        )
        return [*admin_view_urls(self, preview), *super().get_urls()]

    def mail_preview_view(self, request: HttpRequest, report_id: int) -> HttpResponse:
        """The report's mail as the household would see it (charts as data: URLs); changes
        nothing and sends nothing."""
        report = Report.objects.select_related("user").filter(pk=report_id).first()
        if report is None or not self.has_view_permission(request, report):
            raise Http404("No such report.")
        if report.status != Report.Status.OK:
            raise Http404("A report without data has no mail.")
        if report.best_day is None or report.worst_day is None:
            # Only a row edited by hand gets here: the report service always sets both.
            raise Http404("This report lacks its best and worst day; generate it again.")
        rendered = report_mail_render(report=report, image_mode="data")
        response = HttpResponse(rendered.html, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = (
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        )
        return response

    @admin.action(description="Resend the report mail of selected reports", permissions=["resend"])
    def resend_mails(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        queued = report_mails_resend(report_ids=ids, actor_id=cast(int, request.user.pk))
        self.message_user(
            request,
            f"{queued} report mail(s) queued; {len(ids) - queued} report(s) without data skipped.",
            messages.SUCCESS if queued else messages.WARNING,
        )


@admin.register(ReportSettings)
class ReportSettingsAdmin(admin.ModelAdmin[ReportSettings]):
    """Admins change a household's report settings; the form validates ranges (1-7, 0-23)."""

    list_display = ("user", "receive_mails", "interval_days", "local_hour", "last_report_at")
    list_filter = ("receive_mails", "interval_days")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(MailDeliveryAdmin[SurveyInvitation]):
    """Read-only: invitations are created and mailed by the survey routine."""

    rows_deletable = True

    list_display = (
        "id",
        "user",
        "survey_number",
        "mail_status",
        "mail_attempts",
        "created_at",
        "mail_sent_at",
    )
    list_filter = ("survey_number", "mail_status")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
    show_full_result_count = False


@admin.register(StaffDigestMail)
class StaffDigestMailAdmin(MailDeliveryAdmin[StaffDigestMail]):
    """Read-only: the staff daily digest's mails, written only by its service (the digest's
    text is on the row's digest)."""

    list_display = (
        "id",
        "digest_day",
        "user",
        "mail_status",
        "mail_skip_reason",
        "mail_attempts",
        "created_at",
        "mail_sent_at",
    )
    list_filter = ("mail_status", "mail_skip_reason")
    list_select_related = ("user", "digest")
    search_fields = ("user__email",)
    raw_id_fields = ("user", "digest")
    readonly_fields = ("digest_window", "digest_text")
    show_full_result_count = False
    date_hierarchy = "created_at"

    @admin.display(description="day", ordering="digest__day")
    def digest_day(self, obj: StaffDigestMail) -> str:
        return obj.digest.day.isoformat()

    @admin.display(description="window (UTC)")
    def digest_window(self, obj: StaffDigestMail) -> str:
        return f"{obj.digest.window_start:%Y-%m-%d %H:%M} to {obj.digest.window_end:%Y-%m-%d %H:%M}"

    @admin.display(description="sections")
    def digest_text(self, obj: StaffDigestMail) -> str:
        return ", ".join(
            f"{section.get('title')}: {section.get('count')}" for section in obj.digest.sections
        )


@admin.register(StudyMail)
class StudyMailAdmin(MailDeliveryAdmin[StudyMail]):
    """Read-only: study workflow mails are queued with an admin's status change of a
    participation and mailed by the outbox; each row belongs to its transition."""

    list_display = (
        "id",
        "user",
        "kind",
        "dismissal_reason",
        "mail_status",
        "mail_attempts",
        "created_at",
        "mail_sent_at",
    )
    list_filter = ("kind", "dismissal_reason", "mail_status")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    raw_id_fields = ("user", "transition")
    show_full_result_count = False
