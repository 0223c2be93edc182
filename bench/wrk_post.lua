-- POST a SOAP envelope (BODY_FILE) with SOAP_ACTION; each {{uuid}} becomes a fresh UUID per request.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.headers["SOAPAction"] = os.getenv("SOAP_ACTION") or '""'
local templated = body:find("{{uuid}}", 1, true) ~= nil
local seeded = false
local function uuid()
  return (string.gsub("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end
if templated then
  request = function()
    if not seeded then
      math.randomseed(os.time() + math.floor(os.clock() * 1e6) + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
      seeded = true
    end
    return wrk.format(nil, nil, nil, (string.gsub(body, "{{uuid}}", uuid)))
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKSTATS rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d sock_err=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000.0,
    latency:percentile(99) / 1000.0, summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
