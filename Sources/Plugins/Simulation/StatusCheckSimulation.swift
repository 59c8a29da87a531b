import FerryCore
import FerrySimulation

/// `<project>-status upgrade check` (oslo.upgradecheck): 0 success, 1 warning, 2 failure.
/// Nova has it since Ocata; the others since the Stein "upgrade-checkers" goal.
enum StatusCheckSimulation {
    struct Finding {
        var check: String
        /// 1 warning, 2 failure.
        var code: Int32
        var details: String
    }

    static func firstRelease(_ component: String) -> String { component == "nova" ? "ocata" : "stein" }

    static func run(_ command: SimCommand, tool: String, component: String, state: SimState, context: any SimContext,
                    findings: [Finding] = []) -> SimOutcome
    {
        guard Sim.atLeast(tool, firstRelease(component)) else { return Sim.notInstalled(command) }
        let args = ManageArguments(command.argv)
        guard args.words == ["upgrade", "check"] else { return Sim.unrecognized(command, args.words) }
        var text = "+\(String(repeating: "-", count: 40))+\n| Upgrade Check Results\(String(repeating: " ", count: 18))|\n"
        if findings.isEmpty { text += "| Check: all \(component) checks\n| Result: Success\n| Details: None\n" }
        for f in findings {
            text += "| Check: \(f.check)\n| Result: \(f.code == 2 ? "Failure" : "Warning")\n| Details: \(f.details)\n"
        }
        let code = findings.map(\.code).max() ?? 0
        return SimOutcome(exitCode: code, stdout: text, duration: context.duration("\(component)-status upgrade check", 10))
    }
}
