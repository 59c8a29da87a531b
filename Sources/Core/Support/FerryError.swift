/// An error a user reads: what went wrong, where, and what to do next.
public struct FerryError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// The runbook or region is wrong (exit 1 for validate, 2 for bad usage).
        case invalid
        /// A bad command line.
        case usage
        /// Something failed while running.
        case failed
        /// Waiting for approval or interrupted: resumable (exit 3).
        case stopped
        /// Another ferry holds the run or the region (exit 4).
        case locked
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public static func invalid(_ message: String) -> FerryError { FerryError(.invalid, message) }
    public static func usage(_ message: String) -> FerryError { FerryError(.usage, message) }
    public static func failed(_ message: String) -> FerryError { FerryError(.failed, message) }

    public var description: String { message }
}

/// Several validation problems reported together, each with its place.
public struct ValidationErrors: Error, CustomStringConvertible, Sendable {
    public let problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "\n") }
}
