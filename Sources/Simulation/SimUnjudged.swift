import FerryCore
import Foundation
import Synchronization

/// What the simulated region ran without judging (see "What is judged" in docs/simulation.md):
/// each distinct command or statement is said once per run through the engine's warning,
/// and kept for whoever asks (tests, `ferry exec`).
final class SimUnjudged: UnjudgedRecorder {
    private struct Listening {
        var runID: String?
        var say: (@Sendable (UnjudgedNote) -> Void)?
        var seen: Set<String> = []
    }

    private let listening = Mutex(Listening())
    private let clock: VirtualClock

    init(clock: VirtualClock) { self.clock = clock }

    func begin(runID: String, _ say: @escaping @Sendable (UnjudgedNote) -> Void) {
        listening.withLock { l in
            if l.runID != runID { l.seen = [] }
            l.runID = runID
            l.say = say
        }
    }

    func end() { listening.withLock { $0.say = nil } }

    /// Records `text` as run without judgement; the first time in the run it is said.
    /// Distinct means the same text (a command that names its host is one per host).
    func record(_ text: String, host: String?, why: String) {
        let note = UnjudgedNote(text: text, host: host, step: clock.step, why: why)
        let say: (@Sendable (UnjudgedNote) -> Void)? = listening.withLock { l in
            l.seen.insert(text).inserted ? l.say : nil
        }
        say?(note)
    }
}
