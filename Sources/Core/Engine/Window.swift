import Foundation

/// The one scheduler: runs items with at most `limit` at once, starting the next item as
/// soon as one ends (a sliding window, as pdsh and Ansible's forks do). A step's hosts, the
/// hosts of a check, `ssh.run`'s targets and `parallel`'s items all go through it, on the
/// wall clock and on the virtual one alike.
///
/// Each item runs on a lane of the clock. On the wall clock lanes are only names. On a
/// virtual clock an item starts where the item whose slot it takes ended, so simulated
/// time follows the same schedule as real time would. Real tasks end in whatever order
/// the machine runs them, so a slot is handed over only once it is certain to be the
/// first to free up in simulated time: every item still running is already past the end
/// of the ended one (ties go to the earlier item). The schedule, and so every simulated
/// time and result, is the same on every run however the tasks interleave.
struct Window {
    let clock: any RunClock
    /// The lane the window runs in (nil: the coordinator's): its items start on its time
    /// and share its time limit, and it moves on to the last item's end.
    let parent: String?
    let limit: Int

    init(clock: any RunClock, parent: String?, limit: Int) {
        self.clock = clock
        self.parent = parent
        self.limit = max(1, limit)
    }

    /// Runs `body` for items `0..<count`, item `i` on lane `lane(i)` (the task's
    /// ``RunLane/current``). Returns the results by item. An error thrown by `body`
    /// cancels the items still running and is rethrown.
    func run<R: Sendable>(count: Int, lane: (Int) -> String,
                          _ body: @escaping @Sendable (Int, String) async throws -> R) async throws -> [R]
    {
        guard count > 0 else { return [] }
        let clock = self.clock
        let parent = self.parent
        var results = [R?](repeating: nil, count: count)
        var lanes: [Int: String] = [:]
        do {
            try await withThrowingTaskGroup(of: (Int, R).self) { group in
                var next = 0
                /// Items started and not yet over (their lanes are open).
                var running: [Int: String] = [:]
                /// Items that ended but whose slots were not yet handed over: (end, item).
                var ended: [(end: Double?, item: Int)] = []

                // A slot is handed over only when one frees, so every item starts with the
                // window full: it runs alongside as many items as the window holds.
                let cohort = min(count, limit)
                func start(at time: Double?) {
                    let i = next
                    next += 1
                    let name = lane(i)
                    lanes[i] = name
                    running[i] = name
                    clock.open(name, parent: parent, at: time, cohort: cohort)
                    group.addTask {
                        let value = try await RunLane.$current.withValue(name) { try await body(i, name) }
                        return (i, value)
                    }
                }
                /// The ended item whose slot frees first in the clock's time, if that is certain.
                func firstFree() -> Int? {
                    guard let first = ended.indices.min(by: { Self.before(ended[$0], ended[$1]) }) else { return nil }
                    guard let end = ended[first].end else { return first }
                    let item = ended[first].item
                    for (other, name) in running {
                        guard let t = clock.laneTime(name) else { continue }
                        if t < end || (t == end && other < item) { return nil }
                    }
                    return first
                }

                while next < min(count, limit) { start(at: nil) }
                while let (i, value) = try await group.next() {
                    results[i] = value
                    if let name = running.removeValue(forKey: i) {
                        ended.append((clock.laneTime(name), i))
                    }
                    while next < count, let f = firstFree() {
                        // The ended item's effects count before the next one begins.
                        let freed = ended.remove(at: f)
                        clock.close(lanes[freed.item]!, into: parent)
                        start(at: freed.end)
                    }
                }
                // The rest close in the order they ended (the simulation commits their effects so).
                for e in ended.sorted(by: Self.before) {
                    clock.close(lanes[e.item]!, into: parent)
                }
            }
        } catch {
            for (_, name) in lanes.sorted(by: { $0.key < $1.key }) { clock.close(name, into: parent) }
            throw error
        }
        return results.map { $0! }
    }

    /// Which of two ended items freed its slot first: the earlier end, then the earlier item.
    static func before(_ a: (end: Double?, item: Int), _ b: (end: Double?, item: Int)) -> Bool {
        (a.end ?? 0, a.item) < (b.end ?? 0, b.item)
    }
}
