-- Replays requests written by `dropwire bench ingest --save FILE` with wrk,
-- each request once, spread over wrk's threads:
--
--   dropwire bench ingest --config bench.yaml --source capture \
--     --url http://127.0.0.1:18083 --requests 400000 --save /tmp/reqs
--   REQUESTS=/tmp/reqs wrk -t2 -c32 -d10s -s scripts/wrk-replay.lua http://127.0.0.1:18083
--
-- When a thread runs out of requests it starts over, and the repeats are
-- answered as duplicates: save more requests than the run can send.
--
-- DELAY_MS=N makes each connection wait N ms after each response, for a
-- steady rate of about connections × 1000 / N per second (e.g. -c32 with
-- DELAY_MS=16 for ~2,000/s).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("REQUESTS") or "requests.bin", "rb"))
  local data = f:read("*a")
  f:close()
  local nthreads = #threads > 0 and #threads or tonumber(os.getenv("THREADS") or "2")
  reqs = {}
  local pos, i = 1, 0
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local n = tonumber(data:sub(pos, nl - 1))
    if i % nthreads == tid then
      reqs[#reqs + 1] = data:sub(nl + 1, nl + n)
    end
    pos = nl + 1 + n
    i = i + 1
  end
  next_req = 0
end

function request()
  next_req = next_req + 1
  if next_req > #reqs then next_req = 1 end
  return reqs[next_req]
end

local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local statuses = summary.errors.status
  io.write(string.format("non-2xx: %d  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
    statuses, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
