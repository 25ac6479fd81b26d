"""Reads for sensors and readings.

`sensors`: the sensors themselves (re-exported here); `assignments`: whose data a reading is (a
sensor's households, period by period); `readings`: every read of the readings table from the
other apps, each applying those periods; `health`: what staff look after (silent sensors,
refusals per sensor, new meter events). Nothing outside the sensors app reads `Reading` directly.
"""

from .sensors import (
    household_sensor,
    household_sensors_held,
    sensor_latest_registers,
    sensors_with_last_reading,
)

__all__ = [
    "household_sensor",
    "household_sensors_held",
    "sensor_latest_registers",
    "sensors_with_last_reading",
]
