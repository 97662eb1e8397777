-- The minimal buy (bench/orders_http.py): a random bench item of 10,000 per request.
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end
request = function()
  return wrk.format("POST", "/bench/buy", {["Content-Type"] = "application/json"},
    string.format('{"item_id": %d}', math.random(10000)))
end
