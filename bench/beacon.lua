-- wrk script: realistic beacons, as the tag sends them, with an event id never seen before.
--   wrk -s bench/beacon.lua http://127.0.0.1:8601 -- <events per beacon> <run id> [delay ms]
-- The consumer dedupes by event id, so every request carries fresh ids (run id, thread, counter).
-- With a delay, each connection waits that long between requests: a paced load.

dofile("bench/report.lua")

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = tonumber(args[1] or "1")
  run = args[2] or "run"
  delay_ms = tonumber(args[3] or "0")
  headers = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Origin"] = "https://shop.example.com",
  }
end

local kinds = {
  '"k":"click","n":"add_to_cart","p":{"sku":"MUG-1","price":12}',
  '"k":"scroll","n":"75"',
  '"k":"pageview"',
  '"k":"download","n":"whitepaper.pdf"',
}

function request()
  counter = counter + 1
  local now = os.time() * 1000
  local events = {}
  for j = 1, n do
    events[j] = string.format(
      '{"i":"%s-%d-%d-%d",%s,"ts":%d,"u":"https://shop.example.com/product/mug?ref=news","pv":"%s-%d-%d"}',
      run, tid, counter, j, kinds[(counter + j) % 4 + 1], now - 200, run, tid, counter)
  end
  local body = string.format('{"v":1,"s":"bench","t":%d,"e":[%s]}', now, table.concat(events, ","))
  -- Visitors are a hash of IP + user agent: varying the agent spreads them over the partitions.
  headers["User-Agent"] = string.format(
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.%d",
    (tid * 7919 + counter) % 500)
  return wrk.format("POST", "/v1/collect", headers, body)
end

if tonumber(os.getenv("BENCH_DELAY_MS") or "0") > 0 then
  function delay()
    return delay_ms
  end
end
