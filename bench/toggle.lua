-- wrk script for bench/toggle.sh: an htmx POST whose body alternates to=suspended / to=active, carrying
-- the session cookie and CSRF token from BENCH_COOKIE / BENCH_CSRF (empty for the bare app, which ignores
-- them). Counts answers other than 200, because wrk alone counts a 302 to /login as a success. The
-- User-Agent is the one toggle.sh logs in with: Flask-Login's session protection hashes it, and a
-- mismatch would re-sign and re-send the session cookie on every answer.
local cookie, token = os.getenv("BENCH_COOKIE") or "", os.getenv("BENCH_CSRF") or ""
local bodies = { "to=suspended", "to=active" }
local sent = 0
local threads = {}
not200 = 0  -- global, so done() can read it from each thread

function setup(thread)
  table.insert(threads, thread)
end

function request()
  sent = sent + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["HX-Request"] = "true",
    ["X-CSRFToken"] = token,
    ["Cookie"] = cookie,
    ["User-Agent"] = "portal-bench",
  }, bodies[sent % 2 + 1])
end

function response(status)
  if status ~= 200 then not200 = not200 + 1 end
end

function done()
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("not200") end
  io.write(string.format("not-200 answers: %d\n", total))
end
