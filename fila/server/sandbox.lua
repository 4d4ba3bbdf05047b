-- Fila hook sandbox driver: loaded by fila/server/hooks.py and run once per Lua runtime,
-- with the full standard library, before any user script exists.
local BUDGET, EVERY, TIME_S, TIMEOUT_MS, CALL_UNITS, CLOCK_EVERY_CALLS, STEPS_PER_UNIT,
      REP_BYTES_PER_UNIT, MEM_LIMIT, MAX_KEY, MAX_TKEYS, MAX_WEIGHT, MAX_DELAY, MAX_UNPACK,
      host_get = ...

local type, pcall, error, select, rawget, rawset, rawlen, rawequal, next, pairs, ipairs,
      tostring, tonumber, setmetatable, getmetatable, assert, xpcall =
      type, pcall, error, select, rawget, rawset, rawlen, rawequal, next, pairs, ipairs,
      tostring, tonumber, setmetatable, getmetatable, assert, xpcall
local sethook, getinfo, getmt = debug.sethook, debug.getinfo, debug.getmetatable
local clock = os.clock
local load = load
local co_create, co_resume, co_yield, co_status, co_running =
      coroutine.create, coroutine.resume, coroutine.yield, coroutine.status, coroutine.running
local s_byte, s_sub, s_find, s_match, s_gmatch, s_gsub, s_rep, s_format, s_pack, s_packsize =
      string.byte, string.sub, string.find, string.match, string.gmatch, string.gsub,
      string.rep, string.format, string.pack, string.packsize
local t_concat, t_unpack, t_pack, t_sort = table.concat, table.unpack, table.pack, table.sort
local m_type, m_floor, m_log, m_huge, m_tointeger =
      math.type, math.floor, math.log, math.huge, math.tointeger
local utf8_len = utf8.len

-- ---------------------------------------------------------------- budget
local used, calls, deadline, exhausted, budget_err = 0, 0, nil, false, nil
local worker = nil
local hook

local DRIVER_SOURCE = getinfo(1, "S").source

-- "chunk:line: " of the innermost script frame (driver frames skipped), or "".
local function where()
  local level = 3
  while true do
    local info = getinfo(level, "Sl")
    if info == nil then return "" end
    if info.source ~= DRIVER_SOURCE and info.currentline and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
    level = level + 1
  end
end

-- Strict hook: every instruction and every call. A thread on it cannot run a single
-- instruction or enter a single function (C functions included: the call hook fires in
-- luaD_precall, before the function body) once the budget is gone.
local STRICT_MASK, STRICT_COUNT = "c", 1

-- Marks the call as over budget: from now on every instruction and call of any hooked thread
-- raises (a pcall that catches the error cannot run a single instruction more than it), new
-- coroutines are refused, and the worker is thrown away by run(). The current thread and the
-- worker are made strict here; any other thread becomes strict the first time the hook fires
-- on it (see hook), i.e. within EVERY instructions or at its next call.
local function exhaust(what)
  -- Flag first: if the hook fires while this runs it raises `what` instead of recursing.
  budget_err = what
  exhausted = true
  sethook()   -- no hook while finding the position
  budget_err = where() .. what
  sethook(hook, STRICT_MASK, STRICT_COUNT)
  if worker ~= nil and worker ~= co_running() then
    sethook(worker, hook, STRICT_MASK, STRICT_COUNT)
  end
  error(budget_err, 0)
end

local TIME_ERR = "time budget exceeded (" .. TIMEOUT_MS .. " ms)"
local BUDGET_ERR = "instruction budget exceeded (" .. BUDGET .. " instructions)"

-- Count events charge EVERY units; call events (Lua and C functions alike, including C
-- functions that a C library function reaches through a metamethod: table.concat calling a C
-- __index, table.sort calling a C __newindex, ...) charge CALL_UNITS, and every
-- CLOCK_EVERY_CALLS-th call also checks the CPU clock, so a C function that loops calling
-- other C functions without running a Lua instruction is still stopped.
hook = function(ev)
  if exhausted then
    sethook(hook, STRICT_MASK, STRICT_COUNT)
    error(budget_err, 0)
  end
  if ev == "count" then
    used = used + EVERY
  else
    used = used + CALL_UNITS
    calls = calls + 1
    if calls < CLOCK_EVERY_CALLS then
      if used > BUDGET then exhaust(BUDGET_ERR) end
      return
    end
    calls = 0
  end
  if used > BUDGET then exhaust(BUDGET_ERR) end
  local now = clock()
  if deadline == nil then
    deadline = now + TIME_S
  elseif now > deadline then
    exhaust(TIME_ERR)
  end
end

-- Charges the cost of a C library call the script is about to make.
local function charge(units, what)
  if exhausted then error(budget_err, 0) end
  if used + units > BUDGET then exhaust(what) end
  used = used + units
end

-- ---------------------------------------------------------------- pattern guard
local ALNUM = {}
for c = 48, 57 do ALNUM[c] = true end
for c = 65, 90 do ALNUM[c] = true end
for c = 97, 122 do ALNUM[c] = true end

-- Index just after the class starting at i (lstrlib's classEnd), or nil if malformed.
local function class_end(p, i, n)
  local c = s_byte(p, i)
  if c == 37 then               -- %x
    if i + 1 > n then return nil end
    return i + 2
  elseif c == 91 then           -- [set]
    i = i + 1
    if s_byte(p, i) == 94 then i = i + 1 end
    repeat
      if i > n then return nil end
      local d = s_byte(p, i)
      i = i + 1
      if d == 37 then
        if i > n then return nil end
        i = i + 1
      end
    until s_byte(p, i) == 93
    return i + 1
  end
  return i + 1
end

-- Parsed pattern: { anchored, items, heavy, classes = {cls, optional}... }
local pattern_cache, pattern_cache_size = {}, 0

local function parse_pattern(p, gmatch)
  local hit = pattern_cache[p]
  if hit ~= nil and hit.gmatch == gmatch then return hit end
  local n = #p
  local i = 1
  local info = { anchored = false, items = 0, heavy = 0, gmatch = gmatch }
  if not gmatch and s_byte(p, 1) == 94 then info.anchored = true; i = 2 end
  while i <= n do
    local c = s_byte(p, i)
    info.items = info.items + 1
    if c == 40 or c == 41 then                  -- ( )
      i = i + 1
    elseif c == 36 and i == n then              -- final $
      i = i + 1
    elseif c == 37 and s_byte(p, i + 1) == 98 then      -- %bxy
      if i + 3 > n then return nil end
      info.heavy = info.heavy + 1
      i = i + 4
    elseif c == 37 and s_byte(p, i + 1) == 102 then     -- %f[set]
      if s_byte(p, i + 2) ~= 91 then return nil end
      local e = class_end(p, i + 2, n)
      if e == nil then return nil end
      i = e
    elseif c == 37 and (s_byte(p, i + 1) or 0) >= 48 and (s_byte(p, i + 1) or 0) <= 57 then
      info.heavy = info.heavy + 1               -- back reference %1..%9
      i = i + 2
    else
      local e = class_end(p, i, n)
      if e == nil then return nil end
      local q = s_byte(p, e)
      if q == 42 or q == 43 or q == 45 or q == 63 then   -- * + - ?
        local cls = s_sub(p, i, e - 1)
        if #cls == 1 and cls ~= "." and not ALNUM[c] then cls = "%" .. cls end
        info[#info + 1] = cls
        info[#info + 1] = (q == 63)
        e = e + 1
      end
      i = e
    end
  end
  if n <= 256 then
    if pattern_cache_size >= 256 then pattern_cache, pattern_cache_size = {}, 0 end
    pattern_cache[p] = info
    pattern_cache_size = pattern_cache_size + 1
  end
  return info
end

local TOO_EXPENSIVE = "pattern too expensive for a subject of "

-- Runs on every pattern call: kept to few function calls (each one fires the call hook).
local function guard_pattern(fname, s, p, plain, gmatch)
  -- Let the real function report bad argument types.
  local ts, tp = type(s), type(p)
  if (ts ~= "string" and ts ~= "number") or (tp ~= "string" and tp ~= "number") then
    return
  end
  if ts == "number" then s = tostring(s) end
  if tp == "number" then p = tostring(p) end
  local n = #s
  local cost
  if plain then
    cost = (n + 1) * (#p + 1)
  else
    local info = parse_pattern(p, gmatch)
    if info == nil then error("malformed pattern in '" .. fname .. "'", 3) end
    cost = (info.anchored and 1 or (n + 1)) * (info.items + info.heavy * n + 1)
    for k = 1, #info, 2 do
      local cls, optional = info[k], info[k + 1]
      local count, _
      if cls == "." then count = n else _, count = s_gsub(s, cls, "") end
      cost = cost * (optional and (count > 0 and 2 or 1) or (count + 1)) + n
    end
  end
  -- charge(), inlined
  if exhausted then error(budget_err, 0) end
  local units = cost / STEPS_PER_UNIT
  if used + units > BUDGET then exhaust(TOO_EXPENSIVE .. n .. " bytes in '" .. fname .. "'") end
  used = used + units
end

local sandbox_string = {}
for k, v in pairs(string) do sandbox_string[k] = v end
sandbox_string.dump = nil
sandbox_string.find = function(s, p, init, plain)
  guard_pattern("find", s, p, plain, false)
  return s_find(s, p, init, plain)
end
sandbox_string.match = function(s, p, init)
  guard_pattern("match", s, p, false, false)
  return s_match(s, p, init)
end
sandbox_string.gmatch = function(s, p, init)
  guard_pattern("gmatch", s, p, false, true)
  return s_gmatch(s, p, init)
end
sandbox_string.gsub = function(s, p, repl, maxn)
  guard_pattern("gsub", s, p, false, false)
  -- A table replacement is indexed in C once per match; with an __index chain (up to 2000
  -- tables deep, no call in between) that is unbounded work. Index it from Lua instead.
  if type(repl) == "table" and getmt(repl) ~= nil then
    local r = repl
    repl = function(k) return r[k] end
  end
  return s_gsub(s, p, repl, maxn)
end
sandbox_string.rep = function(s, n, sep)
  if (type(s) == "string" or type(s) == "number") and type(n) == "number" and n >= 1 then
    local l = #tostring(s)
    local lsep = (type(sep) == "string" or type(sep) == "number") and #tostring(sep) or 0
    -- lstrlib loops n times even when every copy is empty: never let it.
    if l + lsep == 0 then return s_rep(s, 1, sep) end
    local total = n * l + (n - 1) * lsep
    if total > MEM_LIMIT then error("resulting string too large", 2) end
    charge(total / REP_BYTES_PER_UNIT, "string.rep result too large for the budget")
  end
  return s_rep(s, n, sep)
end

-- string.pack pads 'c<n>' / 'x' / alignment byte by byte in C: bound the fixed part of the
-- result by the memory limit and charge it like string.rep.
sandbox_string.pack = function(fmt, ...)
  if type(fmt) == "string" or type(fmt) == "number" then
    local ok, size = pcall(s_packsize, (s_gsub(tostring(fmt), "[sz]%d*", "")))
    if ok then
      if size > MEM_LIMIT then error("resulting string too large", 2) end
      charge(size / REP_BYTES_PER_UNIT, "string.pack result too large for the budget")
    elseif exhausted then
      error(budget_err, 0)
    elseif type(size) == "string" and s_find(size, "too large", 1, true) then
      error("resulting string too large", 2)
    end
  end
  return s_pack(fmt, ...)
end

-- Strings share one metatable per Lua state; point it at the guarded copy so method calls
-- (s:find(...)) are guarded too, and hide it from scripts.
local string_mt = getmetatable("")
string_mt.__index = sandbox_string
string_mt.__metatable = false

-- ---------------------------------------------------------------- table guard
local sandbox_table = { pack = t_pack }

-- table.concat/unpack/sort read (and sort writes) elements in C with lua_geti/lua_seti. On a
-- plain table that is bounded by what the table really holds, but with metamethods each
-- access may walk an __index chain up to 2000 tables deep without a single call or
-- instruction. So the C function only gets tables without a metatable; anything else (a
-- table with a metatable, or a string, whose metatable a script can extend) goes through a
-- Lua loop where every access is a counted instruction.
local function plain(t)
  return type(t) == "table" and getmt(t) == nil
end

local function int_arg(v, n, fname, default)
  if v == nil then return default end
  local i = m_tointeger(v)
  if i == nil then
    if type(v) == "number" then
      error("bad argument #" .. n .. " to '" .. fname .. "' (number has no integer representation)", 3)
    end
    error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. type(v) .. ")", 3)
  end
  return i
end

sandbox_table.concat = function(t, sep, i, j)
  if plain(t) or (type(t) ~= "table" and type(t) ~= "string") then
    return t_concat(t, sep, i, j)
  end
  if sep == nil then sep = ""
  elseif type(sep) ~= "string" and type(sep) ~= "number" then
    error("bad argument #2 to 'concat' (string expected, got " .. type(sep) .. ")", 2)
  end
  i = int_arg(i, 3, "concat", 1)
  if j == nil then j = #t else j = int_arg(j, 4, "concat") end
  local parts, n = {}, 0
  for k = i, j do
    local v = t[k]
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" then
      error("invalid value (at index " .. k .. ") in table for 'concat'", 2)
    end
    n = n + 1
    parts[n] = v
  end
  return t_concat(parts, sep, 1, n)
end

sandbox_table.unpack = function(t, i, j)
  if plain(t) or (type(t) ~= "table" and type(t) ~= "string") then
    return t_unpack(t, i, j)
  end
  i = int_arg(i, 2, "unpack", 1)
  if j == nil then j = #t else j = int_arg(j, 3, "unpack") end
  if i > j then return end
  local span = j - i
  if span < 0 or span >= MAX_UNPACK then error("too many results to unpack", 2) end
  local copy = {}
  for k = 0, span do copy[k + 1] = t[i + k] end
  return t_unpack(copy, 1, span + 1)
end


-- table.insert/remove/move shift elements in C; a __len metamethod can make that loop run
-- ~2^53 times. Written in Lua, each step is a counted instruction.
sandbox_table.insert = function(t, ...)
  local nargs = select("#", ...)
  local e = #t + 1
  if nargs == 1 then
    t[e] = ...
    return
  elseif nargs ~= 2 then
    error("wrong number of arguments to 'insert'", 2)
  end
  local pos, v = ...
  if m_type(pos) ~= "integer" then
    if m_type(pos) == "float" and pos == m_floor(pos) then pos = m_floor(pos)
    else error("bad argument #2 to 'insert' (number has no integer representation)", 2) end
  end
  if pos < 1 or pos > e then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
  for i = e, pos + 1, -1 do t[i] = t[i - 1] end
  t[pos] = v
end

sandbox_table.remove = function(t, pos)
  local size = #t
  if pos == nil then pos = size
  elseif m_type(pos) ~= "integer" then
    if m_type(pos) == "float" and pos == m_floor(pos) then pos = m_floor(pos)
    else error("bad argument #2 to 'remove' (number has no integer representation)", 2) end
  end
  if pos ~= size and (pos < 1 or pos > size + 1) then
    error("bad argument #2 to 'remove' (position out of bounds)", 2)
  end
  local v = t[pos]
  for i = pos, size - 1 do t[i] = t[i + 1] end
  if pos <= size then t[size] = nil end
  return v
end

sandbox_table.move = function(a1, f, e, t, a2)
  if a2 == nil then a2 = a1 end
  if e >= f then
    if t > e or t <= f or not rawequal(a1, a2) then
      for i = 0, e - f do a2[t + i] = a1[f + i] end
    else
      for i = e - f, 0, -1 do a2[t + i] = a1[f + i] end
    end
  end
  return a2
end

local SORT_ERR = "table.sort too expensive for the budget"

sandbox_table.sort = function(t, cmp)
  if type(t) ~= "table" or (cmp ~= nil and type(cmp) ~= "function") then
    return t_sort(t, cmp)   -- reports the bad argument
  end
  if plain(t) then
    local n = rawlen(t)
    if n > 1 then charge(n * m_log(n, 2) / 4, SORT_ERR) end
    return t_sort(t, cmp)
  end
  -- With metamethods (a lying __len, C functions as __index/__newindex, __index chains):
  -- read into a plain copy from Lua, sort that in C, write it back from Lua.
  local n = #t
  n = m_tointeger(n)
  if n == nil then return t_sort(t, cmp) end
  if n < 2 then return end
  if n >= 0x7fffffff then error("bad argument #1 to 'sort' (array too big)", 2) end
  charge(n * m_log(n, 2) / 4 + n, SORT_ERR)
  local copy = {}
  for k = 1, n do copy[k] = t[k] end
  -- The copy keeps nil holes where t had them; its __len makes C see all n slots (so nils
  -- are compared, and reported, as they would have been on t).
  setmetatable(copy, { __len = function() return n end })
  t_sort(copy, cmp)
  for k = 1, n do t[k] = copy[k] end
end

-- ---------------------------------------------------------------- coroutines
local function new_thread(f)
  if exhausted then error(budget_err, 0) end
  local co = co_create(f)
  sethook(co, hook, "c", EVERY)
  return co
end

local function wrap_result(ok, ...)
  if ok then return ... end
  error((...), 0)
end

local sandbox_coroutine = {
  create = new_thread,
  resume = co_resume,
  status = co_status,
  running = co_running,
  isyieldable = coroutine.isyieldable,
  close = coroutine.close,
  wrap = function(f)
    local co = new_thread(f)
    return function(...) return wrap_result(co_resume(co, ...)) end
  end,
  -- The hook function itself runs in the worker coroutine; yielding it would hand control
  -- back to the host in the middle of the script.
  yield = function(...)
    if co_running() == worker then
      error("attempt to yield from outside a coroutine", 2)
    end
    return co_yield(...)
  end,
}

-- ---------------------------------------------------------------- environment
local env = {}
local function copy(src)
  local t = {}
  for k, v in pairs(src) do t[k] = v end
  return t
end
env.assert, env.error, env.ipairs, env.next, env.pairs, env.pcall = assert, error, ipairs,
  next, pairs, pcall
env.rawequal, env.rawget, env.rawlen, env.rawset, env.select = rawequal, rawget, rawlen,
  rawset, select
env.tonumber, env.tostring, env.type = tonumber, tostring, type
-- The budget error is raised from inside the count hook, and Lua calls an xpcall message
-- handler before unwinding, i.e. while hooks are still disabled: a handler that loops would
-- then run unbudgeted forever. Once the budget is gone the script's handler is skipped.
env.xpcall = function(f, msgh, ...)
  if type(msgh) ~= "function" then return xpcall(f, msgh, ...) end
  return xpcall(f, function(e)
    if exhausted then return e end
    return msgh(e)
  end, ...)
end
env.getmetatable = getmetatable
-- __gc finalizers would run at GC time, possibly outside any budgeted call.
env.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not allowed in hooks", 2)
  end
  return setmetatable(t, mt)
end
env._VERSION = _VERSION
env.string = sandbox_string
env.table = sandbox_table
env.math = copy(math)
env.utf8 = copy(utf8)
env.coroutine = sandbox_coroutine
env.fila = {
  get = function(key)
    if type(key) ~= "string" or #key > 1024 or not utf8_len(key) then return nil end
    -- host_get returns a string or nil, or a number when it could not hand the value over:
    -- lupa pushes a Python result outside of any protected call, so the host refuses values
    -- that do not fit in the heap rather than let the allocation fail there.
    -- (Compared without type(): every call fires the call hook, and this is a hot path.)
    local v = host_get(key)
    if v == 1 then error("fila.get: the value of " .. key .. " is too large", 2)
    elseif v == 2 then error("not enough memory", 2)
    elseif v == 3 then error("fila.get: config lookup failed", 2) end
    return v
  end,
}
env._G = env

-- ---------------------------------------------------------------- running scripts
local function worker_body(fn, arg)
  while true do
    local ok, r = pcall(fn, arg)
    fn, arg = co_yield(ok, r)
  end
end

-- Errors raised by a library function that a driver wrapper called carry the wrapper's
-- position and local name ("[string ...]:266: bad argument #1 to 's_rep'"): C functions
-- called in tail position still run above the caller's frame. Show them as the script
-- would see the library function's own error.
local DRIVER_PREFIX = "^" .. s_gsub(getinfo(1, "S").short_src, "%p", "%%%0") .. ":%d+: "

local function error_text(e)
  local t = type(e)
  if t == "string" then
    if s_find(e, DRIVER_PREFIX) then
      e = s_gsub(s_gsub(e, DRIVER_PREFIX, ""), "'%a+_(%a+)'", "'%1'")
    end
    return e
  end
  if t == "number" then return tostring(e) end
  return "(error object is a " .. t .. " value)"
end

local function run(fn, arg)
  if worker == nil then
    worker = co_create(worker_body)
    sethook(worker, hook, "c", EVERY)
  end
  used, calls, deadline = 0, 0, nil
  local alive, ok, r = co_resume(worker, fn, arg)
  if exhausted then
    exhausted = false
    worker = nil
    return false, budget_err
  end
  if not alive then
    worker = nil
    return false, error_text(ok)
  end
  if co_status(worker) ~= "suspended" or ok == nil then
    worker = nil
    return false, "hook yielded instead of returning"
  end
  if not ok then return false, error_text(r) end
  return true, r
end

local fns = {}
local api = {}

function api.compile(src, name)
  local chunk, err = load(src, "=" .. name, "t", env)
  if not chunk then return false, err end
  local ok, e = run(chunk, nil)
  if not ok then return false, e end
  local f = rawget(env, name)
  if type(f) ~= "function" then
    return false, "the " .. name .. " script does not define a global function " .. name
  end
  fns[name] = f
  return true
end

local function check_string(v, field)
  local t = type(v)
  if t == "number" then v = tostring(v)
  elseif t ~= "string" then
    return nil, field .. " must be a string, got " .. t
  end
  if #v > MAX_KEY then
    return nil, field .. " is " .. #v .. " bytes long; at most " .. MAX_KEY .. " allowed"
  end
  if not utf8_len(v) then return nil, field .. " is not valid UTF-8" end
  return v
end

local function check_count(v, field, max)
  local t = m_type(v)
  if t == "float" then
    if v ~= m_floor(v) or v ~= v or v == m_huge or v == -m_huge
       or v >= 2^63 or v < -2^63 then
      return nil, field .. " must be an integer, got " .. tostring(v)
    end
    v = m_floor(v)
  elseif t ~= "integer" then
    return nil, field .. " must be an integer, got " .. type(v)
  end
  if v < 0 then return nil, field .. " must not be negative, got " .. tostring(v) end
  if v > max then
    return nil, field .. " must be at most " .. max .. ", got " .. tostring(v)
  end
  return v
end

-- Headers arrive as (count, k1, v1, k2, v2, ...). The common small cases use a table
-- constructor, which sizes the table once (building it key by key rehashes twice for 3
-- headers and was the largest single cost of a call).
local function headers_table(n, ...)
  if n == 0 then return {} end
  if n == 1 then local k1, v1 = ...; return { [k1] = v1 } end
  if n == 2 then local k1, v1, k2, v2 = ...; return { [k1] = v1, [k2] = v2 } end
  if n == 3 then
    local k1, v1, k2, v2, k3, v3 = ...
    return { [k1] = v1, [k2] = v2, [k3] = v3 }
  end
  if n == 4 then
    local k1, v1, k2, v2, k3, v3, k4, v4 = ...
    return { [k1] = v1, [k2] = v2, [k3] = v3, [k4] = v4 }
  end
  local a, h = t_pack(...), {}
  for i = 1, a.n, 2 do h[a[i]] = a[i + 1] end
  return h
end

-- The msg table is reused between calls (only raw writes: a script may have given it a
-- metatable, and no script code may run on this unbudgeted thread).
local enq_msg, fail_msg = {}, {}

-- Returns true, mask, fairness_key, weight, delay_ms, throttle keys... or false, message.
-- mask bits say which fields the script set (for describe_last); -1 means it returned nil.
-- Only raw accesses: this runs on the unbudgeted main thread, where no script metamethod may
-- run.
function api.enqueue(size, queue, n, ...)
  local msg = enq_msg
  rawset(msg, "headers", headers_table(n, ...))
  rawset(msg, "payload_size", size)
  rawset(msg, "queue", queue)
  local ok, r = run(fns.on_enqueue, msg)
  if not ok then return false, r end
  if r == nil then return true, -1 end
  if type(r) ~= "table" then
    return false, "on_enqueue must return a table or nil, got " .. type(r)
  end
  local mask, err = 0, nil
  local fk, weight, delay = "default", 1, 0
  local v = rawget(r, "fairness_key")
  if v ~= nil then
    fk, err = check_string(v, "fairness_key")
    if err then return false, err end
    mask = mask | 1
  end
  v = rawget(r, "weight")
  if v ~= nil then
    weight, err = check_count(v, "weight", MAX_WEIGHT)
    if err then return false, err end
    mask = mask | 2
  end
  v = rawget(r, "delay_ms")
  if v ~= nil then
    delay, err = check_count(v, "delay_ms", MAX_DELAY)
    if err then return false, err end
    mask = mask | 8
  end
  local tk = rawget(r, "throttle_keys")
  local keys, nk = {}, 0
  if tk ~= nil then
    if type(tk) ~= "table" then
      return false, "throttle_keys must be a table of strings, got " .. type(tk)
    end
    mask = mask | 4
    local len = rawlen(tk)
    if len > 4 * MAX_TKEYS then
      return false, "throttle_keys has " .. len .. " entries; at most " .. MAX_TKEYS .. " allowed"
    end
    for i = 1, len do
      local k = rawget(tk, i)
      if type(k) == "string" then
        if #k > MAX_KEY then
          return false, "throttle_keys[" .. i .. "] is " .. #k .. " bytes long; at most "
            .. MAX_KEY .. " allowed"
        end
        if not utf8_len(k) then return false, "throttle_keys[" .. i .. "] is not valid UTF-8" end
        nk = nk + 1
        if nk > MAX_TKEYS then
          return false, "throttle_keys has more than " .. MAX_TKEYS .. " keys"
        end
        keys[nk] = k
      end
    end
  end
  return true, mask, fk, weight, delay, t_unpack(keys, 1, nk)
end

-- Returns true, mask, is_dlq, delay_ms, action-as-returned or false, message.
function api.failure(id, attempts, queue, err_text, n, ...)
  local msg = fail_msg
  rawset(msg, "headers", headers_table(n, ...))
  rawset(msg, "id", id)
  rawset(msg, "attempts", attempts)
  rawset(msg, "queue", queue)
  rawset(msg, "error", err_text)
  local ok, r = run(fns.on_failure, msg)
  if not ok then return false, r end
  if r == nil then return true, -1, false, 0, nil end
  if type(r) ~= "table" then
    return false, "on_failure must return a table or nil, got " .. type(r)
  end
  local mask, err, delay, action = 0, nil, 0, nil
  local v = rawget(r, "action")
  if v ~= nil then
    if type(v) ~= "string" then return false, "action must be a string, got " .. type(v) end
    action = v
    if #action > MAX_KEY or not utf8_len(action) then action = "(unknown)" end
    mask = mask | 1
  end
  v = rawget(r, "delay_ms")
  if v ~= nil then
    delay, err = check_count(v, "delay_ms", MAX_DELAY)
    if err then return false, err end
    mask = mask | 2
  end
  return true, mask, action == "dlq", delay, action
end

return api
