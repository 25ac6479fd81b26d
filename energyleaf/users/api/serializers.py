from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import EUR, KWH, PRICE_PER_KWH
from energyleaf.common.time import validate_time_zone

from ..models import HOUSEHOLD_PROFILE_FIELDS, ExperimentParticipation, Household, User


class HouseholdOutputSerializer(serializers.ModelSerializer[Household]):
    base_price_per_month = RoundedNumberField(decimals=EUR, allow_null=True)
    working_price_per_kwh = RoundedNumberField(decimals=PRICE_PER_KWH, allow_null=True)
    advance_payment_per_month = RoundedNumberField(decimals=EUR, allow_null=True)
    daily_consumption_goal_kwh = RoundedNumberField(decimals=KWH, allow_null=True)

    class Meta:
        model = Household
        fields = [*HOUSEHOLD_PROFILE_FIELDS, "app_version"]
        read_only_fields = fields


MAIL_LANGUAGES = (("de", "German"), ("en", "English"))


class _OnlyKnownFields(serializers.Serializer[dict[str, Any]]):
    """Refuses fields it does not have, each with its own message, instead of ignoring them."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(str(key)[:64] for key in set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: ["This field cannot be changed here."] for key in unknown}
                )
        return dict(super().to_internal_value(data))


def _money(decimals: int, help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=10,
        decimal_places=decimals,
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        coerce_to_string=False,
        help_text=help_text,
    )


class HouseholdUpdateInputSerializer(_OnlyKnownFields):
    """Any subset of the household's own data; null empties an optional number. Each wrong
    field is answered with its own message (400, `extra.fields`)."""

    tariff = serializers.ChoiceField(choices=Household.Tariff.choices, required=False)
    base_price_per_month = _money(EUR, "€ per month, 0 or more.")
    working_price_per_kwh = _money(PRICE_PER_KWH, "€ per kWh, 0 or more.")
    advance_payment_per_month = _money(EUR, "€ per month, 0 or more.")
    household_size = serializers.IntegerField(
        min_value=1, max_value=50, allow_null=True, required=False, help_text="People, 1-50."
    )
    property_type = serializers.ChoiceField(
        choices=Household.Property.choices, allow_blank=True, required=False
    )
    living_space_m2 = serializers.IntegerField(
        min_value=1, max_value=100_000, allow_null=True, required=False, help_text="m²"
    )
    hot_water = serializers.ChoiceField(
        choices=Household.HotWater.choices, allow_blank=True, required=False
    )
    daily_consumption_goal_kwh = serializers.DecimalField(
        max_digits=10,
        decimal_places=3,
        min_value=Decimal("0.001"),
        allow_null=True,
        required=False,
        coerce_to_string=False,
        help_text="kWh per local day, above 0.",
    )
    meter_number = serializers.CharField(max_length=64, allow_blank=True, required=False)
    meter_type = serializers.ChoiceField(
        choices=Household.MeterType.choices, allow_blank=True, required=False
    )
    time_zone = serializers.CharField(
        max_length=64, required=False, help_text="IANA zone, e.g. Europe/Berlin."
    )
    language = serializers.ChoiceField(
        choices=MAIL_LANGUAGES, required=False, help_text="Language of mails."
    )
    receive_anomaly_mails = serializers.BooleanField(required=False)

    def validate_time_zone(self, value: str) -> str:
        try:
            validate_time_zone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(
                f"{value[:64]!r} is not a known time zone; use an IANA name such as Europe/Berlin."
            ) from exc
        return value


class MeUpdateInputSerializer(_OnlyKnownFields):
    """The parts of the caller's own data it may change: its household's data and settings."""

    household = HouseholdUpdateInputSerializer()


class ExperimentOutputSerializer(serializers.ModelSerializer[ExperimentParticipation]):
    class Meta:
        model = ExperimentParticipation
        fields = ["status", "installation_date", "deinstallation_date"]
        read_only_fields = fields


class MeOutputSerializer(serializers.ModelSerializer[User]):
    household = HouseholdOutputSerializer(read_only=True, allow_null=True)
    experiment = ExperimentOutputSerializer(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "username",
            "first_name",
            "last_name",
            "is_staff",
            "is_participant",
            "date_joined",
            "household",
            "experiment",
        ]
        read_only_fields = fields
