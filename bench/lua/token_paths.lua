-- bench/catalog_search.py: args[1] a file of bearer tokens (one a line), args[2] a file of paths
-- (one a line); each request is a random path asked by a random shopper, as the mini-program
-- sends its token on every call.
local tokens = {}
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(tokens, line) end
  end
  for line in io.lines(args[2]) do
    if #line > 0 then table.insert(paths, line) end
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. token})
end
