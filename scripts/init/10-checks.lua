-- Health checks: a step names them in `before`/`after`, or as the `gate` between its waves.

check "neutron-db-load" {
  desc = "the Neutron database is not overloaded (Threads_running below 28)",
  within = "15m", every = "30s",
  probe = function(ctx)
    local threads = tonumber(db.connect("neutron"):status("Threads_running"))
    return threads < 28, "Threads_running " .. threads
  end,
}

check "network-api" {
  desc = "the network API answers through its VIP",
  within = "2m", every = "10s",
  probe = function(ctx)
    local r = http.get(vip.url("neutron") .. "/")
    return r.status == 200, "HTTP " .. r.status
  end,
}
