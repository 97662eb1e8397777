-- bench/orders_http.py's ordinary orders. Args: a jobs file ("<token> <json body>" a line; each
-- thread takes every other line, cycling), the number of threads, the path. Its own report:
-- answers by status and error code, summed over the threads.
local jobs = {}
n, pos, statuses, codes = 0, 0, {}, {}
local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  path = args[3]
  local nthreads, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid - 1 then table.insert(jobs, line) end
    i = i + 1
  end
  n = #jobs
end

function request()
  pos = pos + 1
  local token, body = jobs[(pos - 1) % n + 1]:match("^(%S+) (.+)$")
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  if status >= 400 then
    local code = body:match('"code":"([%w_]+)"') or "?"
    codes[code] = (codes[code] or 0) + 1
  end
end

function done(summary, latency, requests)
  local st, cd, sent = {}, {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses") or {}) do st[k] = (st[k] or 0) + v end
    for k, v in pairs(t:get("codes") or {}) do cd[k] = (cd[k] or 0) + v end
    sent = sent + (t:get("pos") or 0)
  end
  local function obj(tbl)
    local parts = {}
    for k, v in pairs(tbl) do table.insert(parts, string.format('"%s": %d', k, v)) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, ' ..
    '"socket_errors": %d, "sent": %d, "statuses": %s, "error_codes": %s}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    sent, obj(st), obj(cd)))
end
