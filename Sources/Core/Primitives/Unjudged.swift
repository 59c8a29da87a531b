import Foundation

/// Something a run did that its region ran without judging: a simulated region records a
/// command or statement its model does not know well enough to say whether a real host
/// would accept it (an arbitrary `sh -c`, a tool no component models, SQL it does not
/// answer from the model). The run warns once per distinct one, in its output and its
/// report, so a drill's reader sees what was never checked (docs/simulation.md).
public struct UnjudgedNote: Sendable, Equatable {
    /// The command (or SQL statement) as it ran.
    public var text: String
    /// The host it ran on; nil for a statement sent to a database.
    public var host: String?
    /// The step running when it ran, if any.
    public var step: String?
    /// Why it could not be judged (`no component models curl`).
    public var why: String

    public init(text: String, host: String?, step: String?, why: String) {
        (self.text, self.host, self.step, self.why) = (text, host, step, why)
    }

    /// `recorded, not judged: `curl -fsS …` on cmp0001: no component models curl`.
    public var message: String {
        "recorded, not judged: `\(text)`\(host.map { " on \($0)" } ?? ""): \(why)"
    }
}

/// What records unjudged commands for a run (the simulated region); the engine tells it
/// where a run's warnings go while the run's environment is installed.
public protocol UnjudgedRecorder: Sendable {
    /// From now until ``end()``, each distinct unjudged command of run `runID` is said once
    /// through `say` (again after a `begin` for another run, not for the same one).
    func begin(runID: String, _ say: @escaping @Sendable (UnjudgedNote) -> Void)
    func end()
}
