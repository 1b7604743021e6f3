import Foundation

/// Chrome's GPU-process crash policy, for the pool's browsers: a browser whose process (or
/// device) crashes `limit` times within `window` seconds is demoted one rung — hardware GPU →
/// software Vulkan (lavapipe) → the CPU path — and one crash is forgiven per `forgiveAfter`
/// seconds, so a browser that crashes now and then is never demoted.
public struct CrashPolicy: Sendable, Equatable {
    public var limit = 3
    public var window = 300.0
    public var forgiveAfter = 300.0
    /// False: count crashes, never demote (`--no-demotion`).
    public var demotion = true
    /// Physical device indices to treat as hardware GPUs (nil: as the driver says). Lets the
    /// whole ladder be exercised on a machine with lavapipe only.
    public var hardwareDevices: Set<Int>?
    public init() {}
}

/// A rung of the ladder, best first.
public enum Rung: String, Sendable, Codable, Comparable {
    case hardware, software, cpu

    public var label: String {
        switch self {
        case .hardware: return "hardware GPU"
        case .software: return "software Vulkan"
        case .cpu: return "the CPU path"
        }
    }

    public static func < (a: Rung, b: Rung) -> Bool { a.order < b.order }
    private var order: Int { self == .hardware ? 0 : self == .software ? 1 : 2 }
}

/// One demotion, as the report shows it.
public struct Demotion: Sendable, Codable, Equatable {
    public let browser: String
    public let from: Rung
    public let to: Rung
    /// Seconds since the run started.
    public let t: Double
    public let reason: String
}

/// The crash counts and rungs of a pool's browsers.
final class DegradationLadder: @unchecked Sendable {  // state under `lock`
    let policy: CrashPolicy
    private let lock = NSLock()
    private var rungs: [String: Rung]
    /// The rung each browser's contexts were last started on (a demotion applies at the next rebuild).
    private var applied: [String: Rung]
    private var crashes: [String: [Double]] = [:]
    private var forgivenUntil: [String: Double] = [:]
    private(set) var demotions: [Demotion] = []

    init(policy: CrashPolicy, startingRungs: [String: Rung]) {
        self.policy = policy
        rungs = startingRungs
        applied = startingRungs
    }

    /// The rung `browser` was demoted to since its contexts last started, if any (and marks it
    /// applied). Why at the next rebuild, not mid-recovery: the restart budget bounds one
    /// recovery's attempts; the ladder decides what the next recovery launches, as Chrome
    /// decides how to launch its next GPU process.
    func takeDemotion(of browser: String) -> Rung? {
        lock.withLock {
            guard let now = rungs[browser], now != applied[browser] else { return nil }
            applied[browser] = now
            return now
        }
    }

    func rung(of browser: String) -> Rung { lock.withLock { rungs[browser] ?? .software } }

    /// Crashes counted now for `browser` (after forgiveness and the window).
    func crashCount(of browser: String, at t: Double) -> Int { lock.withLock { settle(browser, at: t).count } }

    /// Counts a crash of `browser` at `t` (seconds on the run's clock). Returns the demotion it
    /// caused, if any.
    func crashed(_ browser: String, at t: Double) -> Demotion? {
        lock.withLock {
            var list = settle(browser, at: t)
            list.append(t)
            crashes[browser] = list
            let from = rungs[browser] ?? .software
            guard policy.demotion, list.count >= policy.limit, from != .cpu else { return nil }
            let to: Rung = from == .hardware ? .software : .cpu
            rungs[browser] = to
            crashes[browser] = []
            forgivenUntil[browser] = t
            let demotion = Demotion(browser: browser, from: from, to: to, t: t,
                                    reason: "\(list.count) crashes within \(Self.seconds(policy.window)) (limit \(policy.limit))")
            demotions.append(demotion)
            return demotion
        }
    }

    /// The browser's crashes still held against it at `t`: inside the window, less one forgiven
    /// (the oldest) per full `forgiveAfter` since the last forgiveness.
    private func settle(_ browser: String, at t: Double) -> [Double] {
        var list = (crashes[browser] ?? []).filter { t - $0 < policy.window }
        let since = forgivenUntil[browser] ?? (list.first ?? t)
        let forgiven = policy.forgiveAfter > 0 ? Int((t - since) / policy.forgiveAfter) : 0
        if forgiven > 0 {
            list.removeFirst(min(forgiven, list.count))
            forgivenUntil[browser] = since + Double(forgiven) * policy.forgiveAfter
        } else if forgivenUntil[browser] == nil, let first = list.first {
            forgivenUntil[browser] = first
        }
        crashes[browser] = list
        return list
    }

    static func seconds(_ s: Double) -> String { s >= 60 && s.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(s / 60)) min" : String(format: "%g s", s) }
}
