"""An old-platform database for the import's tests and benchmark: create and drop it on the test
server, build its schema (`oldschema.sql`) and fill it with generated data.

`fill_scenario` writes a small platform with every case the import must handle: a sensor
reassigned from one household to another (its former `sensor_id` in `sensor_history`), a meter
reset, duplicate-looking rows (the same row `id`, the same value a millisecond apart), an
implausible power value, an analog sensor (revolutions per kWh as its script), a gas sensor,
MACs in several spellings, users without any data, peaks, anomalies, devices, suggestions and
reports. `fill_readings` adds bulk readings with SQL alone (the benchmark's millions).
Plain functions on psycopg connections; no Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import argon2
import bcrypt
import psycopg
from psycopg import sql

SCHEMA = Path(__file__).with_name("oldschema.sql")
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def url_with_database(url: str, name: str) -> str:
    """`url` (postgres://…/db) pointing at database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_create(server_url: str, name: str) -> str:
    """Create (drop first if left over) database `name` on the server of `server_url`; its URL."""
    with psycopg.connect(url_with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_with_database(server_url, name)


def database_drop(server_url: str, name: str) -> None:
    with psycopg.connect(url_with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def schema_create(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())  # type: ignore[call-overload]


def argon2id_hash(password: str) -> str:
    """A hash as the old platform wrote it (`$argon2id$v=19$m=19456,t=2,p=1$…`)."""
    return argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(password)


def bcrypt_hash(password: str, prefix: bytes = b"2b") -> str:
    """A legacy bcrypt hash (`$2a$…` or `$2b$…`), cheap cost for the tests."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=prefix)).decode()


def fill_readings(
    conn: psycopg.Connection,
    *,
    sensor_id: str,
    start: datetime,
    count: int,
    step_seconds: int = 60,
    start_value: float = 1000.0,
    increment: float = 0.004,
    with_power: bool = True,
    with_out: bool = False,
) -> None:
    """`count` plausible readings of `sensor_id` every `step_seconds` from `start`, with the
    consumption the old platform stored (the rise since the previous row; 0 for the first)."""
    conn.execute(
        """
        INSERT INTO sensor_data
            (id, sensor_id, value, consumption, value_out, inserted, value_current, "timestamp")
        SELECT substr(md5(%(sid)s || i::text), 1, 35), %(sid)s,
               %(v0)s + %(inc)s * i + 0.001 * ((i * 7919) %% 3),
               CASE WHEN i = 0 THEN 0
                    ELSE %(inc)s + 0.001 * (((i * 7919) %% 3) - (((i - 1) * 7919) %% 3)) END,
               CASE WHEN %(out)s THEN 10 + 0.001 * i END,
               CASE WHEN %(out)s AND i > 0 THEN 0.001 END,
               CASE WHEN %(power)s THEN 150 + ((i * 37) %% 900) END,
               %(t0)s + make_interval(secs => i * %(step)s)
        FROM generate_series(0::bigint, %(n)s - 1) AS i
        """,
        {
            "sid": sensor_id,
            "v0": start_value,
            "inc": increment,
            "out": with_out,
            "power": with_power,
            "t0": start,
            "step": step_seconds,
            "n": count,
        },
    )


@dataclass
class Scenario:
    """What `fill_scenario` wrote, for the test's expectations."""

    passwords: dict[str, str] = field(default_factory=dict)  # old user id -> password
    emails: dict[str, str] = field(default_factory=dict)  # old user id -> e-mail
    macs: dict[str, str] = field(default_factory=dict)  # name -> MAC as written in the source
    readings: int = 0


def _user(conn: psycopg.Connection, scenario: Scenario, user_id: str, email: str, **row: object):  # type: ignore[no-untyped-def]
    password = f"old password of {user_id[:6]}"
    hashed = row.pop("hash_kind", "argon2")
    if hashed == "argon2":
        password_hash = argon2id_hash(password)
    else:
        password_hash = bcrypt_hash(password, prefix=str(hashed).encode())
    values = {
        "id": user_id,
        "created": T0 - timedelta(days=60),
        "email": email,
        "username": email.split("@")[0],
        "password": password_hash,
        "is_active": True,
        **row,
    }
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in values)
    placeholders = sql.SQL(", ").join(sql.Placeholder() * len(values))
    conn.execute(
        sql.SQL('INSERT INTO "user" ({}) VALUES ({})').format(columns, placeholders),
        list(values.values()),
    )
    scenario.passwords[user_id] = password
    scenario.emails[user_id] = email.lower()


# Old user ids (genId(30): 30 letters and digits) of the scenario's people.
ALICE = "aliceAAAAAAAAAAAAAAAAAAAAAAAA1"
BOB = "bobBBBBBBBBBBBBBBBBBBBBBBBBBB2"
CAROL = "carolCCCCCCCCCCCCCCCCCCCCCCCC3"
DAVE = "daveDDDDDDDDDDDDDDDDDDDDDDDDD4"
EVE = "eveEEEEEEEEEEEEEEEEEEEEEEEEEE5"


def fill_scenario(url: str, *, readings_per_sensor: int = 240) -> Scenario:
    """The small old platform described in the module docstring."""
    scenario = Scenario()
    n = readings_per_sensor
    with psycopg.connect(url) as conn:
        _user(
            conn,
            scenario,
            ALICE,
            "Alice@Example.org",
            is_participant=True,
            app_version=2,
            firstname="Alice",
            lastname="Anders",
            onboarding_completed=True,
            activation_date=T0 - timedelta(days=30),
        )
        _user(
            conn,
            scenario,
            BOB,
            "bob@example.org",
            hash_kind="2a",
            app_version=1,
            receive_anomaly_mails=False,
            is_participant=True,
        )
        _user(conn, scenario, CAROL, "carol@example.org", hash_kind="2b", is_participant=True)
        _user(conn, scenario, DAVE, "dave@example.org", is_active=False)  # no data at all
        _user(conn, scenario, EVE, "eve@example.org", is_admin=True)

        conn.execute(
            """INSERT INTO user_data (user_id, base_price, working_price, tariff, household,
                 property, living_space, hot_water, advance_payment_electricity,
                 consumption_goal, electricity_meter_number, electricity_meter_type,
                 power_at_electricity_meter, wifi_at_electricity_meter, installation_comment)
               VALUES (%s, 12.5, 0.32, 'eco', 3, 'house', 120, 'electric', 80, 9.5, 'M-1',
                       'digital', true, true, 'cellar'),
                      (%s, NULL, 0.28, 'basic', 2, 'apartment', 60, 'not_electric', NULL,
                       NULL, NULL, 'digital', false, true, NULL),
                      (%s, 9, 0.3, 'basic', 1, 'apartment', 45, NULL, 50, 5, NULL, 'analog',
                       false, false, NULL)""",
            [ALICE, BOB, CAROL],
        )
        conn.execute(
            """INSERT INTO user_experiment_data (user_id, experiment_status, installation_date,
                 deinstallation_date, experiment_number, gets_paid, uses_prolific)
               VALUES (%s, 'approved', NULL, NULL, 0, true, false),
                      (%s, NULL, NULL, NULL, NULL, true, false),
                      (%s, 'installation', %s, NULL, 1, false, true)""",
            [ALICE, BOB, CAROL, T0 - timedelta(days=3)],
        )

        scenario.macs = {
            "alice": "aa:bb:cc:00:00:01",
            "bob_gas": "AA-BB-CC-00-00-02",
            "moved": "AA:BB:CC:00:00:03",
            "carol_analog": "aa-BB-cc-00-00-04",
            "spare": "AA:BB:CC:00:00:05",
        }
        conn.execute(
            """INSERT INTO sensor (sensor_id, client_id, version, sensor_type, user_id,
                 needs_script, script)
               VALUES ('sAlice', %s, 2, 'electricity', %s, true, 'script for alice'),
                      ('sBobGas', %s, 1, 'gas', %s, false, NULL),
                      ('sMovedNow', %s, 1, 'electricity', %s, false, 'moved script'),
                      ('sCarolAnalog', %s, 1, 'electricity', %s, true, '375'),
                      ('sSpare', %s, 1, 'electricity', NULL, false, NULL)""",
            [
                scenario.macs["alice"],
                ALICE,
                scenario.macs["bob_gas"],
                BOB,
                scenario.macs["moved"],
                BOB,
                scenario.macs["carol_analog"],
                CAROL,
                scenario.macs["spare"],
            ],
        )
        # The moved sensor was carol's before it was bob's.
        conn.execute(
            """INSERT INTO sensor_history (sensor_id, user_id, sensor_type, client_id)
               VALUES ('sMovedBefore', %s, 'electricity', %s)""",
            [CAROL, scenario.macs["moved"]],
        )
        conn.execute(
            "INSERT INTO sensor_token (code, sensor_id) VALUES ('oldtokenoldtokenoldtokenoldtok', "
            "'sAlice')"
        )

        fill_readings(conn, sensor_id="sAlice", start=T0, count=n, with_out=True)
        fill_readings(
            conn,
            sensor_id="sBobGas",
            start=T0,
            count=n // 4,
            step_seconds=300,
            start_value=350.0,
            increment=0.002,
            with_power=False,
        )
        fill_readings(conn, sensor_id="sMovedBefore", start=T0, count=n // 2, start_value=500.0)
        fill_readings(
            conn,
            sensor_id="sMovedNow",
            start=T0 + timedelta(days=1),
            count=n // 2,
            start_value=7000.0,
        )
        fill_readings(
            conn,
            sensor_id="sCarolAnalog",
            start=T0 + timedelta(days=1),
            count=n,
            start_value=20.0,
            increment=0.0025,
        )
        last = T0 + timedelta(seconds=60 * (n - 1))
        # A meter reset in alice's readings: the register starts again near zero.
        conn.execute(
            """INSERT INTO sensor_data (id, sensor_id, value, consumption, value_current,
                 "timestamp") VALUES ('reset-row', 'sAlice', 0.5, 0, 400, %s),
                                     ('reset-row-2', 'sAlice', 0.52, 0.02, 410, %s)""",
            [last + timedelta(minutes=1), last + timedelta(minutes=2)],
        )
        # Duplicate-looking rows: the same id again, the same value a millisecond later.
        conn.execute(
            """INSERT INTO sensor_data (id, sensor_id, value, consumption, value_current,
                 "timestamp") VALUES ('reset-row-2', 'sAlice', 0.52, 0, 410, %s)""",
            [last + timedelta(minutes=2, milliseconds=1)],
        )
        # An implausible power value (60 kW) and a register that rose far too fast.
        conn.execute(
            "UPDATE sensor_data SET value_current = 60000 WHERE sensor_id = 'sAlice' "
            'AND "timestamp" = %s',
            [T0 + timedelta(minutes=10)],
        )
        conn.execute(
            "UPDATE sensor_data SET value = value + 50, consumption = consumption + 50 "
            "WHERE sensor_id = 'sCarolAnalog' AND \"timestamp\" = %s",
            [T0 + timedelta(days=1, minutes=20)],
        )
        scenario.readings = int(conn.execute("SELECT count(*) FROM sensor_data").fetchone()[0])  # type: ignore[index]

        # Peaks and an anomaly of alice, a peak of carol's time on the moved sensor.
        conn.execute(
            """INSERT INTO sensor_data_sequence (id, sensor_id, start, "end", type,
                 average_peak_power) VALUES
               ('seqA1', 'sAlice', %s, %s, 'peak', 1800.5),
               ('seqA2', 'sAlice', %s, %s, 'peak', 2200),
               ('seqA3', 'sAlice', %s, %s, 'anomaly', 9000),
               ('seqC1', 'sMovedBefore', %s, %s, 'peak', 1500)""",
            [
                T0 + timedelta(minutes=30),
                T0 + timedelta(minutes=40),
                T0 + timedelta(minutes=60),
                T0 + timedelta(minutes=75),
                T0 + timedelta(minutes=100),
                T0 + timedelta(minutes=130),
                T0 + timedelta(minutes=20),
                T0 + timedelta(minutes=35),
            ],
        )
        conn.execute(
            """INSERT INTO device (id, user_id, name, category, created, "timestamp", power,
                 is_power_estimated, weekly_usage_estimation) VALUES
               (48, %s, 'Wasserkocher', 'kettle', %s, %s, 2000, false, 1.5),
               (49, %s, 'Waschmaschine', 'washingMachine', %s, %s, NULL, true, NULL),
               (50, %s, 'Toaster', 'toaster', %s, %s, 800, false, 0.5)""",
            [ALICE, T0, T0, ALICE, T0, T0, CAROL, T0, T0],
        )
        conn.execute(
            """INSERT INTO device_to_peak (device_id, sensor_data_sequence_id) VALUES
               (48, 'seqA1'), (49, 'seqA2'), (48, 'seqA2'), (50, 'seqC1')"""
        )
        conn.execute(
            """INSERT INTO device_suggestions_peak (sensor_data_sequence_id, device_category)
               VALUES ('seqA1', 'kettle'), ('seqA1', 'kettle'), ('seqA1', 'toaster'),
                      ('seqA2', 'washingMachine')"""
        )
        conn.execute(
            """INSERT INTO report_config (user_id, receive_mails, "interval", "time",
                 timestamp_last) VALUES (%s, true, 3, 6, %s), (%s, false, 7, 20, DEFAULT)""",
            [ALICE, T0 + timedelta(days=3, hours=6), BOB],
        )
        conn.execute(
            """INSERT INTO report_data (id, "timestamp", user_id, date_from, date_to,
                 total_energy_consumption, avg_energy_consumption_per_day, total_energy_cost,
                 avg_energy_cost, worst_day, worst_day_consumption, best_day,
                 best_day_consumption) VALUES
               ('rep1', %s, %s, %s, %s, 21.5, 7.1667, 6.88, 2.29, %s, 8.2, %s, 6.1),
               ('rep2', %s, %s, %s, %s, 19.0, 6.3333, NULL, NULL, %s, 7.0, %s, 5.5)""",
            [
                T0 + timedelta(days=3, hours=6),
                ALICE,
                T0 - timedelta(days=3, hours=1),
                T0 - timedelta(hours=1),
                T0 - timedelta(days=2, hours=1),
                T0 - timedelta(days=1, hours=1),
                T0 + timedelta(days=6, hours=6),
                ALICE,
                T0 - timedelta(hours=1),
                T0 + timedelta(days=3, hours=-1),
                T0 + timedelta(days=1, hours=-1),
                T0 + timedelta(hours=-1),
            ],
        )
        conn.execute(
            """INSERT INTO reports_day_statistics (id, date, daily_consumption, daily_goal,
                 exceeded, progress, report_id) VALUES
               ('d1', %s, 7.2, 9.5, false, 75.8, 'rep1'),
               ('d2', %s, 8.2, 9.5, false, 86.3, 'rep1'),
               ('d3', %s, 6.1, 9.5, false, 64.2, 'rep1'),
               ('d4', %s, 7.0, NULL, NULL, NULL, 'rep2')""",
            [
                T0 - timedelta(days=3, hours=1),
                T0 - timedelta(days=2, hours=1),
                T0 - timedelta(days=1, hours=1),
                T0 - timedelta(hours=1),
            ],
        )
    return scenario


def fill_bulk(url: str, *, readings: int, sensors: int = 20) -> None:
    """`sensors` households with one electricity sensor each and `readings` readings in total
    (every 15 s), for the benchmark. One password hash serves every user."""
    password_hash = bcrypt_hash("bench password")
    per_sensor = max(1, readings // sensors)
    with psycopg.connect(url) as conn:
        for index in range(sensors):
            user_id = f"bench{index:025d}"
            conn.execute(
                'INSERT INTO "user" (id, email, username, password, is_active) '
                "VALUES (%s, %s, %s, %s, true)",
                [user_id, f"bench{index}@example.org", f"bench{index}", password_hash],
            )
            conn.execute(
                "INSERT INTO sensor (sensor_id, client_id, sensor_type, user_id) "
                "VALUES (%s, %s, 'electricity', %s)",
                [
                    f"bs{index}",
                    f"BE:NC:00:00:{index >> 8:02X}:{index & 255:02X}".replace("NC", "0C"),
                    user_id,
                ],
            )
            count = per_sensor if index < sensors - 1 else readings - per_sensor * index
            fill_readings(conn, sensor_id=f"bs{index}", start=T0, count=count, step_seconds=15)
            conn.commit()
