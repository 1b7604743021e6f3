import Foundation
import Testing
import Transformer
@testable import TransformerGPU
@testable import VulkanCompute

/// The weight image (lavapipe, validation layer on): weights imported from it compute exactly
/// what copied weights compute, in both GEMM families and both model kinds; an image of another
/// layout is never imported; corrupting a context's imported weights changes that context alone,
/// never the image the other contexts read.
@Suite(.serialized) struct WeightImageTests {
    static func forward(_ context: GPUModelContext, _ config: ModelConfig, seed: UInt64) throws -> ModelOutput? {
        var state = try ActivationState.initial(ModelInput.seeded(config: config, seed: seed), config: config)
        try context.run(config.components, state: &state)
        return state.output
    }

    /// FNV-1a over every byte of the image: what must not change.
    static func digest(_ image: WeightImage) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for name in image.entries.keys.sorted() {
            for byte in image.pages(of: name)! { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        return hash
    }

    @Test(arguments: [(false, GEMMFamily.texel), (false, .tiled), (true, .texel), (true, .tiled)])
    func importedWeightsComputeWhatCopiedWeightsCompute(vit: Bool, family: GEMMFamily) throws {
        let config = vit ? GPUModelTests.tinyViT : GPUModelTests.tinyBERT
        let (instance, channel) = try GPUModelTests.openChannel()
        #expect(channel.device.hostImport, "lavapipe offers VK_EXT_external_memory_host")
        let weights = try WeightStore.seeded(config: config, seed: 9)
        let kernels = try GPUKernels(device: channel.device, config: config, family: family, integrity: .all)
        let image = try WeightImage(store: weights, layout: kernels.weightLayout)
        #expect(image.file?.isSealedAgainstWrites == true)
        let imported = try GPUModelContext(channel: channel, config: config, kernels: kernels, image: image)
        let copied = try GPUModelContext(channel: channel, config: config, kernels: kernels)
        var checksummed = 0
        for c in config.components {
            let a = try imported.load(c, from: weights), b = try copied.load(c, from: weights)
            #expect(a.importedBytes == a.bytes && a.bytes == b.bytes && b.importedBytes == 0, "\(c.id): \(a) vs \(b)")
            // The integrity data the image carries is what a copying context computes from the source.
            let (wa, wb) = (try #require(imported.weights[c]), try #require(copied.weights[c]))
            let differing = wb.digests.keys.filter { wa.digests[$0] != wb.digests[$0] } + wb.checksums.keys.filter { wa.checksums[$0] != wb.checksums[$0] }
            let sameTensors = Set(wa.digests.keys) == Set(wb.digests.keys) && Set(wa.checksums.keys) == Set(wb.checksums.keys)
            #expect(differing.isEmpty && sameTensors && !wb.digests.isEmpty, "\(c.id): the image's digests or checksums differ for \(differing)")
            checksummed += wb.checksums.count
        }
        #expect(checksummed >= 6 * config.numLayers, "every Linear of every layer is checksummed")
        for seed in [UInt64(1), 2] {
            let a = try Self.forward(imported, config, seed: seed), b = try Self.forward(copied, config, seed: seed)
            #expect(a != nil && a == b, "seed \(seed): imported and copied weights differ")
        }
        // The scrub compares the device's rows with the source's digests: imported rows included.
        #expect(try imported.scrub().findings.isEmpty)
        GPUModelTests.expectClean(instance, destroying: channel)
    }

    @Test func anImageOfAnotherLayoutIsNotImported() throws {
        let config = GPUModelTests.tinyBERT
        let (instance, channel) = try GPUModelTests.openChannel()
        let weights = try WeightStore.seeded(config: config, seed: 9)
        let kernels = try GPUKernels(device: channel.device, config: config, family: .texel)
        let own = kernels.weightLayout
        let other = WeightImage.Layout(family: own.family, lanes: own.lanes * 2, columns: own.columns, alignment: own.alignment)
        let foreign = try WeightImage(store: weights, layout: other)
        let context = try GPUModelContext(channel: channel, config: config, kernels: kernels, image: foreign)
        let reference = try GPUModelContext(channel: channel, config: config, kernels: kernels)
        for c in config.components {
            #expect(try context.load(c, from: weights).importedBytes == 0, "\(c.id) was imported from an image of another layout")
            try reference.load(c, from: weights)
        }
        #expect(try Self.forward(context, config, seed: 1) == Self.forward(reference, config, seed: 1))
        // A browser mapping the pool's image checks it is the layout it was told.
        let path = SealedMemoryFile.path(descriptor: foreign.file!.readOnlyDescriptor)
        #expect(throws: ModelDataError.self) { try WeightImage(mapping: path, config: config, layout: own) }
        #expect(try WeightImage(mapping: path, config: config, layout: other).byteCount == foreign.byteCount)
        GPUModelTests.expectClean(instance, destroying: channel)
    }

    @Test(arguments: CorruptionPersistence.allCases)
    func corruptingImportedWeightsChangesThatContextAlone(persistence: CorruptionPersistence) throws {
        let config = GPUModelTests.tinyBERT
        let (instance, channel) = try GPUModelTests.openChannel()
        let weights = try WeightStore.seeded(config: config, seed: 9)
        let kernels = try GPUKernels(device: channel.device, config: config)
        let image = try WeightImage(store: weights, layout: kernels.weightLayout)
        let before = Self.digest(image)
        let victim = try GPUModelContext(channel: channel, config: config, kernels: kernels, image: image)
        let neighbour = try GPUModelContext(channel: channel, config: config, kernels: kernels, image: image)
        for c in config.components { try victim.load(c, from: weights); try neighbour.load(c, from: weights) }
        let clean = try Self.forward(neighbour, config, seed: 1)
        let component = ModelComponent.feedForward(layer: 0)
        _ = try victim.corrupt(component, CorruptionSpec(magnitude: .gross, persistence: persistence, seed: 5,
                                                          tensor: "encoder.layer.0.intermediate.dense.weight"))
        #expect(try Self.forward(victim, config, seed: 1) != clean, "the corruption reached the victim's kernels")
        #expect(try Self.forward(neighbour, config, seed: 1) == clean, "the neighbour reads the image, untouched")
        #expect(Self.digest(image) == before, "the image changed")
        #expect(victim.weights[component]?.importedBytes == 0, "the victim's corrupted component is a private copy")
        GPUModelTests.expectClean(instance, destroying: channel)
    }
}
