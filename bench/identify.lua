-- wrk script: POST /identify/ with bodies read from a file, one JSON body per line.
-- Usage: wrk ... -s bench/identify.lua http://127.0.0.1:PORT -- BODIES_FILE THREADS API_KEYS
-- Thread t sends lines t, t + THREADS, t + 2 * THREADS, ... in order, so every body is sent once
-- (until a thread runs out and starts its share over). API_KEYS is a comma-separated list (or
-- empty): requests take the keys in turn, as many shops' backends would. The summary is printed
-- as one JSON line.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path, count, keys = args[1], tonumber(args[2]), args[3] or ""
  bodies = {}
  local line_number = 0
  for line in io.lines(path) do
    if line_number % count == thread_id then
      bodies[#bodies + 1] = line
    end
    line_number = line_number + 1
  end
  position = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  shops = {}
  for key in string.gmatch(keys, "[^,]+") do
    shops[#shops + 1] = {["Content-Type"] = "application/json", ["Authorization"] = "Api-Key " .. key}
  end
  shop = thread_id
end

function request()
  position = position % #bodies + 1
  if #shops == 0 then
    return wrk.format(nil, "/identify/", nil, bodies[position])
  end
  shop = shop % #shops + 1
  return wrk.format(nil, "/identify/", shops[shop], bodies[position])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
