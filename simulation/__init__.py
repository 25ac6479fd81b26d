"""Simulated households and sensors: a tool beside the production apps, not one of them.

Used by `manage.py simulate_sensors` and `seed_demo` (energyleaf/demo), `dev.py run`, the tests,
the benchmarks (bench/) and the peak classifier's training (analytics).

* `households`, `appliances` - whole household days from antgen's appliance models with ground
  truth per run (numpy; training, benchmark and demo history).
* `meter` - the live, event-driven household model a simulated sensor reads its meter from.
* `protocol`, `transport` - the v1 sensor protocol's endpoints and answers, and the devices' HTTP.
* `clients` - the Tasmota driver and the energyleaf-pi client as state machines.
* `config`, `clocks`, `summary` - parameters, time sources and what a run counted.
* `run` - a fleet of clients in threads against a server.

Nothing here imports Django or the apps above `sensors`; the only project import is the wire
format, `sensors.protobuf`. Registering simulated sensors in a local database is the demo's job
(`energyleaf.demo.services.register_simulated_sensors`).
"""
