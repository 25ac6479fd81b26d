"""Staff act through Django model permissions, in the admin and on the JSON API alike.

`is_staff` only means "may log into the admin" (and is needed for any permission to count);
what a staff member may see and do there and on the API comes from the permissions of their
groups (the roles administrator, researcher and support, see
`energyleaf/users/services/roles.py`) or their own. A superuser holds every permission.

On the API, `HasModelPermission.of("app.codename", ...)` guards whole operations (the survey
tool's CSV, marking participants as exported); `model_permission_required` guards the paths that
read another household's data (`user=` / `sensor=` of another household) inside an operation
that households may call for their own data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def has_model_permissions(user: Any, *perms: str) -> bool:
    """Whether `user` is active staff holding every permission in `perms` (a superuser holds
    all). As in the admin, permissions count for staff only: a household account never reads
    other households' data, whatever permissions it was given, and is answered without a
    permission query."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not (getattr(user, "is_active", False) and getattr(user, "is_staff", False)):
        return False
    return bool(user.has_perms(perms))


def model_permission_required(user: Any, *perms: str, message: str | None = None) -> None:
    """Raise DRF's PermissionDenied (403) unless `user` holds every permission in `perms`."""
    if not has_model_permissions(user, *perms):
        raise PermissionDenied(message or "You do not have permission to do this.")


class HasModelPermission(BasePermission):
    """DRF permission: the caller must hold every model permission in `required`.

    Use `HasModelPermission.of("exports.download_experiment_csv")` in `permission_classes`; an
    anonymous caller is answered 401 by the authentication, an authenticated one without the
    permissions 403.
    """

    required: ClassVar[tuple[str, ...]] = ()
    message = "You do not have permission to do this."

    @classmethod
    def of(cls, *perms: str) -> type[HasModelPermission]:
        """A subclass requiring `perms` (each `app_label.codename`)."""
        if not perms:
            raise ValueError("HasModelPermission.of needs at least one permission.")
        name = "HasModelPermission_" + "_".join(p.replace(".", "_") for p in perms)
        return type(name, (cls,), {"required": tuple(perms)})

    def has_permission(self, request: Request, view: APIView) -> bool:
        return has_model_permissions(request.user, *self.required)
