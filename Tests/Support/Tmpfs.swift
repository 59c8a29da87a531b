import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small tmpfs mounted for a test, to fill a disk for real (tests run as root in a VM).
/// Where mounting is not permitted, ``unavailable`` says why, and the tests that need one
/// are skipped with that reason.
public enum Tmpfs {
    /// Mounts a tmpfs of `size` (`"256k"`, `"4m"`) at `path`, creating the directory.
    public static func mount(at path: String, size: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(size),mode=0700") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
    }

    /// Gives the tmpfs `size` now (frees room without touching its files).
    public static func resize(_ path: String, to size: String) throws {
        guard Glibc.mount("tmpfs", path, "tmpfs", UInt(MS_REMOUNT), "size=\(size),mode=0700") == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
    }

    /// Unmounts it (lazily: a process still holding a file there does not stop the test).
    public static func unmount(_ path: String) {
        _ = umount2(path, Int32(MNT_DETACH))
    }

    /// Why a tmpfs cannot be mounted here, or nil when it can (tried once, in a scratch directory).
    public static let unavailable: String? = {
        let probe = NSTemporaryDirectory() + "ferry-tmpfs-probe-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: probe) }
        do {
            try mount(at: probe, size: "64k")
            unmount(probe)
            return nil
        } catch {
            return "cannot mount a tmpfs here (\(error)); the disk-full tests need root and mount(2)"
        }
    }()
}
