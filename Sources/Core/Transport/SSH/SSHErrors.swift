import Foundation

/// A failure of the `nio` transport, classified so that the journal and the
/// operator read what happened to the host, not a Swift type.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case refused, unreachable, timeout, authRejected = "auth-rejected", hostKeyUnknown = "host-key-unknown"
        case hostKeyMismatch = "host-key-mismatch", lost, channel, key, protocolError = "protocol"
    }
    public let kind: Kind
    public let host: String
    public let message: String
    /// For a lost connection: whether the command may have run on the host.
    public let mayHaveRun: Bool

    public init(_ kind: Kind, host: String, _ message: String, mayHaveRun: Bool = false) {
        self.kind = kind
        self.host = host
        self.message = message
        self.mayHaveRun = mayHaveRun
    }

    public var description: String { "\(host): \(message)" }
}
