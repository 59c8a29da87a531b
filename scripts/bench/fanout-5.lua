-- Five-command sequence for scripts/bench/fanout: five steps, each running `true`
-- once on every host of the region, up to 200 hosts at a time. Ferry keeps one
-- connection per host across the steps; the peers (pdsh, parallel-ssh, ansible)
-- open a new SSH connection for every command.
runbook { name = "fanout-5" }

step "cmd-1" { on = "all", parallel = 200, run = function(host, ctx) host:run("true") end }
step "cmd-2" { on = "all", parallel = 200, run = function(host, ctx) host:run("true") end }
step "cmd-3" { on = "all", parallel = 200, run = function(host, ctx) host:run("true") end }
step "cmd-4" { on = "all", parallel = 200, run = function(host, ctx) host:run("true") end }
step "cmd-5" { on = "all", parallel = 200, run = function(host, ctx) host:run("true") end }
