---@meta
-- LuaLS annotations for Ferry runbooks: every global, module function and method
-- the runbook bridge defines today. Point your editor at this directory:
--   .luarc.json: { "workspace.library": ["scripts/meta"], "runtime.version": "Lua 5.4" }
-- Reference: docs/lua-api.md. This file is never loaded by Ferry.

---A duration: "500ms", "30s", "5m", "2h", "1d", "1h30m", or a number of seconds.
---@alias Duration string|number

---Which hosts: a group, a host, "all", "group:glob", a range "cmp[001:040]", a glob,
---a comma list, a list of these, or (in `on`) a function returning hosts or host names.
---An Ansible host pattern ("control:compute", "computes:&cmp0*", "baremetal:!control", "compute[0:9]", "~ctl0[12]"),
---a list of them, or a function returning hosts or host names.
---@alias Selector string|string[]|fun(ctx: Ctx): (Host[]|string[])

---A host count or a share of the step's hosts: `10` or `"10%"`.
---@alias HostAmount integer|string

---A check: the name of a declared check, or an inline probe called as `fn(ctx)` once.
---@alias CheckRef string|fun(ctx: Ctx): (boolean, string?)

---A step's function: `fn(ctx)` for a step that runs once.
---@alias StepFunction fun(ctx: Ctx)

---A per-host step's function: `fn(host, ctx)`.
---@alias HostStepFunction fun(host: Host, ctx: Ctx)
---@alias WaveStepFunction fun(hosts: Host[], ctx: Ctx): table<string, string>|string[]|nil

---A probe of a check without `on`: true, or false and why.
---@alias Probe fun(ctx: Ctx): (boolean, string?)

---A probe of a check with `on`, called for every host.
---@alias HostProbe fun(host: Host, ctx: Ctx): (boolean, string?)

---A secret reference, as written in the region file: `{ env = "NAME" }`, `{ file = "path" }`
---or `{ file = "path", key = "NAME" }` (one key of a YAML, INI or openrc file, ansible-vault allowed).
---@class SecretRef
---@field env? string environment variable of the ferry process
---@field file? string file path, relative to the region file's directory
---@field key? string one key of the file: a YAML key or dotted path, an INI `section.option`, a shell variable
---@field vault_password_file? string the ansible-vault password file (else ANSIBLE_VAULT_PASSWORD_FILE); run if executable

---@class Ctx
---@field state table persisted in the journal after every step (storable data only); restored on resume and rollback
---@field vars table the region file's `vars:` with the run's inputs over them (`--vars FILE`, `-e KEY=VALUE`), read-only; secret references stay `{ env = ... }` tables
---@field region string the region's name
---@field releases table<string, {host?: string, venv?: string}> the region file's `releases:` (where each release's tools live)
---@field run_id string the run id, e.g. "20261125-120633-d35d"
---@field dry_run boolean true in a `--dry-run` run

---@class Host
---@field name string the inventory name
---@field address string what to connect to (defaults to the name)
---@field port? integer set only when given for this host
---@field user? string set only when given for this host
---@field vars table the host's variables
---@field groups string[] the groups the host belongs to
---@field family "rpm"|"deb" its package family: its own vars.family, else its groups' (inventory.families), else the region's vars.family, else "rpm"
---@field state table in a per-host step: saved with the host's result and handed to its undo
local Host = {}

---@class Service
---@field host Host
---@field name string the systemd unit
local Service = {}

---@class Ini
---@field host Host
---@field path string
local Ini = {}

---@class CommandResult
---@field code integer exit status; -1 when killed by a signal
---@field stdout string the last 16 KiB of standard output
---@field stderr string the last 16 KiB of standard error
---@field duration number seconds
---@field signal? integer the signal that killed the command
---@field dry_run? boolean true when nothing ran (dry run)

---@class RunOptions
---@field check? boolean raise on a non-zero exit (default true)
---@field timeout? Duration kill the command after this long; always raises
---@field stdin? string fed to standard input
---@field env? table<string, string|number> environment variables
---@field sudo? boolean run through `sudo -n /bin/sh -c` (default false)

---@class PutOptions
---@field mode? string|integer permissions; digits read as octal: "0640", 0640 and 640 are the same

---@class SSHRunOptions
---@field parallel? integer hosts at once (default: the region's ssh.parallel)
---@field check? boolean raise after all hosts finished if any failed (default false)
---@field timeout? Duration per host
---@field sudo? boolean

---@class SSHRunResult
---@field code integer exit status; -1 when killed by a signal or when the command could not run
---@field stdout? string
---@field stderr? string
---@field duration? number seconds
---@field error? string why the command could not run (timeout, transport error)
---@field dry_run? boolean

---@class ParallelOptions
---@field limit? integer calls at once (default 50)

---@class WaitOptions
---@field within? Duration give up after this long (default "1m")
---@field every? Duration time between tries (default "5s")

---@class RunbookSpec: table<"name"|"from"|"to"|"description", any>
---@field name string required
---@field from? string the release the region starts at
---@field to? string the release it ends at
---@field description? string

---The step fields a library helper passes on to the step it declares (lib.common's WAVE_FIELDS).
---@alias WaveKey "parallel"|"batch"|"pause"|"gate"|"adaptive"|"max_fail"|"timeout"|"retries"|"retry_delay"|"before"|"after"|"confirm"|"when"|"tags"|"desc"

---A spec class `X: table<K, any>` takes only the keys K: the language server flags any other
---key of a table written in place (`rolse = …`), as Ferry's validation does at load time. (Its
---fields are written out in each class: EmmyLua's analyzer lets a table with an unknown key
---through when a parent class has only optional fields.)

---@class StepSpec: table<WaveKey|"run"|"undo"|"on"|"per", any>
---@field desc? string
---@field parallel? integer hosts at once (default: the region's ssh.parallel); per-host steps only
---@field batch? HostAmount hosts per wave; per-host steps only
---@field pause? Duration wait between waves; per-host steps only
---@field gate? CheckRef must pass between waves; per-host steps only
---@field adaptive? boolean grow waves while the gate passes, halve them when it fails; needs batch and gate
---@field max_fail? HostAmount hosts allowed to fail (default 0); per-host steps only
---@field timeout? Duration per attempt (per host in a per-host step)
---@field retries? integer extra attempts (default 0)
---@field retry_delay? Duration between attempts (default "5s")
---@field before? CheckRef|CheckRef[] checks that must pass before the step runs
---@field after? CheckRef|CheckRef[] checks that must pass once run() succeeded
---@field confirm? string question asked before the step runs (unless --yes)
---@field when? fun(ctx: Ctx): boolean false skips the step
---@field tags? string|string[] for --tags / --skip-tags
---@field run StepFunction|HostStepFunction|WaveStepFunction required; `run(host, ctx)` when `on` is set, `run(hosts, ctx)` with per = "wave"
---@field undo? StepFunction|HostStepFunction|WaveStepFunction the rollback action; without it the step is irreversible
---@field on? Selector run per host on these hosts; without it the step runs once
---@field per? "host"|"wave" with `on`: "host" (default) calls run(host, ctx) for each host; "wave" calls run(hosts, ctx) once per wave (a playbook with --limit) and it returns the hosts that failed

---@class CheckSpec: table<"probe"|"within"|"every"|"on"|"desc"|"phase", any>
---@field probe Probe|HostProbe required; returns true, or false and why
---@field within? Duration keep probing until it passes or this much time has gone (default 0: one attempt)
---@field every? Duration time between probes (default "5s")
---@field on? Selector probe every one of these hosts; all must pass
---@field desc? string
---@field phase? "before"|"after"|"always" what it describes: the region before the upgrade (a drill runs it after the rollback), after it (a drill runs it after the upgrade), or both (default "always")

---What lib.neutron's `dataplane_probe{ name, group, from, hosts, sample, max_loss, every, vantage }`
---returns (docs/library.md#data-plane-probes): the check it declares, its probe (for a gate that
---runs it with another check), and what lib.switch_venv's `restarted` calls once a host's units
---restarted (phase "run" or "undo"), so the probe knows the wave just done.
---@class DataplaneProbe
---@field name string the declared check (`neutron-dataplane`)
---@field probe fun(ctx: Ctx): boolean, string?
---@field restarted fun(host: Host|string, ctx: Ctx, phase: "run"|"undo")

-- Declarations ----------------------------------------------------------------

---Declares the runbook. Call it exactly once.
---@param spec RunbookSpec
function runbook(spec) end

---Declares a step: `step "name" { run = ..., undo = ..., ... }`.
---@param name string
---@return fun(spec: StepSpec)
function step(name) end

---Declares a named health check: `check "name" { probe = ..., within = ..., every = ..., on = ... }`.
---@param name string
---@return fun(spec: CheckSpec)
function check(name) end

---Checks a helper's spec: a table whose keys are all in the lists `known`, ...; raises
---"WHAT: unknown field 'rolse' (did you mean 'roles'?)" at the line of the runbook file that
---called the helper. Returns `spec`. Every helper of the library and the plugins calls it.
---@generic T: table
---@param what string the helper's name in the message (`lib.stop_services`)
---@param spec T
---@param ... string[] lists of the field names it takes
---@return T
function validate_spec(what, spec, ...) end

-- Helpers ---------------------------------------------------------------------

---Suspends the calling coroutine (run time only).
---@param duration Duration
function sleep(duration) end

---Raises an error with `message` (default "failed"), prefixed by the caller's file:line.
---@param message? any
function fail(message) end

---Resolves a secret reference and returns its value.
---@param ref SecretRef
---@return string
function secret(ref) end

---Calls `fn(item, index)` for every item, at most `opts.limit` at once, each in its own
---coroutine; returns the first return value of each call, in order. Raises the first error.
---@generic T
---@param list T[]
---@param fn fun(item: T, index: integer): any
---@param opts? ParallelOptions
---@return any[]
function parallel(list, fn, opts) end

---Calls `fn()` until its first result is truthy and returns it; raises
---"wait_until: not true within …" after `opts.within`, naming the runbook line that
---waited (also inside `pcall`).
---@param fn fun(): (any, string?)
---@param opts? WaitOptions
---@return any
function wait_until(fn, opts) end

-- inventory -------------------------------------------------------------------

inventory = {}

---The hosts a selector matches, in order, without duplicates.
---@param selector string|string[]
---@return Host[]
function inventory.hosts(selector) end

---The members of one group (an exact group name).
---@param name string
---@return Host[]
function inventory.group(name) end

---One host by name.
---@param name string
---@return Host
function inventory.host(name) end

-- ssh -------------------------------------------------------------------------

ssh = {}

---Runs `cmd` on every host of `selector` at once; returns results keyed by host name.
---@param selector string
---@param cmd string
---@param opts? SSHRunOptions
---@return table<string, SSHRunResult>
function ssh.run(selector, cmd, opts) end

-- log -------------------------------------------------------------------------

log = {}

---Logs the arguments (tostring'd, joined by spaces) at level info.
---@param ... any
function log.info(...) end

---Logs the arguments (tostring'd, joined by spaces) at level warn.
---@param ... any
function log.warn(...) end

---Logs the arguments (tostring'd, joined by spaces) at level error.
---@param ... any
function log.error(...) end

-- Host methods ----------------------------------------------------------------

---Runs a shell command on the host; raises on a non-zero exit unless `check = false`.
---@param cmd string
---@param opts? RunOptions
---@return CommandResult
function Host:run(cmd, opts) end

---Copies a file of the runbook's directory to the host.
---@param src string path inside the runbook's directory
---@param dst string path on the host
---@param opts? PutOptions
function Host:put(src, dst, opts) end

---A systemd unit on this host.
---@param name string
---@return Service
function Host:service(name) end

---An INI file on this host.
---@param path string
---@return Ini
function Host:ini(path) end

-- Service methods -------------------------------------------------------------

---@class ServiceOptions
---@field timeout? Duration kill systemctl after this long
---@field sudo? boolean run through `sudo -n`

---`systemctl start NAME`; raises on failure.
---@param opts? ServiceOptions
---@return CommandResult
function Service:start(opts) end

---`systemctl stop NAME`; raises on failure.
---@param opts? ServiceOptions
---@return CommandResult
function Service:stop(opts) end

---`systemctl restart NAME`; raises on failure.
---@param opts? ServiceOptions
---@return CommandResult
function Service:restart(opts) end

---`systemctl reload NAME`; raises on failure.
---@param opts? ServiceOptions
---@return CommandResult
function Service:reload(opts) end

---`systemctl enable NAME`; raises on failure.
---@param opts? ServiceOptions
---@return CommandResult
function Service:enable(opts) end

---`systemctl disable NAME`; raises on failure.
---@param opts? ServiceOptions
---@return CommandResult
function Service:disable(opts) end

---`systemctl is-active --quiet NAME`.
---@param opts? ServiceOptions
---@return boolean
function Service:active(opts) end

-- Databases -------------------------------------------------------------------

---A connection to one of the region's databases (MariaDB/MySQL), from `db.connect`.
---@class Connection
---@field name string the database's name in the region
local Connection = {}

---Database primitives: connect by the names of the region's `databases:`.
db = {}

---Opens a connection to the region database `name` (its password resolved only now).
---Raises with the database, the place and the cause when it cannot connect.
---@param name string
---@return Connection
function db.connect(name) end

---@class Artifact
---@field db string the region's name for the database
---@field path string where the dump is, on the machine that runs Ferry
---@field bytes integer
---@field sha256 string
---@field at string ISO 8601 time of the backup
---@field source string where mysqldump ran

---Dumps a database with `mysqldump --single-transaction --routines --triggers --events`,
---on this machine or on `opts.via` (default: the database's `backup_via` host), into the
---run's artifact store; the artifact is journaled. Keep it in `ctx.state` for `undo`.
---@param name string
---@param opts? {via?: string}
---@return Artifact? nil in a dry run
function db.backup(name, opts) end

---Raises unless the dump is still there, unchanged (size, sha256) and complete.
---@param artifact Artifact
---@return true
function db.verify(artifact) end

---Restores a dump (after verifying it). Refuses, listing them, while other connections
---use the database unless `force`; waits at most `lock_wait` (default 10s) for locks.
---Runs `mysql` on `via` (default: the database's `backup_via`) when given.
---@param artifact Artifact
---@param opts? {force?: boolean, lock_wait?: Duration, via?: string}
function db.restore(artifact, opts) end

---The rows of `alembic_version` (several heads are possible).
---@return string[]
function Connection:alembic_versions() end

---The version recorded by sqlalchemy-migrate (`migrate_version.version`), nil if none.
---@return integer?
function Connection:migrate_version() end

---Rows of a query as tables column → value; `?` placeholders take the extra arguments
---(bound as prepared-statement parameters, never spliced into the SQL).
---@param sql string
---@param ... any
---@return table[]
function Connection:query(sql, ...) end

---Runs a statement; returns the number of affected rows.
---@param sql string
---@param ... any
---@return integer
function Connection:exec(sql, ...) end

---The first column of the first row, or nil.
---@param sql string
---@param ... any
---@return any
function Connection:scalar(sql, ...) end

---A global status variable (`information_schema.GLOBAL_STATUS`, or `performance_schema.global_status`
---on MySQL), e.g. `Threads_running`; numbers come back as numbers.
---@param variable string
---@return number|string|nil
function Connection:status(variable) end

---Runs `fn(conn)` in a transaction: committed when it returns, rolled back when it raises (the error is re-raised).
---@param fn fun(conn: Connection): any
---@return any
function Connection:transaction(fn) end

---Closes the connection (connections still open are closed when the run ends).
function Connection:close() end

-- VIPs ------------------------------------------------------------------------

---The VIP in front of each API (`vips:` in the region): HAProxy's runtime API, a
---keepalived address moved by VRRP priority, or operator-supplied commands.
vip = {}

---The VIP's URL (`url:` in the region).
---@param name string
---@return string
function vip.url(name) end

---haproxy: the backend and each server's state (`ready`, `drain`, `maint`) and health;
---keepalived: each balancer's priority and which holds the address; command: `get`'s output.
---@param name string
---@return table
function vip.get(name) end

---Sends traffic to the servers of `selector` (a group listed under the VIP's `servers:`,
---or server names): they go `ready` first, every other server then goes to `maint`
---(keepalived: one balancer, raised above the others; waits up to `settle`).
---Returns the previous state, for `vip.restore`.
---@param name string
---@param selector string|string[]
---@return table
function vip.switch(name, selector) end

---Puts every server back in the state `vip.switch` found it in.
---@param previous table
function vip.restore(previous) end

---Blocks user actions: "all" (every request gets 503 with Retry-After), "writes"
---(GET/HEAD pass, others get 503), true (= "all") or false (off). The keepalived driver refuses.
---@param name string
---@param mode "all"|"writes"|boolean
function vip.maintenance(name, mode) end

-- Ansible ---------------------------------------------------------------------

---@class PlaybookSpec: table<"playbook"|"command"|"inventory"|"limit"|"tags"|"skip_tags"|"extra_vars"|"check"|"diff"|"become"|"forks"|"args"|"env"|"cwd"|"timeout"|"fail", any>
---@field playbook? string the playbook (relative paths: to `cwd`); or `command`
---@field command? string[] a wrapper instead: `{ "kolla-ansible", "-i", "multinode", "upgrade" }` (ansible-playbook, kolla-ansible or openstack-ansible)
---@field inventory? string|string[] `-i` each
---@field limit? string|string[]|Host[] `--limit`: a pattern, or hosts (each must run a task, or it counts as failed)
---@field tags? string|string[]
---@field skip_tags? string|string[]
---@field extra_vars? table passed as a private file (`--extra-vars @file`), never on the command line
---@field check? boolean `--check`
---@field diff? boolean `--diff`
---@field become? boolean `--become`
---@field forks? integer `--forks`
---@field args? string[] more arguments, appended as they are
---@field env? table<string, string> environment of the playbook (not ANSIBLE_STDOUT_CALLBACK: Ferry's)
---@field cwd? string working directory (default: the runbook's directory)
---@field timeout? Duration stop it after this long
---@field fail? boolean raise when a host failed or the playbook exited non-zero (default true)

---@class PlaybookResult
---@field ok boolean exit 0, no failed or unreachable host, every host of `limit` ran
---@field command string the command line (the extra vars as `@file`)
---@field exit_code? integer
---@field hosts table<string, {ok: integer, changed: integer, failed: integer, unreachable: integer, skipped: integer, rescued: integer, ignored: integer}> the recap
---@field failed table<string, string> each failed host: `task 'X': message`, `unreachable (task 'X'): …`, or `ran no task …`
---@field failures {host: string, task: string, play?: string, message: string, unreachable: boolean}[]
---@field plays integer
---@field tasks integer
---@field missing string[] hosts of `limit` that ran no task
---@field events? string the event stream's file (one JSON object a line), beside the step's output
---@field dry_run? boolean true in a dry run (nothing ran)

---Ansible on this machine.
ansible = {}

---Runs a playbook on this machine with Ferry's event callback: plays and failed hosts go to
---the run's log, the events beside the step's output. Raises naming each failed host and
---task (unless `fail = false`). On the simulated region nothing runs: it is recorded, not judged.
---@param spec PlaybookSpec
---@return PlaybookResult
function ansible.playbook(spec) end

-- HTTP ------------------------------------------------------------------------

---@class HTTPResponse
---@field status integer
---@field headers table<string, string> lower-case names
---@field body string
---@field json? any the body parsed, when it is JSON
---@field duration number seconds

---HTTP client for checks. A transport failure raises; any HTTP status returns.
http = {}

---@param spec {method?: string, url: string, headers?: table<string,string>, body?: string, json?: table, timeout?: Duration, ca_file?: string, insecure?: boolean}
---@return HTTPResponse
function http.request(spec) end

---`http.request` with method GET; `opts` takes the same fields.
---@param url string
---@param opts? table
---@return HTTPResponse
function http.get(url, opts) end

-- Keystone catalog --------------------------------------------------------------

---The Keystone v3 catalog of the region's `keystone:` (token cached and renewed).
catalog = {}

---@return table[] services {id, name, type, enabled, description}
function catalog.services() end

---Endpoints with their service's name and type, filtered by service (name, type or id), interface, region.
---@param filter? {service?: string, interface?: string, region?: string}
---@return table[]
function catalog.endpoints(filter) end

---Finds the service by name and type, or creates it.
---@param spec {name: string, type: string, description?: string}
---@return table
function catalog.ensure_service(spec) end

---Creates the endpoint, or updates its URL; `action` says which ("created", "updated", "unchanged").
---@param spec {service: string, interface: string, region?: string, url: string}
---@return table
function catalog.ensure_endpoint(spec) end

---@param id string
---@param url string
---@return table
function catalog.update_endpoint(id, url) end

---@param id string
function catalog.delete_endpoint(id) end

---@return table[] regions {id, description, parent_region_id}
function catalog.regions() end

---Creates a region; an id that exists already raises Keystone's conflict.
---@param spec {id: string, description?: string}
---@return table
function catalog.create_region(spec) end

---Finds the region by id, or creates it (endpoints need their region to exist).
---@param spec {id: string, description?: string}
---@return table
function catalog.ensure_region(spec) end

---@param id string
function catalog.delete_region(id) end

---Every service, endpoint and region, for `catalog.restore`.
---@return table
function catalog.snapshot() end

---The catalog of a new project-scoped token: what the services that authenticate are given.
---URLs are substituted (`%(tenant_id)s` → the project's id); endpoints Keystone cannot format
---(a key its release does not substitute: `project_id` before Mitaka) are left out.
---@return {id?: string, name?: string, type: string, endpoints: {id?: string, interface: string, region?: string, url: string}[]}[]
function catalog.token_catalog() end

---Puts the catalog back as the snapshot had it: regions (parents first), services (with
---their enabled flag and description) and endpoints; deletes what was created since,
---recreates what was deleted (new ids), reverts changed URLs. Returns counts.
---@param snapshot table
---@return {created: integer, deleted: integer, updated: integer}
function catalog.restore(snapshot) end

-- RabbitMQ broker ---------------------------------------------------------------

---RabbitMQ through the management API of the region's `broker:`.
broker = {}

---@return table {rabbitmq_version, cluster_name, node, messages, queues, connections}
function broker.overview() end

---@return table[]
function broker.vhosts() end

---@param name string
function broker.ensure_vhost(name) end

---@param spec {name: string, password: string|table, tags?: string}
function broker.ensure_user(spec) end

---@param spec {vhost: string, user: string, configure?: string, write?: string, read?: string}
function broker.ensure_permissions(spec) end

---Creates or replaces a policy.
---@param vhost string
---@param name string
---@param spec {pattern: string, definition: table, apply_to?: "all"|"queues"|"exchanges", priority?: integer}
function broker.policy(vhost, name, spec) end

---@param vhost string
---@param name string
function broker.delete_policy(vhost, name) end

---@param filter? {vhost?: string}
---@return table[]
function broker.policies(filter) end

---@class BrokerQueue
---@field vhost string
---@field name string
---@field policy? string
---@field messages? integer ready + unacknowledged; nil until RabbitMQ has statistics for the queue
---@field consumers integer
---@field durable? boolean (broker.queues only)

---Queues with their policy and message counts (counts lag a few seconds).
---@param filter? {vhost?: string}
---@return BrokerQueue[]
function broker.queues(filter) end

---One queue; a missing one raises (HTTP 404).
---@param vhost string
---@param name string
---@return BrokerQueue
function broker.queue(vhost, name) end

---Waits until the queue holds no message (a queue without statistics yet is not
---drained); raises wait_until's error after `within` (default "5m", every "5s").
---@param vhost string
---@param name string
---@param opts? {within?: Duration, every?: Duration}
function broker.wait_drained(vhost, name, opts) end

-- Ini methods -----------------------------------------------------------------

---The value of `key` in `section` ("DEFAULT" before any header; the last one of a
---repeated key), or nil.
---@param section string
---@param key string
---@return string?
function Ini:get(section, key) end

---Sets `key` (keeping a `.ferry-<time>` backup) and returns the previous value.
---A list sets a repeated key, one line per value where the first was, and returns
---the previous values (`{}` removes the key). A new DEFAULT key in a file without a
---`[DEFAULT]` section gets the header, first. Returns no value in a dry run.
---@param section string
---@param key string
---@param value string|number|(string|number)[]
---@return string|string[]|nil previous
function Ini:set(section, key, value) end

---Every value of a repeated key, in file order (`{}` when absent).
---@param section string
---@param key string
---@return string[]
function Ini:values(section, key) end

---Removes every occurrence of `key` from `section` and returns the previous value.
---@param section string
---@param key string
---@return string? previous
function Ini:delete(section, key) end

-- Plugin modules ----------------------------------------------------------------
-- `require "ferry.release"`, `"ferry.glance"`, `"ferry.cinder"`, `"ferry.nova"`,
-- `"ferry.neutron"`, `"ferry.keystone"`, `"ferry.rabbitmq"` (docs/plugins.md).
-- They are modules, not globals (except `release`, the same table as
-- `require "ferry.release"`). Each has a file in meta/ferry/ (`---@meta ferry.glance`,
-- returning the class below), so `local glance = require "ferry.glance"` is typed
-- `ferry.glance` by the language server with no `---@type`.
-- Module functions are written `m.f = function() end` below on purpose: the
-- `function name(` lines of this file are the globals the bridge registers.

---@class ReleaseInfo
---@field name string Ferry's name: "kilo" … "zed", then "2023.1" …
---@field series string "Kilo", "Antelope", …
---@field id? string "2015.1", "2023.1", …
---@field number integer nova's major version for the series
---@field released string initial release date
---@field slurp boolean a SLURP ("tick") release

---@class ReleaseCommand
---@field argv string[] program first, without a virtualenv
---@field text string the command as printed
---@field purpose string
---@field tool? string run with this release's tools instead of the step's
---@field options {flag: string, parameter: string}[] added only when the parameter is given
---@field online_migrations? {max_count_flag: string, default_max_count: integer, exit_codes: table<string, string>, required_before?: string, failure_text?: string, progress_pattern?: string}
---@field completion? {patterns: string[], incomplete: string} a command that exits 0 either way: its output's counts (matched, completed)

---@class ReleaseStep
---@field component string
---@field release string the release the component moves to
---@field commands ReleaseCommand[] in order
---@field required_stop boolean
---@field why_stop? string
---@field api_removals string[]
---@field endpoints {service: string, type: string, port: integer, path: string, why: string, guide_url: string}[]
---@field notes string[]

---Where a release's manage commands run.
---@class ReleaseTools
---@field host Host
---@field venv? string
---@field release string

---The release order, chains, each component's steps, and the helpers the component modules use.
---@class ferry.release
local release = {}

---Every release Ferry knows, oldest first.
---@return ReleaseInfo[]
release.list = function() end

---The release names, oldest first.
---@return string[]
release.names = function() end

---The releases after `from`, up to and including `to` (`kilo`, `queens` → liberty … queens).
---Raises `unknown release 'x' (Ferry knows kilo, liberty, …)`.
---@param from string
---@param to string
---@return string[]
release.chain = function(from, to) end

---Position of a release; kilo is 1.
---@param name string
---@return integer
release.index = function(name) end

---@param name string
---@return ReleaseInfo
release.info = function(name) end

---@param name string
---@return boolean
release.is_slurp = function(name) end

---The releases of the walk from → to that a component cannot skip.
---@param from string
---@param to string
---@return {release: string, component: string, why: string}[]
release.required_stops = function(from, to) end

---The same table as `require "ferry.release"`: a global in every runbook (docs/design-facts.md).
---@type ferry.release
_G.release = release

---A component's steps for the walk from → to (every release: no SLURP skip).
---@param component string
---@param from string
---@param to string
---@return ReleaseStep[]
release.steps = function(component, from, to) end

---Where `name`'s tools live: opts.releases, the region's releases (ctx.releases, ctx.vars.releases),
---else the first host of opts.on with opts.venv ("/opt/venvs/{release}").
---@param ctx Ctx
---@param name string
---@param opts? {releases?: table<string, {host: string, venv?: string}>, on?: Selector, venv?: string}
---@return ReleaseTools
release.tools = function(ctx, name, opts) end

---A word quoted for the remote shell when it needs it.
---@param word string|number
---@return string
release.quote = function(word) end

---The shell line of a step command, with the release's virtualenv in front.
---@param where ReleaseTools
---@param cmd ReleaseCommand
---@param opts? table parameters (transport_url, config_files)
---@param ctx? Ctx
---@return string
release.command_line = function(where, cmd, opts, ctx) end

---A command line's words as the journal records them: the program without its virtualenv,
---no --config-file and its value.
---@param line string
---@return string
release.words = function(line) end

---Logs one manage command as the library does for each it runs (the journal keeps it):
---`ran RELEASE WORDS: exit CODE | key output lines` (online data migration counts and errors,
---the cell commands' answers; at most five).
---@param release_name string
---@param line string the command line
---@param r CommandResult
release.record = function(release_name, line, r) end

---Runs an online data migration command with --max-count until the release's contract
---(exit codes, failure text, progress counts) says done.
---@param where ReleaseTools
---@param cmd ReleaseCommand
---@param opts? {max_count?: integer, max_rounds?: integer, timeout?: Duration}
---@param ctx? Ctx
---@return integer calls
release.run_online_migrations = function(where, cmd, opts, ctx) end

---One batch of `max` rows: "done" or "more" as the release's contract reads the exit code and
---the output (its failure text fails, a batch that matched rows but migrated none fails).
---@param where ReleaseTools
---@param cmd ReleaseCommand
---@param opts? {timeout?: Duration}
---@param ctx? Ctx
---@param max integer
---@return "done"|"more", string line
release.online_migrations_batch = function(where, cmd, opts, ctx, max) end

---Raises unless a command's output says it completed every row it matched (`cmd.completion`).
---@param completion {patterns: string[], incomplete: string}
---@param r CommandResult
---@param what string the command and host, for the message
---@return integer matched, integer completed
release.check_completion = function(completion, r, what) end

---Runs every command of one release step, in order.
---@param data ReleaseStep
---@param ctx Ctx
---@param opts table
---@param where ReleaseTools
release.run_release = function(data, ctx, opts, where) end

---The functions every component module has (for plugin modules).
---@param name string
---@return ferry.component
release.component = function(name) end

---A probe: the API behind vip `vipname` answers `path` below HTTP 400.
---@param vipname string
---@param path? string
---@return Probe
release.http_health = function(vipname, path) end

---A probe: `sql` counts zero rows in database `dbname`.
---@param dbname string
---@param sql string
---@param what string what the rows are, for the failure message
---@return Probe
release.zero_rows = function(dbname, sql, what) end

---The keys of a db_sync at declaration time (`from`, `to`: it declares the steps).
---@alias DbSyncDeclareKey "from"|"to"|"prefix"|"slurp"|"releases"|"on"|"venv"|"online_migrations"|"max_count"|"max_rounds"|"config_files"|"transport_url"|"timeout"
---Those inside a step too (`release`, `ctx`, `host`: it runs one release's commands).
---@alias DbSyncKey DbSyncDeclareKey|"release"|"ctx"|"host"

---`<component>.db_sync` and `.online_migrations` (Sources/Plugins/Release/release.lua: RUN_FIELDS and
---the options of the component's commands; `transport_url` is nova's).
---@class DbSyncSpec: table<DbSyncKey, any>
---@field from? string declaration time: the release the region is at
---@field to? string declaration time: the release to reach
---@field release? string inside a step: run this one release's commands now
---@field ctx? Ctx inside a step: the step's ctx
---@field host? Host inside a step: run here (with venv)
---@field releases? table<string, {host: string, venv?: string}> where each release's tools live (else the region's)
---@field on? Selector fallback: the first host of this selector
---@field venv? string fallback virtualenv, "{release}" replaced: "/opt/venvs/{release}"
---@field prefix? string step names: prefix .. release (default "<component>-db-sync-")
---@field slurp? boolean false: walk every release even on a SLURP-to-SLURP hop (default: skip the release between, keeping required stops); not a boolean raises
---@field online_migrations? boolean false: leave them to a later step
---@field max_count? integer batch size of the online migrations
---@field max_rounds? integer give up after this many batches
---@field config_files? string[] replaces the commands' --config-file options
---@field transport_url? string|SecretRef for nova's cell_v2 simple_cell_setup
---@field timeout? Duration per command and per declared step

---@class EnsureEndpointsSpec: table<"release"|"base_url"|"region"|"interfaces"|"project_key", any>
---@field release string
---@field base_url string
---@field region? string
---@field interfaces? string[]
---@field project_key? "project_id"|"tenant_id"

---What every component module has.
---@class ferry.component
---@field name string
---@field preflight table<string, Probe|HostProbe> checks to use as probes
local component = {}

---Every release's step of the walk from → to (no SLURP skip; db_sync makes that choice).
---@param from string
---@param to string
---@return ReleaseStep[]
component.steps = function(from, to) end

---@param release string
---@return ReleaseStep?
component.step = function(release) end

---Declaration time ({from, to}): declares one irreversible step per release of the chain,
---"<component>-db-sync-<release>", each run where the release's tools live; returns their names.
---On a SLURP-to-SLURP hop (2023.1 → 2024.1) only `to`'s step and any required stop, unless `slurp = false`.
---Inside a step ({release, ctx}): runs that release's commands now.
---@param spec DbSyncSpec
---@return string[]|string
component.db_sync = function(spec) end

---Inside a step: runs `release`'s online data migrations until done; returns the number of calls.
---@param spec DbSyncSpec
---@return integer
component.online_migrations = function(spec) end

---systemd units for a package family ("rpm", "deb", or a distribution name), of one role or
---placement ("controller", "compute", "network"), shipped by `release`.
---@param family string
---@param role? string
---@param release? string
---@return string[]
component.services = function(family, role, release) end

---@param family string
---@return string[]
component.packages = function(family) end

---Inside a step: registers the endpoints `release` needs at base_url (e.g. vip.url("cinder")).
---`project_key` ("tenant_id" for a Kilo or Liberty Keystone) replaces the paths' project key.
---@param spec EnsureEndpointsSpec
---@return table[]
component.ensure_endpoints = function(spec) end

---A host probe: `<component>-status upgrade check` (0 pass, 1 pass with a warning, 2 fail).
---@param host Host
---@param ctx Ctx
---@return boolean, string?
component.status_check = function(host, ctx) end

---@class ferry.glance: ferry.component
local glance = {}
---@type Probe
glance.health = function(ctx) end
---Legacy migrate_version (Kilo…Newton) or the Alembic heads (Ocata on).
---@param name? string database name, default "glance"
---@return integer|string[]
glance.schema_version = function(name) end
---@type Probe
glance.preflight.uploads_in_progress = function(ctx) end

---@class CinderUpdateHostSpec: table<"host"|"currenthost"|"newhost", any>
---@field host Host
---@field currenthost string
---@field newhost string

---@class CinderServiceRemoveSpec: table<"host"|"binary"|"service_host", any>
---@field host Host
---@field binary string
---@field service_host string

---@class ferry.cinder: ferry.component
local cinder = {}
---@type Probe
cinder.health = function(ctx) end
---Inside a step: `cinder-manage volume update_host --currenthost A --newhost B` on spec.host.
---@param spec CinderUpdateHostSpec
---@return CommandResult
cinder.update_host = function(spec) end
---Inside a step: `cinder-manage service remove BINARY HOST` on spec.host.
---@param spec CinderServiceRemoveSpec
---@return CommandResult
cinder.service_remove = function(spec) end
---@type Probe
cinder.preflight.busy_volumes = function(ctx) end
---@type Probe
cinder.preflight.ocata_migrations_done = function(ctx) end
---Before a Newton or later Cinder starts: no service row without an RPC version (Kilo's; ServiceTooOld).
---@type Probe
cinder.preflight.unversioned_services = function(ctx) end

---@class ferry.nova: ferry.component
---@field placement ferry.component Placement's steps (Stein on)
local nova = {}
---@type Probe
nova.health = function(ctx) end
---Inside a step: `nova-manage cell_v2 discover_hosts` on host.
---@param host Host
---@return CommandResult
nova.discover_hosts = function(host) end
---Inside a step (Pike on): `nova-manage cell_v2 update_cell --cell_uuid U` on host for every
---cell but cell0 that `cell_v2 list_cells` shows, so the mappings take the broker (and
---database) of host's nova.conf; raises when no cell but cell0 is listed.
---  nova.update_cells(inventory.group("nova_new")[1])  --> { "5f3b8c2e-…" }
---@param host Host
---@return string[] uuids the cells updated
nova.update_cells = function(host) end
---@type Probe
nova.preflight.instances_in_flight = function(ctx) end
---The oldest Newton point release whose cell setup the library suits ("14.0.7").
---@type string
nova.newton_cell_setup_minimum = "14.0.7"
---The oldest libvirt and QEMU each release's libvirt driver starts on (nova/virt/libvirt/driver.py
---MIN_LIBVIRT_VERSION, MIN_QEMU_VERSION): release → { libvirt = "1.2.9", qemu = "2.1.0" } (no qemu before Newton).
---@type table<string, { libvirt: string, qemu: string? }>
nova.hypervisor_minimum = {}
---The SERVICE_VERSION each release's services write in their row (nova/objects/service.py): release → number.
---@type table<string, integer>
nova.service_version = {}
---From Pike a compute writes its instances' allocations only while a nova-compute row below this (22) remains.
---@type integer
nova.heal_marker = 22
---Inside a step or a check: the nova-compute service rows not deleted.
---  nova.compute_services()  --> { { id = 1, host = "cmp0001", version = 30, disabled = 0 }, … }
---@param database string? the cell database (default "nova")
---@return { id: integer, host: string, version: integer, disabled: integer }[]
nova.compute_services = function(database) end
---Inside a step or a check: the compute nodes of `hosts` whose instances (compute_nodes.running_vms) are not all
---allocated in placement, by host name, and how many nodes of `hosts` were looked at.
---  local gaps, looked = nova.allocation_gaps({ cmp0001 = true })  --> { cmp0001 = { running_vms = 10, allocated = 0, … } }, 1
---@param hosts table<string, boolean> the host names to look at
---@param placement_database string? where placement's tables are (default "nova_api": Newton … Stein)
---@return table<string, { host: string, running_vms: integer, allocated: integer, provider: boolean }> gaps
---@return integer looked
nova.allocation_gaps = function(hosts, placement_database) end
---A public volumev3 endpoint in a new token's catalog (not merely registered).
---@type Probe
nova.preflight.volumev3_endpoint = function(ctx) end
---No instance with a task_state, or resized or rescued (Kilo's migrate_flavor_data skips them).
---@type Probe
nova.preflight.flavor_migration_blockers = function(ctx) end
---@type Probe
nova.preflight.cells_mapped = function(ctx) end
---@type HostProbe
nova.preflight.null_instance_uuids = function(host, ctx) end

---@class ferry.neutron: ferry.component
local neutron = {}
---@type Probe
neutron.health = function(ctx) end
---Inside a step: whether contract (offline) migrations are pending.
---@param host Host
---@return boolean
neutron.has_offline_migrations = function(host) end
---@type HostProbe
neutron.preflight.server_stopped = function(host, ctx) end

---@class ferry.keystone: ferry.component
local keystone = {}
---@type Probe
keystone.health = function(ctx) end
---@type HostProbe
keystone.preflight.fernet_tokens = function(host, ctx) end
---@type Probe
keystone.preflight.no_v2_endpoints = function(ctx) end
---Before a Keystone db_sync to Queens: the database server is not MariaDB 10.3 or later (Queens' migration 035 fails there).
---@param ctx Ctx
---@param database? string the region's database entry (default "keystone")
---@return boolean ok, string? why
keystone.preflight.database_server = function(ctx, database) end
---"project_id" from Mitaka, "tenant_id" before (Kilo and Liberty substitute no project_id).
---@param release string
---@return "project_id"|"tenant_id"
keystone.project_key = function(release) end
---`path` with its `%(project_id)s`/`%(tenant_id)s` as a Keystone of `release` substitutes it.
---@param path string
---@param release string
---@return string
keystone.url_template = function(path, release) end
---`vars.keystone_release`, else `default`; an error when neither says.
---@param ctx Ctx
---@param default? string
---@return string
keystone.region_release = function(ctx, default) end
---The endpoints a new token's catalog carries for the service named or typed `service`: { [interface] = url }.
---@param service string
---@return table<string, string>
keystone.token_endpoints = function(service) end

---@class PolicySnapshot
---@field vhost string
---@field name string
---@field policies table[]

---@class RabbitDefinitionSpec: table<"lazy"|"locator"|"leader_locator"|"ha_mode"|"ha_params"|"ha_sync_mode", any>
---@field lazy? boolean
---@field locator? string
---@field leader_locator? string
---@field ha_mode? "all"|"exactly"|"nodes"
---@field ha_params? any
---@field ha_sync_mode? "automatic"|"manual"

---@class RabbitPolicySpec: table<"vhost"|"name"|"pattern"|"locator"|"priority", any>
---@field vhost? string
---@field name? string
---@field pattern? string
---@field locator? string
---@field priority? integer

---@class ferry.rabbitmq: ferry.component
local rabbitmq = {}
---@type Probe
rabbitmq.health = function(ctx) end
---One policy definition (a queue gets only one policy).
---@param spec RabbitDefinitionSpec
---@return table
rabbitmq.definition = function(spec) end
---Inside a step: notification queues lazy; returns what restore_policies needs.
---@param spec? RabbitPolicySpec
---@return PolicySnapshot
rabbitmq.lazy_notifications = function(spec) end
---Inside a step: where classic queue masters go.
---@param spec? RabbitPolicySpec
---@return PolicySnapshot
rabbitmq.queue_master_locator = function(spec) end
---Undo of lazy_notifications / queue_master_locator.
---@param saved PolicySnapshot
rabbitmq.restore_policies = function(saved) end
---A probe: the queues of `vhost` matching `pattern` hold at most `max` messages each
---(queues without statistics yet are passed over).
---@param vhost string
---@param pattern string a Lua pattern
---@param max integer
---@return Probe
rabbitmq.queues_below = function(vhost, pattern, max) end
---A probe: no broker policy mirrors classic queues (ha-mode); RabbitMQ 4.0 removes them
---and openstack-ansible 2024.2 wants quorum queues first. Fails naming up to five policies.
---@type Probe
rabbitmq.preflight.no_mirrored_queues = function(ctx) end
