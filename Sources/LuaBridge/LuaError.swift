/// An error raised by Lua code or by a Swift function called from it.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case syntax, runtime, memory, budget, cancelled, conversion }
    public let kind: Kind
    /// The message, starting with the runbook's `file:line:` where Lua knows it.
    public let message: String
    /// The Lua traceback at the point of the error, if any.
    public let traceback: String?

    public init(kind: Kind, message: String, traceback: String? = nil) {
        self.kind = kind
        self.message = message
        self.traceback = traceback
    }

    public var description: String { message }

    /// `file:line` parsed from the start of the message, if it has one.
    public var location: (file: String, line: Int)? {
        let parts = message.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 3, let line = Int(parts[1]), !parts[0].isEmpty, !parts[0].contains(" ") else {
            return nil
        }
        return (String(parts[0]), line)
    }
}

/// A wrong argument passed to a Swift function from Lua.
public struct LuaArgumentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
