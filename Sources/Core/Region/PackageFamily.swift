import Foundation
import LuaBridge

/// How a host's distribution packages OpenStack: what its systemd units are called
/// (RDO's `openstack-nova-compute` against Ubuntu's `nova-compute`). A property of each
/// host (``RegionHost/family``): its own `vars.family`, else the family of its groups
/// (`inventory.families`), else the region's `vars.family`, else `rpm`.
public enum PackageFamily: String, Sendable, CaseIterable, Codable {
    /// CentOS / RHEL with RDO packages.
    case rpm
    /// Ubuntu / Debian (Ubuntu Cloud Archive).
    case deb

    /// Every name a region may give a family: the two families and the distributions of each.
    public static let names = ["rpm", "deb", "centos", "rhel", "redhat", "rocky", "almalinux", "fedora", "ubuntu", "debian"]

    /// `rpm`, `deb`, or a distribution name (`centos`, `rhel`, `rocky`, `ubuntu`, `debian`), any case
    /// (Ansible's `ansible_os_family` values `RedHat` and `Debian` among them).
    public init?(name: String) {
        switch name.lowercased() {
        case "rpm", "centos", "rhel", "redhat", "rocky", "almalinux", "fedora": self = .rpm
        case "deb", "ubuntu", "debian": self = .deb
        default: return nil
        }
    }

    /// The family a region names, or an error that names the closest known name.
    public static func named(_ value: LuaValue) throws -> PackageFamily {
        guard let text = value.stringValue else {
            throw FerryError.invalid("a package family is a name (rpm, deb, or a distribution: centos, ubuntu, …), got \(value.jsonString())")
        }
        if let f = PackageFamily(name: text) { return f }
        let hint = nearest(to: text.lowercased(), among: names, within: 2).map { " (did you mean '\($0)'?)" } ?? ""
        throw FerryError.invalid("unknown package family '\(text)'\(hint); known: \(names.joined(separator: ", "))")
    }
}
