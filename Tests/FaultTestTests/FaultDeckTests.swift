import FaultTest
import ResourcePool
import Testing

/// The soak's fault kinds, dealt from a seeded deck.
struct FaultDeckTests {
    // Test that every round of as many deals as kinds holds each kind once, for a thousand seeds
    // and every deck size from one to all kinds.
    @Test(arguments: 1...FaultKind.allCases.count)
    func everyRoundDealsEachKindOnce(size: Int) {
        let kinds = Array(FaultKind.allCases.prefix(size))
        for seed in UInt64(0)..<1000 {
            var deck = FaultDeck(kinds: kinds, seed: seed)
            for round in 0..<4 {
                let dealt = (0..<size).map { _ in deck.deal() }
                #expect(Set(dealt) == Set(kinds) && dealt.count == size, "seed \(seed), round \(round): \(dealt)")
            }
        }
    }

    // Test that the order is the seed's: the same seed deals the same, and the seeds between
    // them deal every order of three kinds (a shuffle, not a rotation).
    @Test func theOrderIsTheSeeds() {
        let kinds: [FaultKind] = [.browserCrash, .connectionLost, .componentFailure]
        func firstRound(_ seed: UInt64) -> [FaultKind] {
            var deck = FaultDeck(kinds: kinds, seed: seed)
            return (0..<3).map { _ in deck.deal() }
        }
        #expect(firstRound(7) == firstRound(7))
        let orders = Set((UInt64(0)..<200).map { firstRound($0).map(\.rawValue).joined(separator: ",") })
        #expect(orders.count == 6, "\(orders)")
    }
}
