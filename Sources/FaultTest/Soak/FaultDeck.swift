import ResourcePool
import Transformer

/// Which kind the soak's next planned fault is: dealt from a seeded deck, every kind once per
/// round, so a soak of as many faults as kinds strikes each one whatever the seed (a draw with
/// replacement can miss one for as long as it likes).
public struct FaultDeck: Sendable {
    public let kinds: [FaultKind]
    private var random: Xoshiro256StarStar
    private var round: [FaultKind] = []

    /// Its own generator (the seed mixed with a constant), so the soak's fault times do not
    /// change with the number of kinds.
    public init(kinds: [FaultKind], seed: UInt64) {
        self.kinds = kinds
        random = Xoshiro256StarStar(seed: seed ^ 0x6465_636B_6465_636B)
    }

    /// The next kind; a new round, shuffled (Fisher–Yates), when the last one is spent.
    public mutating func deal() -> FaultKind {
        precondition(!kinds.isEmpty, "a fault deck needs a kind")
        if round.isEmpty {
            round = kinds
            for i in stride(from: round.count - 1, to: 0, by: -1) {
                round.swapAt(i, Int(random.next() % UInt64(i + 1)))
            }
        }
        return round.removeLast()
    }
}
