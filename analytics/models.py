"""Analytics data: detected sequences (peaks, anomalies), devices and their peaks, device-category
suggestions, device power estimations and 15-minute consumption rollups."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from energyleaf.common.models import TimestampedModel
from energyleaf.common.numbers import PROBABILITY, REGISTER, format_fixed
from sensors.models import Sensor
from sensors.selectors.assignments import household_key_at


class DeviceCategory(models.TextChoices):
    """The reference's 27 device categories (keys as the old platform stored them)."""

    STOVETOP = "stovetop", "Stovetop"
    OVEN = "oven", "Oven"
    FRIDGE = "fridge", "Fridge"
    FREEZER = "freezer", "Freezer"
    MICROWAVE = "microwave", "Microwave"
    KETTLE = "kettle", "Kettle"
    TOASTER = "toaster", "Toaster"
    COFFEE_MACHINE = "coffeeMachine", "Coffee machine"
    AIR_FRYER = "airFryer", "Air fryer"
    BLENDER = "blender", "Blender"
    DISHWASHER = "dishwasher", "Dishwasher"
    WASHING_MACHINE = "washingMachine", "Washing machine"
    DRYER = "dryer", "Dryer"
    VACUUM_CLEANER = "vacuumCleaner", "Vacuum cleaner"
    IRON = "iron", "Iron"
    TVS_AND_MONITORS = "tvsAndMonitors", "TVs and monitors"
    ENTERTAINMENT_AND_COMPUTERS = "entertainmentAndComputers", "Entertainment and computers"
    HAIR_DRYER = "hairDryer", "Hair dryer"
    BODY_CARE = "bodyCare", "Body care"
    HEATER_FAN = "heaterFan", "Heater fan"
    ELECTRIC_HEATER = "electricHeater", "Electric heater"
    AIR_CONDITIONING = "airConditioning", "Air conditioning"
    HEAT_PUMP = "heatPump", "Heat pump"
    LIGHTING = "lighting", "Lighting"
    E_CAR = "eCar", "E-car"
    E_MOBILITY = "eMobility", "E-mobility"
    OTHERS = "others", "Others"


class Sequence(models.Model):
    """A run of consumption clearly above a sensor's usual level: a peak, or a much larger
    anomaly. Times are UTC; powers in W (`average_peak_power_w` is above the base load),
    energy in kWh. Unique per sensor, kind and start, so re-running detection never duplicates."""

    class Kind(models.TextChoices):
        PEAK = "peak", "Peak"
        ANOMALY = "anomaly", "Anomaly"

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="sequences")
    # Whose readings it was detected in (`SensorAssignment.household_key`, 0: outside every
    # period): detection never spans two households' periods.
    household_key = models.BigIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    start = models.DateTimeField()
    end = models.DateTimeField()
    average_power_w = models.FloatField()
    average_peak_power_w = models.FloatField()
    energy_kwh = models.FloatField()
    base_load_w = models.FloatField(null=True, blank=True)
    detected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["sensor", "kind", "start"], name="sequence_once"),
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="sequence_ends_after_start"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["sensor", "kind", "end"], name="sequence_sensor_kind_end"),
            models.Index(fields=["kind", "start"], name="sequence_kind_start"),
            models.Index(fields=["household_key", "kind", "start"], name="sequence_household"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.sensor_id} {self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saved without a household, a sequence gets the one that held the sensor at its start
        (detection passes it; this covers every other way of creating one)."""
        if not self.household_key and self.sensor_id is not None and self.start is not None:
            self.household_key = household_key_at(sensor_id=self.sensor_id, moment=self.start)
        super().save(*args, **kwargs)


class Device(TimestampedModel):
    """A household's appliance. `power_w` is entered by the household or, with
    `is_power_estimated`, estimated from the peaks it was assigned to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices"
    )
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=32, choices=DeviceCategory.choices)
    power_w = models.FloatField(null=True, blank=True, help_text="W")
    is_power_estimated = models.BooleanField(default=True)
    weekly_usage_hours = models.FloatField(null=True, blank=True, help_text="hours per week")
    peaks: models.ManyToManyField[Sequence, DevicePeak] = models.ManyToManyField(
        Sequence, through="DevicePeak", related_name="devices"
    )

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "category"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.category})"


class DevicePeak(models.Model):
    """A household confirmed that `device` ran during `sequence`."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE)
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["device", "sequence"], name="device_peak_once"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} in {self.sequence_id}"


class DeviceSuggestion(models.Model):
    """A classifier's suggestion that a category caused a peak, with its probability (0..1) and
    the model version that made it. One row per peak, category and model version."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="suggestions")
    category = models.CharField(max_length=32, choices=DeviceCategory.choices)
    probability = models.FloatField()
    model_version = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["sequence", "category", "model_version"], name="suggestion_once"
            ),
        ]
        permissions: ClassVar = [
            ("classify_peaks", "Can classify peaks through the ML API (/api/v1/ml)"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.category} {format_fixed(self.probability, PROBABILITY)} for {self.sequence_id}"
        )


class DevicePowerEstimation(models.Model):
    """One run of the device power estimation for a household (least squares over its peaks)."""

    class Quality(models.TextChoices):
        WELL = "well", "Well"
        SUFFICIENT = "sufficient", "Sufficient"
        INSUFFICIENT = "insufficient", "Insufficient"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="power_estimations"
    )
    r_squared = models.FloatField(null=True, blank=True)
    quality = models.CharField(max_length=16, choices=Quality.choices)
    peaks_used = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} R²={format_fixed(self.r_squared, PROBABILITY)} ({self.quality})"


class ConsumptionRollup(models.Model):
    """A sensor's readings summed per 15 minutes (UTC buckets), kept up to date incrementally.

    Every real time zone's hours and days are whole multiples of 15 minutes, so local hours,
    days (23 or 25 hours at DST changes), weeks and months are sums of these buckets.
    Registers in kWh (m³ for gas/water); power in W from `value_current`.
    """

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="rollups")
    bucket_start = models.DateTimeField()
    # Whose readings these are (`SensorAssignment.household_key`, 0: outside every period): a
    # bucket that straddles a reassignment has one row per household.
    household_key = models.BigIntegerField(default=0)
    consumption = models.DecimalField(max_digits=30, decimal_places=6)
    inserted = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    readings = models.PositiveIntegerField()
    power_sum_w = models.FloatField(default=0)
    power_count = models.PositiveIntegerField(default=0)
    power_max_w = models.FloatField(null=True, blank=True)
    power_min_w = models.FloatField(null=True, blank=True)
    value_min = models.DecimalField(max_digits=30, decimal_places=6, null=True)
    value_max = models.DecimalField(max_digits=30, decimal_places=6, null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["sensor", "bucket_start", "household_key"], name="rollup_once_per_household"
            ),
        ]

    def __str__(self) -> str:
        consumption = format_fixed(self.consumption, REGISTER)
        return f"{self.sensor_id} {self.bucket_start:%Y-%m-%d %H:%M} {consumption}"


ROLLUP_STATE_NAME = "consumption_rollups"


class RollupState(models.Model):
    """Progress of a periodic job over received readings, one row per `name`: `watermark` is the
    `Reading.received_at` from which the next incremental rollup refresh reads (with overlap)."""

    name = models.CharField(max_length=64, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    # Every reading received before this instant is in the rollups (the `now` of the last
    # successful refresh less the commit overlap); readers that need complete sums check it.
    covers_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} from {self.watermark}"


class DetectionState(models.Model):
    """What detection keeps of a sensor between runs: every reading of the sensor with
    `span_start` <= timestamp < `span_end` (whoever's it is; each run cuts it by the assignment
    periods), as packed arrays (`analytics.compute.detection.state_pack`).

    It holds every such reading received before `checked_at` less the commit overlap; a run
    that finds a reading of the span received later (a late arrival) reads the sensor afresh.
    A cache: deleting a row only makes the next run read the whole 24.5 h again.
    """

    sensor = models.OneToOneField(
        Sensor, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    span_start = models.DateTimeField()
    span_end = models.DateTimeField()
    checked_at = models.DateTimeField()
    readings = models.PositiveIntegerField()
    times = models.BinaryField()
    consumption = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sensor_id} [{self.span_start:%Y-%m-%d %H:%M}, {self.span_end:%H:%M})"
