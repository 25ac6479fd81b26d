"""Household API of peaks, anomalies, devices and the device power estimation.

Households see and change only their own data; staff with the model's view permission (peaks:
`analytics.view_sequence`, devices: `analytics.view_device`, estimations:
`analytics.view_devicepowerestimation`) may read another household's with `?user=<id>`. Foreign
peaks and devices answer 404.
"""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers.devices import (
    DeviceCreateInputSerializer,
    DeviceOutputSerializer,
    DeviceUpdateInputSerializer,
    PeakDeviceAssignInputSerializer,
    PeakListInputSerializer,
    PeakOutputSerializer,
    PowerEstimationOutputSerializer,
    UserFilterInputSerializer,
)
from analytics.selectors import devices as selectors
from analytics.services import devices as services
from energyleaf.common.exceptions import NotFoundError
from energyleaf.common.permissions import model_permission_required

USER_PARAMETER = OpenApiParameter(
    "user", int, description="Another household's user id (staff with the view permission)."
)


def _target_user_id(request: Request, requested: int | None, *, perm: str) -> int:
    """The household to read: the caller's own, or `requested` for a caller holding `perm`."""
    own = cast(int, request.user.pk)
    if requested is None or requested == own:
        return own
    model_permission_required(request.user, perm)
    return requested


class PeakListView(APIView):
    """The household's peaks or anomalies starting in [start, end), with assigned devices and
    the classifier's top suggestions (an empty list for a household whose study arm is not in
    `ENERGYLEAF_SUGGESTION_ARMS`; staff reading another household see them all)."""

    @extend_schema(
        parameters=[PeakListInputSerializer],
        responses=PeakOutputSerializer(many=True),
        operation_id="peaks_list",
    )
    def get(self, request: Request) -> Response:
        params = PeakListInputSerializer(data=request.query_params, context={"request": request})
        params.is_valid(raise_exception=True)
        data = params.validated_data
        user_id = _target_user_id(request, data.get("user"), perm="analytics.view_sequence")
        sequences = selectors.household_sequences(
            user_id=user_id,
            start=data["start"],
            end=data["end"],
            kind=data["kind"],
            # A household sees suggestions only if its study arm does; staff see them all.
            for_household=user_id == request.user.pk,
        )
        return Response(PeakOutputSerializer(sequences, many=True).data)


class PeakDeviceAssignView(APIView):
    """Assign one of the household's devices to one of its peaks (idempotent)."""

    @extend_schema(
        request=PeakDeviceAssignInputSerializer,
        responses={201: PeakOutputSerializer, 200: PeakOutputSerializer},
        operation_id="peak_devices_assign",
    )
    def post(self, request: Request, peak_id: int) -> Response:
        body = PeakDeviceAssignInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user_id = cast(int, request.user.pk)
        created = services.device_assign_to_peak(
            user=request.user,  # type: ignore[arg-type]
            device_id=body.validated_data["device_id"],
            sequence_id=peak_id,
        )
        peak = selectors.household_sequence_get(user_id=user_id, sequence_id=peak_id)
        return Response(
            PeakOutputSerializer(peak).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PeakDeviceUnassignView(APIView):
    """Remove a device from a peak (idempotent)."""

    @extend_schema(responses={204: None}, operation_id="peak_devices_unassign")
    def delete(self, request: Request, peak_id: int, device_id: int) -> Response:
        services.device_unassign_from_peak(
            user=request.user,  # type: ignore[arg-type]
            device_id=device_id,
            sequence_id=peak_id,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceListCreateView(APIView):
    """The household's devices; create one."""

    @extend_schema(
        parameters=[USER_PARAMETER],
        responses=DeviceOutputSerializer(many=True),
        operation_id="devices_list",
    )
    def get(self, request: Request) -> Response:
        params = UserFilterInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        user_id = _target_user_id(
            request, params.validated_data.get("user"), perm="analytics.view_device"
        )
        devices = selectors.household_devices(user_id=user_id)
        return Response(DeviceOutputSerializer(devices, many=True).data)

    @extend_schema(
        request=DeviceCreateInputSerializer,
        responses={201: DeviceOutputSerializer},
        operation_id="devices_create",
    )
    def post(self, request: Request) -> Response:
        body = DeviceCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        device = services.device_create(
            user=request.user,  # type: ignore[arg-type]
            **body.validated_data,
        )
        return Response(DeviceOutputSerializer(device).data, status=status.HTTP_201_CREATED)


class DeviceDetailView(APIView):
    """One of the household's devices: read, change, delete."""

    @extend_schema(responses=DeviceOutputSerializer, operation_id="devices_retrieve")
    def get(self, request: Request, device_id: int) -> Response:
        device = selectors.household_device_get(
            user_id=cast(int, request.user.pk), device_id=device_id
        )
        return Response(DeviceOutputSerializer(device).data)

    @extend_schema(
        request=DeviceUpdateInputSerializer,
        responses=DeviceOutputSerializer,
        operation_id="devices_update",
    )
    def patch(self, request: Request, device_id: int) -> Response:
        body = DeviceUpdateInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        device = services.device_update(
            user=request.user,  # type: ignore[arg-type]
            device_id=device_id,
            data=body.validated_data,
        )
        return Response(DeviceOutputSerializer(device).data)

    @extend_schema(responses={204: None}, operation_id="devices_destroy")
    def delete(self, request: Request, device_id: int) -> Response:
        services.device_delete(
            user=request.user,  # type: ignore[arg-type]
            device_id=device_id,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceEstimationView(APIView):
    """The household's latest device power estimation with its devices' powers."""

    @extend_schema(
        parameters=[USER_PARAMETER],
        responses=PowerEstimationOutputSerializer,
        operation_id="devices_estimation_retrieve",
    )
    def get(self, request: Request) -> Response:
        params = UserFilterInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        user_id = _target_user_id(
            request, params.validated_data.get("user"), perm="analytics.view_devicepowerestimation"
        )
        estimation = selectors.power_estimation_latest(user_id=user_id)
        if estimation is None:
            raise NotFoundError("No device power estimation yet.")
        devices = selectors.household_devices(user_id=user_id).filter(is_power_estimated=True)
        return Response(
            PowerEstimationOutputSerializer(estimation, context={"devices": devices}).data
        )
