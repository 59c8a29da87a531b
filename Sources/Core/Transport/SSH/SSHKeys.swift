import Crypto
import Foundation
import NIOSSH

/// Reads OpenSSH private-key files (`openssh-key-v1`) for the `nio` transport:
/// unencrypted Ed25519 and ECDSA (P-256, P-384, P-521). RSA keys and encrypted
/// keys are refused with a message that names the `openssh` transport.
public enum SSHKeyFile {
    public struct Loaded: Sendable {
        public let key: NIOSSHPrivateKey
        public let path: String
        public let type: String
        public var fingerprint: String { SSHFingerprint.of(key.publicKey) }
    }

    public static func load(_ path: String) throws -> Loaded {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SSHKeyError("cannot read the SSH key \(path) (set ssh.identity in the region)")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws -> Loaded {
        let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----"
        if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            throw SSHKeyError("\(path) is an RSA key; the nio transport supports Ed25519 and ECDSA keys — use ssh: { transport: openssh } for RSA keys")
        }
        if text.contains("ENCRYPTED") && !text.contains(openssh) {
            throw SSHKeyError("\(path) is encrypted; the nio transport reads unencrypted keys only — use ssh: { transport: openssh } (it can use ssh-agent)")
        }
        guard let start = text.range(of: openssh), let end = text.range(of: "-----END OPENSSH PRIVATE KEY-----") else {
            throw SSHKeyError("\(path) is not an OpenSSH private key (expected '\(openssh)'); convert it with ssh-keygen -p -f \(path), or use the openssh transport")
        }
        let body = text[start.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let blob = Data(base64Encoded: String(body)) else { throw SSHKeyError("\(path): the key is not valid base64") }
        var reader = SSHWireReader(Array(blob))
        guard let magic = reader.bytes(15), magic == Array("openssh-key-v1\0".utf8) else {
            throw SSHKeyError("\(path): not an openssh-key-v1 key")
        }
        guard let cipher = reader.string(), let kdf = reader.string(), reader.blob() != nil, let count = reader.uint32() else {
            throw SSHKeyError("\(path): truncated key file")
        }
        if cipher != "none" || kdf != "none" {
            throw SSHKeyError("\(path) is encrypted with a passphrase (\(cipher)); the nio transport reads unencrypted keys only — use ssh: { transport: openssh } (it can use ssh-agent)")
        }
        guard count == 1, reader.blob() != nil, let privateSection = reader.blob() else {
            throw SSHKeyError("\(path): expected exactly one key in the file")
        }
        var p = SSHWireReader(privateSection)
        guard let check1 = p.uint32(), let check2 = p.uint32(), check1 == check2, let type = p.string() else {
            throw SSHKeyError("\(path): the private section is damaged")
        }
        do {
            switch type {
            case "ssh-ed25519":
                guard p.blob() != nil, let secret = p.blob(), secret.count == 64 else { throw SSHKeyError("\(path): bad Ed25519 key") }
                let key = try Curve25519.Signing.PrivateKey(rawRepresentation: secret[0..<32])
                return Loaded(key: NIOSSHPrivateKey(ed25519Key: key), path: path, type: type)
            case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
                guard p.string() != nil, p.blob() != nil, let scalar = p.blob() else { throw SSHKeyError("\(path): bad ECDSA key") }
                let size = type.hasSuffix("256") ? 32 : type.hasSuffix("384") ? 48 : 66
                let d = normalize(scalar, to: size)
                switch size {
                case 32: return Loaded(key: NIOSSHPrivateKey(p256Key: try P256.Signing.PrivateKey(rawRepresentation: d)), path: path, type: type)
                case 48: return Loaded(key: NIOSSHPrivateKey(p384Key: try P384.Signing.PrivateKey(rawRepresentation: d)), path: path, type: type)
                default: return Loaded(key: NIOSSHPrivateKey(p521Key: try P521.Signing.PrivateKey(rawRepresentation: d)), path: path, type: type)
                }
            case "ssh-rsa":
                throw SSHKeyError("\(path) is an RSA key; the nio transport supports Ed25519 and ECDSA keys — use ssh: { transport: openssh } for RSA keys")
            default:
                throw SSHKeyError("\(path): key type \(type) is not supported by the nio transport — use ssh: { transport: openssh }")
            }
        } catch let e as SSHKeyError {
            throw e
        } catch {
            throw SSHKeyError("\(path): cannot use the key: \(error)")
        }
    }

    /// An mpint's magnitude as exactly `size` big-endian bytes.
    static func normalize(_ bytes: [UInt8], to size: Int) -> [UInt8] {
        var b = Array(bytes.drop { $0 == 0 })
        if b.count < size { b = [UInt8](repeating: 0, count: size - b.count) + b }
        return Array(b.suffix(size))
    }
}

public struct SSHKeyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}

/// Reads SSH wire-format fields (RFC 4251).
struct SSHWireReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func bytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, offset + n <= bytes.count else { return nil }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }
    mutating func uint32() -> UInt32? {
        guard let b = bytes(4) else { return nil }
        return b.reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func blob() -> [UInt8]? {
        guard let n = uint32() else { return nil }
        return bytes(Int(n))
    }
    mutating func string() -> String? { blob().map { String(decoding: $0, as: UTF8.self) } }
}

public enum SSHFingerprint {
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    public static func of(_ key: NIOSSHPublicKey) -> String {
        let parts = String(openSSHPublicKey: key).split(separator: " ")
        guard parts.count >= 2, let wire = Data(base64Encoded: String(parts[1])) else { return "?" }
        return "SHA256:" + Data(SHA256.hash(data: wire)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    public static func type(_ key: NIOSSHPublicKey) -> String {
        String(String(openSSHPublicKey: key).split(separator: " ").first ?? "?")
    }
}
