from __future__ import annotations

from rest_framework import serializers

from energyleaf.common.fields import RoundedNumberField
from energyleaf.common.numbers import EUR, KWH, PRICE_PER_KWH

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
