import CVulkan
import Foundation

/// Host-side pipeline-cache blobs, one per driver build (pipelineCacheUUID). It outlives every
/// `ComputeDevice`: the "browser disk cache" a crashed context's replacement starts from.
/// (On lavapipe VkPipelineCache is a stub and Mesa's own disk cache does the real work; on
/// NVIDIA the blob holds compiled pipelines.)
public final class PipelineCacheStore: @unchecked Sendable {  // guarded by `lock`
    public static let shared = PipelineCacheStore()
    private let lock = NSLock()
    private var blobs: [String: Data] = [:]

    public init() {}

    public func blob(for uuid: String) -> Data? { lock.withLock { blobs[uuid] } }
    func store(_ data: Data, for uuid: String) { lock.withLock { blobs[uuid] = data } }
    /// Seeds the store with a blob another process saved (a browser process's predecessor):
    /// the driver validates it against its own header and ignores a stale one.
    public func seed(_ data: Data, for uuid: String) { lock.withLock { if blobs[uuid] == nil { blobs[uuid] = data } } }
    /// Bytes held for a driver build (0 when none).
    public func size(for uuid: String) -> Int { lock.withLock { blobs[uuid]?.count ?? 0 } }
}

/// The VkPipelineCache of one device, seeded from and saved back to a `PipelineCacheStore`.
final class PipelineCache: @unchecked Sendable {  // used only under the owning device's lock
    let store: PipelineCacheStore
    let uuid: String
    private(set) var handle: VkPipelineCache?

    init(store: PipelineCacheStore, uuid: String) {
        self.store = store
        self.uuid = uuid
    }

    func open(on device: ComputeDevice) throws {
        let seed = store.blob(for: uuid) ?? Data()
        try device.withDevice("vkCreatePipelineCache") { dev in
            var cache: VkPipelineCache?
            let result = seed.withUnsafeBytes { raw -> VkResult in
                var info = VkPipelineCacheCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
                info.initialDataSize = raw.count
                info.pInitialData = raw.baseAddress
                return device.fns.createPipelineCache(dev, &info, nil, &cache)
            }
            try check(result, "vkCreatePipelineCache")
            handle = cache
            ObjectCensus.created(.pipelineCache, by: device)
        }
    }

    /// Saves the cache's data to the store (after new pipelines were created).
    func save(on device: ComputeDevice, device dev: VkDevice) {
        guard let handle else { return }
        var size = 0
        guard device.fns.getPipelineCacheData(dev, handle, &size, nil) == VK_SUCCESS, size > 0 else { return }
        var data = Data(count: size)
        let ok = data.withUnsafeMutableBytes { device.fns.getPipelineCacheData(dev, handle, &size, $0.baseAddress) } == VK_SUCCESS
        if ok { store.store(data.prefix(size), for: uuid) }
    }

    func close(on device: ComputeDevice, device dev: VkDevice) {
        guard let handle else { return }
        save(on: device, device: dev)
        device.fns.destroyPipelineCache(dev, handle, nil)
        ObjectCensus.destroyed(.pipelineCache, by: device)
        self.handle = nil
    }
}
