-- bench/groupstore_dashboard.py: args[1] a file of "<token> <store id>" lines, args[2] a path with
-- "{id}"; each request asks one owner (at random) for their own store.
local targets = {}
local path_template = nil

init = function(args)
  path_template = args[2]
  for line in io.lines(args[1]) do
    local token, store = line:match("^(%S+) (%d+)$")
    if token then table.insert(targets, {token = token, store = store}) end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  local t = targets[math.random(#targets)]
  local path = path_template:gsub("{id}", t.store)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. t.token})
end
