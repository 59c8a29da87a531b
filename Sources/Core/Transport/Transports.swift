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
        let inner = make(region, keyDirectory)
        let needsPolicy = region.hosts.values.contains { $0.become != nil || $0.connection != nil }
        return needsPolicy ? HostPolicyTransport(inner: inner) : inner
    }
}

/// What an Ansible inventory says about reaching one host, over the region's transport:
/// `ansible_connection=local` runs the host's commands on this machine (as Ansible's local
/// connection plugin does), `ansible_become` runs every command through `sudo -n`
/// (as `ansible_become_user`, default root). Another `ansible_connection` (docker, lxc,
/// winrm, …) is refused when the host is reached, naming it.
public struct HostPolicyTransport: Transport {
    let inner: any Transport
    let local = LocalTransport()

    public init(inner: any Transport) { self.inner = inner }

    /// ssh, smart and paramiko all reach the host over SSH: Ferry's transport does that.
    static let sshConnections: Set<String> = ["ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.builtin.paramiko_ssh"]

    func route(_ host: RegionHost) throws -> any Transport {
        guard let c = host.connection else { return inner }
        if c == "local" || c == "ansible.builtin.local" { return local }
        if Self.sshConnections.contains(c) { return inner }
        throw TransportError(.launch, host: host.name,
                             "ansible_connection '\(c)' is not one Ferry reaches hosts through (ssh, smart, paramiko or local)")
    }

    public func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult {
        var command = command
        if host.become == true {
            command.sudo = true
            if command.sudoUser == nil { command.sudoUser = host.becomeUser }
        }
        return try await route(host).run(command, on: host, output: output)
    }

    public func put(file localPath: String, to remotePath: String, mode: Int?, on host: RegionHost) async throws {
        try await route(host).put(file: localPath, to: remotePath, mode: mode, on: host)
    }

    public func shutdown() async { await inner.shutdown() }

    public var summary: String? { get async { await inner.summary } }
}
