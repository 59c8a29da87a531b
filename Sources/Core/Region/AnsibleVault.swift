import Crypto
import Foundation
import _CryptoExtras

/// Ansible Vault's format 1.1/1.2 with the AES256 cipher: what `ansible-vault encrypt`
/// and `encrypt_string` write (ansible-core `lib/ansible/parsing/vault/__init__.py`,
/// `VaultAES256`). Decryption only: Ferry reads the operator's vaults, never writes them.
///
///     $ANSIBLE_VAULT;1.1;AES256            ($ANSIBLE_VAULT;1.2;AES256;<vault id> for labelled ones)
///     <hex, in lines of 80>                 hex of "<salt hex>\n<hmac hex>\n<ciphertext hex>"
///
/// Key material: PBKDF2-HMAC-SHA256(password, salt, 10000 rounds, 80 bytes) split into the
/// AES-256 key (32), the HMAC-SHA256 key (32) and the CTR counter's initial value (16). The
/// HMAC covers the ciphertext; the plaintext is PKCS#7-padded to 16 bytes.
public enum AnsibleVault {
    public static let header = "$ANSIBLE_VAULT;"

    /// Whether the text is a vault (leading whitespace allowed, as `!vault |` blocks have).
    public static func isVault(_ text: String) -> Bool {
        text.drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).hasPrefix(header)
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notAVault
        case unsupported(String)
        case malformed(String)
        /// The HMAC does not match: another password (or a damaged vault).
        case wrongPassword

        public var description: String {
            switch self {
            case .notAVault: return "not an Ansible vault (no $ANSIBLE_VAULT header)"
            case .unsupported(let what): return "unsupported Ansible vault: \(what)"
            case .malformed(let what): return "damaged Ansible vault: \(what)"
            case .wrongPassword: return "the vault password does not open it (HMAC mismatch)"
            }
        }
    }

    public static func decrypt(_ text: String, password: String) throws -> String {
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard let head = lines.first, head.hasPrefix(header) else { throw Failure.notAVault }
        lines.removeFirst()
        let fields = head.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 3, fields[1] == "1.1" || fields[1] == "1.2" else {
            throw Failure.unsupported("format \(fields.count > 1 ? fields[1] : "?") (1.1 and 1.2 are read)")
        }
        guard fields[2].trimmingCharacters(in: .whitespaces) == "AES256" else {
            throw Failure.unsupported("cipher \(fields[2]) (AES256 is read)")
        }
        guard let outer = hexBytes(lines.joined()) else { throw Failure.malformed("its body is not hex") }
        let parts = String(decoding: outer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard parts.count == 3, let salt = hexBytes(String(parts[0])), let mac = hexBytes(String(parts[1])),
              let ciphertext = hexBytes(String(parts[2])), !salt.isEmpty, mac.count == 32
        else { throw Failure.malformed("expected salt, HMAC and ciphertext") }

        let material = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 80, unsafeUncheckedRounds: 10000
        ).withUnsafeBytes { Array($0) }
        let cipherKey = SymmetricKey(data: material[0..<32])
        let macKey = SymmetricKey(data: material[32..<64])
        let counter = Array(material[64..<80])

        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: ciphertext, using: macKey) else {
            throw Failure.wrongPassword
        }
        let padded = Array(try AES._CTR.decrypt(ciphertext, using: cipherKey, nonce: .init(nonceBytes: counter)))
        guard let pad = padded.last, pad >= 1, pad <= 16, Int(pad) <= padded.count,
              padded.suffix(Int(pad)).allSatisfy({ $0 == pad })
        else { throw Failure.malformed("bad padding") }
        return String(decoding: padded.dropLast(Int(pad)), as: UTF8.self)
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < u.count {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
