import FerryCore
import FerryTestSupport
import Foundation
import LuaBridge
import Testing

/// `kill -9` at many points of a run, its resumes and its rollback, and `resume` and
/// `rollback` started together, on a 50-host step with `undo` (issue 11, "a chaos test").
///
/// The points are random but the outcome is not: the seed chooses them (printed; replay
/// with `FERRY_CHAOS_SEED=<seed>`), and each point is "once the K-th host of this process
/// has taken its ticket", never a sleep. Every host's command takes a ticket (a line in
/// `out/tickets-<ferry pid>`) before it acts; from the K-th ticket on, commands wait,
/// without acting, until ferry is gone. So when the kill lands, the hosts before K have
/// acted and the others have not. Half the kills wait first until the journal has
/// recorded those hosts as done ("quiet"); the others kill at once, while their results
/// may still be on the way to the journal ("racing"). Once the killed ferry is gone the
/// test reads what each host did (`out/ran`, `out/undone`: host, ferry pid, host.state)
/// and what the journal says; a host that acted without its result reaching the journal
/// is "in doubt", and is the only kind a later command may run again.
///
/// `FERRY_CHAOS_KILLS` (default 100) sets how many kills; `scripts/chaos` runs more.
@Suite struct CLIChaosTests {
    static let hosts = 50

    @Test func killedAtRandomPointsRunsEachHostOnceAndUndoesEachOnce() async throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["FERRY_CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1..<UInt64.max)
        let kills = max(1, env["FERRY_CHAOS_KILLS"].flatMap { Int($0) } ?? 100)
        let scenarios = max(1, env["FERRY_CHAOS_SCENARIOS"].flatMap { Int($0) } ?? max(1, kills / 20))
        print("chaos: seed \(seed) (replay with FERRY_CHAOS_SEED=\(seed)), \(kills) kills over \(scenarios) scenarios")
        var random = SeededRandom(seed: seed)
        var total = ChaosTally()
        for index in 0..<scenarios {
            let share = kills / scenarios + (index < kills % scenarios ? 1 : 0)
            let parallel = [1, 3, 6, 12].randomElement(using: &random)!
            var scenario = try ChaosScenario(seed: seed, index: index, parallel: parallel)
            try await scenario.play(kills: share, random: &random)
            total.add(scenario.tally)
            print("chaos: scenario \(index + 1): parallel \(parallel), \(scenario.tally)")
            if scenario.failed { break }
            try? FileManager.default.removeItem(atPath: scenario.dir)
        }
        print("chaos: \(total)")
        #expect(total.kills >= kills, "seed \(seed)")
    }
}

/// What the scenarios did, for the log line.
struct ChaosTally: CustomStringConvertible {
    var kills = 0
    var quiet = 0
    var pairs = 0
    var rollbackWon = 0
    var inDoubt = 0
    var processes = 0

    mutating func add(_ other: ChaosTally) {
        kills += other.kills
        quiet += other.quiet
        pairs += other.pairs
        rollbackWon += other.rollbackWon
        inDoubt += other.inDoubt
        processes += other.processes
    }

    var description: String {
        "\(kills) kills (\(quiet) quiet, \(kills - quiet) racing), \(pairs) resume/rollback pairs (rollback won \(rollbackWon)), "
            + "\(inDoubt) host(s) in doubt at a kill, \(processes) ferry processes"
    }
}

/// One run of 50 hosts: run, resumes and rollbacks killed at random tickets, then carried
/// to the end (succeeded, then rolled back), checking the invariants along the way.
struct ChaosScenario {
    enum Command: String { case run, resume, rollback }

    let dir: String
    let seed: UInt64
    let index: Int
    let journal: RunJournal
    var runID = ""
    var tally = ChaosTally()
    /// Kills after which the host had acted but the journal did not say it was done, per phase.
    var inDoubt: [Invocation.Phase: [String: Int]] = [.run: [:], .undo: [:]]
    var rollingBack = false
    var failed = false

    var out: String { dir + "/out" }
    var context: String { "seed \(seed), scenario \(index + 1), dir \(dir)" }

    init(seed: UInt64, index: Int, parallel: Int) throws {
        self.seed = seed
        self.index = index
        dir = try workspace(runbook: """
            runbook { name = "chaos" }
            -- gate.sh takes a ticket, waits from the test's kill-at ticket on, else records the action.
            local function gated(ctx, file, host, state)
              return "f=" .. file .. "; h=" .. host .. "; s=" .. state .. "; . " .. ctx.vars.out .. "/gate.sh"
            end
            step "hosts" {
              on = "computes", parallel = \(parallel),
              run = function(host, ctx)
                host.state.by = host:run(gated(ctx, "ran", host.name, "-")).stdout:match("%d+")
              end,
              undo = function(host, ctx) host:run(gated(ctx, "undone", host.name, host.state.by or "none")) end,
            }
            """, hosts: Self.hosts)
        let out = dir + "/out"
        // A command ferry started just before it was killed may begin after ferry is gone
        // (its parent is then another process): it does nothing, as a host's ssh session
        // would end with the ssh client.
        try """
            c=; { read -r c < /proc/$PPID/comm; } 2>/dev/null
            [ "$c" = ferry ] || exit 1
            t=\(out)/tickets-$PPID
            echo "$h" >> "$t"
            n=0
            while read -r l; do n=$((n+1)); [ "$l" = "$h" ] && break; done < "$t"
            k=0; read -r k < \(out)/kill-at
            if [ "$k" -gt 0 ] && [ "$n" -ge "$k" ]; then
              while kill -0 "$PPID" 2>/dev/null; do sleep 0.1; done
              exit 1
            fi
            echo "$h $PPID $s" >> \(out)/$f
            echo "$PPID"

            """.write(toFile: out + "/gate.sh", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: out + "/kill-at", atomically: true, encoding: .utf8)
        // The journal (and its schema) exists before a child opens it.
        journal = try RunJournal(path: dir + "/j.db")
    }

    static var hosts: Int { CLIChaosTests.hosts }

    func arguments(_ command: Command) -> [String] {
        switch command {
        case .run: return ["run", "runbook.lua", "-r", "region.yaml", "--yes", "--journal", "j.db"]
        case .resume: return ["resume", "last", "--yes", "--journal", "j.db"]
        case .rollback: return ["rollback", "last", "--yes", "--journal", "j.db"]
        }
    }

    // MARK: Playing

    mutating func play(kills: Int, random: inout SeededRandom) async throws {
        // Up to about half the kills before the run succeeds, the rest in its rollback.
        let before = max(1, kills / 2)
        var killed = 0
        var command = Command.run
        while killed < before && !failed {
            var remaining = try await remainingHosts(.run)
            let pair = command == .resume && Int.random(in: 0..<3, using: &random) == 0
            if pair { remaining = min(remaining, try await remainingHosts(.undo)) }
            let k = ticket(remaining: remaining, random: &random)
            let quiet = Bool.random(using: &random)
            if pair {
                try await playPair(k: k, quiet: quiet)
            } else {
                try await killAndSettle(command, k: k, quiet: quiet)
            }
            killed += 1
            command = .resume
            if rollingBack { break }
        }
        guard !failed else { return }
        if !rollingBack {
            try await finish(.resume)
            try await expectStatus("succeeded")
            try await expectRanOnce(untilRolledBack: false)
        }
        while killed < kills && !failed {
            let remaining = try await remainingHosts(.undo)
            guard remaining > 0 else { break }
            try await killAndSettle(.rollback, k: ticket(remaining: remaining, random: &random), quiet: Bool.random(using: &random))
            killed += 1
        }
        guard !failed else { return }
        try await finish(.rollback)
        try await expectStatus("rolled_back")
        try await expectRanOnce(untilRolledBack: true)
        let refused = try await FerryProcess.run(arguments(.resume), in: dir)
        tally.processes += 1
        check(refused.code == 2 && refused.stderr.contains("was rolled back"), "a rolled-back run is final: \(refused.stderr)")
        check(try await journal.leases.leases().isEmpty, "every lock is given back at the end")
    }

    /// Which ticket the kill waits for: at most a fifth of what is left, so a scenario
    /// has many kills before its hosts run out.
    func ticket(remaining: Int, random: inout SeededRandom) -> Int {
        Int.random(in: 1...max(1, min(remaining, max(1, remaining / 5))), using: &random)
    }

    /// Hosts the next run/resume (`.run`) or rollback (`.undo`) has left to do.
    func remainingHosts(_ phase: Invocation.Phase) async throws -> Int {
        guard !runID.isEmpty else { return Self.hosts }
        let ran = try await journal.hosts(runID, step: 0, phase: .run)
        if phase == .run { return Self.hosts - ran.filter { $0.status == .ok }.count }
        let undone = try await journal.hosts(runID, step: 0, phase: .undo).filter { $0.status == .ok }.count
        return ran.count - undone
    }

    /// Starts `command`, kills it at ticket `k`, and records what it left.
    mutating func killAndSettle(_ command: Command, k: Int, quiet: Bool) async throws {
        try "\(k)\n".write(toFile: out + "/kill-at", atomically: true, encoding: .utf8)
        let phase: Invocation.Phase = command == .rollback ? .undo : .run
        let journal = self.journal
        let out = self.out
        let known = runID
        let (pid, output) = try await FerryProcess.run(arguments(command), in: dir) { child -> Int32? in
            try await Self.kill(child, at: k, phase: phase, quiet: quiet, journal: journal, out: out, runID: known) ? child.pid : nil
        }
        tally.processes += 1
        guard let pid, output.signal == SIGKILL else {
            check(false, "\(command) at ticket \(k) ended before its kill: code \(output.code.map(String.init) ?? "-") \(output.stderr)")
            return
        }
        if command == .rollback { rollingBack = true }
        try await settle(pid: pid, k: k, phase: phase, quiet: quiet)
    }

    /// `resume` and `rollback` started together: one holds the lock (its hosts wait at
    /// ticket `k`), the other exits 4 naming it; then the holder is killed.
    mutating func playPair(k: Int, quiet: Bool) async throws {
        try "\(k)\n".write(toFile: out + "/kill-at", atomically: true, encoding: .utf8)
        let journal = self.journal
        let out = self.out
        let runID = self.runID
        let dir = self.dir
        let commands: [Command: [String]] = [.resume: arguments(.resume), .rollback: arguments(.rollback)]
        let loserDone = Latch()
        let results = try await withThrowingTaskGroup(of: (Command, Int32, Bool, ChildProcess.Output).self) { group in
            for command in [Command.resume, .rollback] {
                let phase: Invocation.Phase = command == .rollback ? .undo : .run
                group.addTask {
                    let ((pid, won), output) = try await FerryProcess.run(commands[command]!, in: dir) { child -> (Int32, Bool) in
                        // The holder takes tickets; the other ends on its own.
                        guard try await Wait.until("ticket \(k) of \(command)", unless: .child(child, "ferry \(command)"), {
                            Chaos.tickets(out, child.pid).count >= k
                        }) else { return (child.pid, false) }
                        // Killed only once the other was refused: it certainly met the lock.
                        // (Were both holding, a bug, neither would end: the hang guard fails that.)
                        _ = try await Wait.until("the other command refused", unless: .never) { loserDone.isOpen }
                        return (child.pid, try await Self.kill(child, at: k, phase: phase, quiet: quiet, journal: journal, out: out, runID: runID))
                    }
                    if !won { loserDone.open() }
                    return (command, pid, won, output)
                }
            }
            var all: [(Command, Int32, Bool, ChildProcess.Output)] = []
            for try await r in group { all.append(r) }
            return all
        }
        tally.processes += 2
        tally.pairs += 1
        guard let winner = results.first(where: { $0.2 }), let loser = results.first(where: { !$0.2 }) else {
            check(false, "resume and rollback together: no single holder: \(results.map { "\($0.0): \($0.3.code.map(String.init) ?? "-") \($0.3.stderr)" })")
            return
        }
        check(winner.3.signal == SIGKILL, "the holder (\(winner.0)) was killed: \(winner.3.stderr)")
        check(loser.3.code == 4 && loser.3.stderr.contains("is held by run \(runID) (pid \(winner.1) on "),
              "the other (\(loser.0)) exits 4 naming the holder: \(loser.3.code.map(String.init) ?? "-") \(loser.3.stderr)")
        if winner.0 == .rollback {
            rollingBack = true
            tally.rollbackWon += 1
        }
        try await settle(pid: winner.1, k: k, phase: winner.0 == .rollback ? .undo : .run, quiet: quiet)
    }

    /// Waits for ticket `k` of `child` (and, when `quiet`, for the journal to hold the hosts
    /// before it as done), then kills it. False when the child ended first.
    static func kill(_ child: ChildProcess.Running, at k: Int, phase: Invocation.Phase, quiet: Bool, journal: RunJournal, out: String,
                     runID: String) async throws -> Bool
    {
        let ferry = Ending.child(child, "ferry")
        guard try await Wait.until("ticket \(k)", unless: ferry, { Chaos.tickets(out, child.pid).count >= k }) else { return false }
        let tickets = Chaos.tickets(out, child.pid)
        if quiet {
            let acting = Set(tickets.prefix(k - 1))
            let journaled = try await Wait.until("the hosts before ticket \(k) journaled as done", unless: ferry) {
                let id = runID.isEmpty ? (try? await journal.runs().first?.id) : Optional(runID)
                guard let id, let done = try? await journal.hosts(id, step: 0, phase: phase).filter({ $0.status == .ok }).map(\.host)
                else { return acting.isEmpty }
                return acting.isSubset(of: Set(done))
            }
            guard journaled else { return false }
        }
        try child.signal(SIGKILL)
        return true
    }

    /// After a kill: waits until the hosts before ticket `k` have recorded their action
    /// (their commands go on a moment after ferry is gone), then notes the hosts in doubt.
    mutating func settle(pid: Int32, k: Int, phase: Invocation.Phase, quiet: Bool) async throws {
        tally.kills += 1
        if quiet { tally.quiet += 1 }
        if runID.isEmpty { runID = try #require(try await journal.runs().first?.id) }
        let file = phase == .run ? "ran" : "undone"
        let acting = Array(Chaos.tickets(out, pid).prefix(k - 1))
        let out = self.out
        // The hosts' commands (`sh -c "… . <out>/gate.sh"`) go on after ferry: once none is
        // left, what they recorded is all there will be.
        let recorded = try await Wait.until("the hosts before ticket \(k) recorded their action",
                                            unless: Ending("the hosts' commands") { Processes.matching(out + "/gate.sh").isEmpty }) {
            let done = Set(Chaos.actions(out + "/" + file).filter { $0.pid == pid }.map(\.host))
            return acting.allSatisfy(done.contains)
        }
        check(recorded, "the hosts before ticket \(k) acted: \(acting)")
        let acted = Chaos.actions(out + "/" + file).filter { $0.pid == pid }.map(\.host)
        check(Set(acted) == Set(acting), "only hosts before ticket \(k) acted: \(acted.sorted()) vs \(acting.sorted())")
        let done = Set(try await journal.hosts(runID, step: 0, phase: phase).filter { $0.status == .ok }.map(\.host))
        let doubtful = acted.filter { !done.contains($0) }
        if quiet { check(doubtful.isEmpty, "a quiet kill leaves no host in doubt: \(doubtful)") }
        for host in doubtful { inDoubt[phase, default: [:]][host, default: 0] += 1 }
        tally.inDoubt += doubtful.count
        let status = try await journal.run(runID).status
        check(status == (phase == .run ? .running : .rollingBack), "a killed \(phase) leaves the run \(status)")
        expectNoHostTwiceInOneProcess()
    }

    /// Runs `command` to its end, nothing killed.
    mutating func finish(_ command: Command) async throws {
        try "0\n".write(toFile: out + "/kill-at", atomically: true, encoding: .utf8)
        let result = try await FerryProcess.run(arguments(command), in: dir)
        tally.processes += 1
        check(result.code == 0, "\(command) to the end: \(result.code) \(result.stderr)")
        if command == .rollback { rollingBack = true }
    }

    mutating func expectStatus(_ expected: String) async throws {
        let status = try await FerryProcess.run(["status", "last", "--json", "--journal", "j.db"], in: dir)
        tally.processes += 1
        check((try? LuaValue.fromJSON(status.stdout)["status"]) == .string(expected), "ferry status: \(status.stdout)")
    }

    // MARK: Invariants

    mutating func expectNoHostTwiceInOneProcess() {
        for file in ["ran", "undone"] {
            let actions = Chaos.actions(out + "/" + file)
            var seen = Set<String>()
            for a in actions where !seen.insert("\(a.host) \(a.pid)").inserted {
                check(false, "\(a.host) acted twice in process \(a.pid) (\(file))")
            }
        }
    }

    /// Each host acted once per result the journal lost to a kill, plus once if the journal
    /// says it is done; never otherwise, and never before it was journaled as started.
    mutating func expectRanOnce(untilRolledBack: Bool) async throws {
        let records = try await journal.allHosts(runID)
        for phase in untilRolledBack ? [Invocation.Phase.run, .undo] : [.run] {
            let byHost = Dictionary(records.filter { $0.phase == phase }.map { ($0.record.host, $0.record) }, uniquingKeysWith: { $1 })
            let actions = Chaos.actions(out + (phase == .run ? "/ran" : "/undone"))
            let counts = Dictionary(actions.map { ($0.host, 1) }, uniquingKeysWith: +)
            for n in 1...Self.hosts {
                let host = String(format: "cmp%03d", n)
                let record = byHost[host]
                let expected = (record?.status == .ok ? 1 : 0) + (inDoubt[phase]?[host] ?? 0)
                check((counts[host] ?? 0) == expected,
                      "\(host) \(phase): acted \(counts[host] ?? 0) time(s); journal \(record.map { "\($0.status)" } ?? "none"), in doubt \(inDoubt[phase]?[host] ?? 0)")
                check((counts[host] ?? 0) <= (record?.attempts ?? 0), "\(host) \(phase): acted more often than journaled attempts")
            }
            if phase == .undo {
                let ran = Dictionary(records.filter { $0.phase == .run }.map { ($0.record.host, $0.record) }, uniquingKeysWith: { $1 })
                for (host, record) in ran {
                    check(byHost[host]?.status == .ok, "\(host) started in the run and is undone")
                    // Undo sees what the run that journaled the host left: the pid of its process.
                    let last = Chaos.actions(out + "/ran").last { $0.host == host }
                    let want = record.status == .ok ? String(last?.pid ?? -1) : "none"
                    check(actions.filter { $0.host == host }.allSatisfy { $0.state == want }, "\(host): undo saw host.state \(want)")
                }
                check(Set(byHost.keys).isSubset(of: Set(ran.keys)), "no host undone that the run never started")
            } else if !untilRolledBack {
                check(byHost.count == Self.hosts && byHost.values.allSatisfy { $0.status == .ok }, "every host done")
            }
        }
    }

    mutating func check(_ condition: Bool, _ message: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        if !condition {
            failed = true
            Issue.record("\(message) [\(context)]", sourceLocation: sourceLocation)
        }
    }
}

/// What the hosts' commands leave behind, read by the test.
enum Chaos {
    struct Action {
        var host: String
        var pid: Int32
        var state: String
    }

    /// The hosts of ferry process `pid` in the order they took tickets.
    static func tickets(_ out: String, _ pid: Int32) -> [String] {
        lines(out + "/tickets-\(pid)")
    }

    static func actions(_ path: String) -> [Action] {
        lines(path).compactMap { line in
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 3, let pid = Int32(parts[1]) else { return nil }
            return Action(host: parts[0], pid: pid, state: parts[2])
        }
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
