-- GET a random line of the file args[1] (bench/catalog_search.py: one path a line).
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do table.insert(paths, line) end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
