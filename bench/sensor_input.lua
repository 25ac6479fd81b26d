-- wrk script of bench/sensor_input.py: one wrk thread = one keep-alive connection = one sensor.
--
-- Arguments (after `--`): the connection file written by sensor_input.py, whose first line is
-- "<path> <base_ms> <step_ms> <value0> <value_step>" and whose line 1 + i is "<token> <index>"
-- for connection i. Request k of a connection is a SensorDataRequestV2 of its sensor with
-- timestamp base_ms + k * step_ms (milliseconds) and value value0 + k * value_step (kWh), so
-- every reading is new and plausible. Doubles are written with LuaJIT's FFI (little endian).
local ffi = require("ffi")

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local token, index, path, base_ms, step_ms, value0, value_step
local headers = { ["Content-Type"] = "application/x-protobuf" }
local double = ffi.new("double[1]")
sent = 0
ok = 0
other = 0

local function f64(x)
  double[0] = x
  return ffi.string(double, 8)
end

local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  local first = file:read("*l")
  local p, b, s, v, vs = first:match("^(%S+) (%d+) (%d+) (%S+) (%S+)$")
  path, base_ms, step_ms = p, tonumber(b), tonumber(s)
  value0, value_step = tonumber(v), tonumber(vs)
  local line_number = 0
  for line in file:lines() do
    line_number = line_number + 1
    if line_number == tid then
      local t, i = line:match("^(%S+) (%d+)$")
      token, index = t, tonumber(i)
    end
  end
  file:close()
  assert(token, "no connection line for thread " .. tostring(tid))
end

function request()
  local k = index
  index = index + 1
  sent = sent + 1
  local body = "\10" .. string.char(#token) .. token .. "\16\1"
    .. "\25" .. f64(value0 + k * value_step)
    .. "\33" .. f64(480 + k % 40)
    .. "\48" .. varint(base_ms + k * step_ms)
  return wrk.format("POST", path, headers, body)
end

function response(status, _, _)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    other = other + 1
  end
end

function done(summary, latency, _)
  local total_sent, total_ok, total_other = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"duration_us": %d, "requests": %d, "bytes": %d, "sent": %d, "ok": %d, '
      .. '"non2xx": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d}, "latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, '
      .. '"p90": %d, "p99": %d, "p999": %d}}\n',
    summary.duration, summary.requests, summary.bytes, total_sent, total_ok, total_other,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
