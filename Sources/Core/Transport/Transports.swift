import Foundation

/// The transports, by the name a region's `ssh.transport` gives: the one place one is
/// chosen. Adding a transport (say `docker exec` into kolla containers) is a type
/// conforming to ``Transport`` in its own file and one line in ``registry``
/// (docs/architecture.md, "Adding a driver").
public enum Transports {
    /// Builds the transport for a region; `keyDirectory` is where it may keep state
    /// beside the journal (recorded host keys, control sockets).
    public typealias Make = @Sendable (_ region: Region, _ keyDirectory: String) -> any Transport

    /// In the order error messages list them.
    public static let registry: KeyValuePairs<TransportKind, Make> = [
        .nio: { NIOSSHTransport(region: $0, journalDirectory: $1) },
        .openssh: { OpenSSHTransport(region: $0, journalDirectory: $1) },
        .local: { _, _ in LocalTransport() },
    ]

    /// The names a region file may give.
    public static var known: [String] { registry.map(\.key.rawValue) }

    public static func make(_ kind: TransportKind) -> Make? { registry.first { $0.key == kind }?.value }

    /// The region's transport; the loader has already refused a name not registered.
    public static func make(for region: Region, keyDirectory: String) throws -> any Transport {
        guard let make = make(region.ssh.transport) else {
            throw FerryError.invalid("unknown transport '\(region.ssh.transport)' (one of: \(known.joined(separator: ", ")))")
        }
        return make(region, keyDirectory)
    }
}
