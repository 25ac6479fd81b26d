"""Back office of the exports: the record of participant exports, research dataset export jobs
(create, watch progress, download), and two actions attached to the users app's admins.

The users app is a lower layer and must not know about exports, so its admin classes are not
edited, subclassed or re-registered here: `admin_actions_attach` (called from
`ExportsConfig.ready()`, after the admin autodiscovery registered every ModelAdmin) appends the
export actions to the registered Household and ExperimentParticipation admins through the admin
site's public registry. Nothing in `energyleaf.users` imports exports.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from energyleaf.common.admin import admin_view_urls
from energyleaf.common.exceptions import NotFoundError
from energyleaf.users.models import ExperimentParticipation, Household, User
from exports import selectors, services
from exports.services import dataset as dataset_services

from .models import ExperimentExportMark, ExportJob


@admin.register(ExperimentExportMark)
class ExperimentExportMarkAdmin(admin.ModelAdmin[ExperimentExportMark]):
    list_display = ("participation", "exported_by", "exported_at")
    list_filter = ("exported_at",)
    list_select_related = ("participation__user", "exported_by")
    search_fields = ("participation__user__email",)
    readonly_fields = ("participation", "exported_by", "exported_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExportJobForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ExportJob
        fields = ("households", "start", "end", "include_readings", "include_sequences")


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin[ExportJob]):
    """Research dataset exports: added through the form (queued when saved), then read-only
    with their progress; finished files are downloaded through a staff-only, audited view."""

    form = ExportJobForm
    autocomplete_fields = ("households",)
    list_display = (
        "id",
        "status",
        "progress",
        "requested_by",
        "created_at",
        "finished_at",
        "size_bytes",
    )
    list_filter = ("status", "include_readings", "include_sequences")
    list_select_related = ("requested_by",)
    ordering = ("-created_at",)
    actions = ("run_again",)
    readonly_fields = (
        "status",
        "progress",
        "requested_by",
        "all_households",
        "households",
        "start",
        "end",
        "include_readings",
        "include_sequences",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "attempts",
        "error",
        "file_path",
        "size_bytes",
        "checksums",
        "downloads",
    )

    def _shown_fields(self, request: HttpRequest) -> tuple[str, ...]:
        """The job's fields; the download links only for those who may download."""
        if self.has_download_permission(request):
            return tuple(self.readonly_fields)
        return tuple(name for name in self.readonly_fields if name != "downloads")

    def get_fields(self, request: HttpRequest, obj: ExportJob | None = None) -> Any:
        if obj is None:
            return ExportJobForm.Meta.fields
        return self._shown_fields(request)

    def get_readonly_fields(self, request: HttpRequest, obj: ExportJob | None = None) -> Any:
        return () if obj is None else self._shown_fields(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a job is never edited; "Run again" starts it over

    def save_model(self, request: HttpRequest, obj: ExportJob, form: Any, change: bool) -> None:
        obj.requested_by = cast(User, request.user)
        obj.all_households = not form.cleaned_data["households"]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Queued after the admin's transaction commits, households included.
        dataset_services.export_job_enqueue(job_id=form.instance.pk)

    def delete_model(self, request: HttpRequest, obj: ExportJob) -> None:
        dataset_services.export_job_delete(job=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ExportJob]) -> None:
        for job in queryset:
            dataset_services.export_job_delete(job=job)

    @admin.display(description="progress")
    def progress(self, job: ExportJob) -> str:
        if job.rows_expected is None:
            return f"{job.rows_written:,} rows"
        share = 100 if not job.rows_expected else job.rows_written * 100 // job.rows_expected
        return f"{job.rows_written:,} / {job.rows_expected:,} rows ({share} %)"

    @admin.display(description="files")
    def downloads(self, job: ExportJob) -> str:
        if job.status != ExportJob.Status.SUCCEEDED:
            return "-"
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:exports_exportjob_download", args=(job.pk, name)), name)
                for name in sorted(job.checksums)
            ),
        )

    def has_run_again_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("exports.change_exportjob")

    def has_download_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("exports.download_exportjob")

    @admin.action(description="Run selected jobs again", permissions=["run_again"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[ExportJob]) -> None:
        for job in queryset:
            dataset_services.export_job_rerun(job=job)
        self.message_user(request, f"{queryset.count()} job(s) queued again.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:  # type: ignore[override]
        own = admin_view_urls(
            self,
            ("<int:job_id>/download/<str:name>/", self.download_view, "exports_exportjob_download"),
        )
        return own + super().get_urls()  # type: ignore[operator]

    def download_view(self, request: HttpRequest, job_id: int, name: str) -> FileResponse:
        """Stream one finished file to a staff member who may download export files (the admin
        site lets in active staff only); audited."""
        if not self.has_download_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ExportJob, pk=job_id)
        try:
            handle = dataset_services.export_job_file_open(
                job=job, name=name, user=cast(User, request.user)
            )
        except NotFoundError as error:
            raise Http404(error.message) from error
        return FileResponse(
            handle, as_attachment=True, filename=f"energyleaf-export-{job.pk}-{name}"
        )


def _may_create_export_jobs(request: HttpRequest) -> bool:
    return request.user.has_perm("exports.add_exportjob")


def _may_download_experiment_csv(request: HttpRequest) -> bool:
    return request.user.has_perm("exports.download_experiment_csv")


@admin.action(
    description="Export selected households' readings (research dataset)",
    permissions=["export_readings"],
)
def export_households_readings(
    modeladmin: admin.ModelAdmin[Household],
    request: HttpRequest,
    queryset: QuerySet[Household],
) -> HttpResponse | None:
    """One export job with the selected households' readings over their whole time (up to
    now)."""
    if not _may_create_export_jobs(request):
        raise PermissionDenied
    job = dataset_services.export_job_create(
        requested_by=cast(User, request.user),
        households=list(queryset),
        include_readings=True,
        include_sequences=False,
    )
    modeladmin.message_user(
        request,
        format_html("Export job {} queued for {} household(s).", job.pk, queryset.count()),
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:exports_exportjob_change", args=(job.pk,)))


@admin.action(
    description="Download experiment CSV of the selected participants",
    permissions=["download_experiment_csv"],
)
def download_experiment_csv(
    modeladmin: admin.ModelAdmin[ExperimentParticipation],
    request: HttpRequest,
    queryset: QuerySet[ExperimentParticipation],
) -> StreamingHttpResponse:
    """The survey tool's CSV (as `GET /api/v1/csv_experiment`) for the selected participations,
    whatever their status; changes nothing, recorded in the audit log."""
    if not _may_download_experiment_csv(request):
        raise PermissionDenied
    ids = sorted(queryset.values_list("pk", flat=True))
    services.experiment_csv_download_record(user=cast(User, request.user), participation_ids=ids)
    response = StreamingHttpResponse(
        selectors.experiment_csv_blocks(status=None, participation_ids=ids),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="experiment_selected_{stamp}.csv"'
    return response


def admin_actions_attach(site: admin.AdminSite) -> None:
    """Append the export actions to the registered Household and ExperimentParticipation admins,
    with the `has_<name>_permission` methods their `permissions` name (on the instances: the
    users app's classes stay untouched)."""
    for model, action, permission, check in (
        (Household, export_households_readings, "export_readings", _may_create_export_jobs),
        (
            ExperimentParticipation,
            download_experiment_csv,
            "download_experiment_csv",
            _may_download_experiment_csv,
        ),
    ):
        try:
            model_admin: Any = site.get_model_admin(model)
        except NotRegistered:
            continue
        setattr(model_admin, f"has_{permission}_permission", check)
        present = tuple(model_admin.actions or ())
        if action not in present:
            model_admin.actions = (*present, action)
