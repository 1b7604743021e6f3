import CVulkan
import Foundation

/// One message from the Khronos validation layer (or the loader) at warning level or above.
public struct ValidationMessage: Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case warning, error }
    public let severity: Severity
    public let id: String
    public let text: String
    public var description: String { "[\(severity.rawValue)] \(id): \(text)" }
    public init(severity: Severity, id: String, text: String) { self.severity = severity; self.id = id; self.text = text }
}

/// Collects every validation message of one instance, so a test can fail on any of them.
public final class ValidationLog: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var stored: [ValidationMessage] = []

    public init() {}

    public var messages: [ValidationMessage] { lock.withLock { stored } }

    /// Returns the messages recorded so far and forgets them.
    public func drain() -> [ValidationMessage] {
        lock.withLock { defer { stored.removeAll() }; return stored }
    }

    /// Records a message (the layer's callback; or one a browser process reported).
    public func record(_ message: ValidationMessage) { lock.withLock { stored.append(message) } }
}

/// The debug-utils callback: a C function, so its context (the log) travels in pUserData.
let validationCallback: PFN_vkDebugUtilsMessengerCallbackEXT = { severity, _, data, userData in
    guard let data, let userData else { return VkBool32(VK_FALSE) }
    let log = Unmanaged<ValidationLog>.fromOpaque(userData).takeUnretainedValue()
    let level: ValidationMessage.Severity =
        (severity.rawValue & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT.rawValue) != 0 ? .error : .warning
    let id = data.pointee.pMessageIdName.map { String(cString: $0) } ?? "?"
    let text = data.pointee.pMessage.map { String(cString: $0) } ?? ""
    log.record(ValidationMessage(severity: level, id: id, text: text))
    return VkBool32(VK_FALSE)
}
