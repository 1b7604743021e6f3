import CVulkan
import Foundation

/// A buffer on a `ComputeDevice`, usable as a storage buffer and as a uniform texel buffer
/// (RGBA32F view, the fast load path on lavapipe). Where memory is unified it is mapped and
/// written in place; otherwise it is device-local and written through a staging copy on a
/// `Channel`.
public final class DeviceBuffer: DeviceChild, @unchecked Sendable {  // state under device.lock
    public enum Location: Sendable { case device, host }
    public let device: ComputeDevice
    public let size: Int
    public let label: String
    public let location: Location
    /// Backed by host pages the caller owns (`init(importing:)`), read-only to poolfault: never
    /// written, mapped or copied into.
    public let imported: Bool
    private var buffer: VkBuffer?
    private var memory: VkDeviceMemory?
    private var mapped: UnsafeMutableRawPointer?
    private var texelView: VkBufferView?

    /// `location: .host` asks for host-visible memory even on a discrete GPU (staging, small
    /// activations read back every inference).
    public init(device: ComputeDevice, size: Int, label: String, location: Location = .device) throws {
        guard size > 0 else { throw VulkanError.invalidUse("buffer \(label) of size 0") }
        self.device = device
        self.size = (size + 15) & ~15
        self.label = label
        self.location = location
        imported = false
        try device.withDevice("create buffer \(label)") { dev in
            var info = VkBufferCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
            info.size = VkDeviceSize(self.size)
            info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT.rawValue
                | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue
            info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
            var b: VkBuffer?
            try check(device.fns.createBuffer(dev, &info, nil, &b), "vkCreateBuffer(\(label), \(self.size) bytes)")
            buffer = b
            ObjectCensus.created(.buffer, by: device)
            var req = VkMemoryRequirements()
            device.fns.getBufferMemoryRequirements(dev, b, &req)
            let hostFlags = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue
            let wantHost = location == .host || device.unifiedMemory
            let flags = wantHost ? hostFlags | (device.unifiedMemory ? VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue : 0)
                                 : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue
            guard let type = device.memoryType(req.memoryTypeBits, flags) ?? device.memoryType(req.memoryTypeBits, hostFlags) else {
                releaseVulkanObjects()
                throw VulkanError.outOfMemory("no memory type for buffer \(label)")
            }
            var alloc = VkMemoryAllocateInfo()
            alloc.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
            alloc.allocationSize = req.size
            alloc.memoryTypeIndex = type
            guard let m = try allocateAndBind(dev, &alloc, "\(label), \(req.size) bytes") else { return }
            if wantHost {
                var p: UnsafeMutableRawPointer?
                try check(device.fns.mapMemory(dev, m, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &p), "vkMapMemory(\(label))")
                mapped = p
            }
            // Adopted under the device lock that created it: a destroy on another thread either
            // ran first (withDevice throws) or releases this buffer before vkDestroyDevice. (After
            // the lock, as before, a destroy could slip in between and leave it unreleased: the
            // 24-client load test with staged uploads found that.)
            device.adopt(self)
        }
    }

    /// A buffer whose memory is `bytes`, host pages imported as they are
    /// (VK_EXT_external_memory_host; `device.hostImport`): no copy, no new pages. The pages must
    /// stay mapped while the buffer lives, and their start and length be multiples of
    /// `device.hostImportAlignment`. Read-only: writes throw, and no shader poolfault records
    /// writes a weight.
    public init(device: ComputeDevice, importing bytes: UnsafeRawBufferPointer, label: String) throws {
        let alignment = device.hostImportAlignment
        guard device.hostImport, let base = bytes.baseAddress else {
            throw VulkanError.invalidUse("buffer \(label): \(device.label) cannot import host memory")
        }
        guard bytes.count > 0, Int(bitPattern: base) % alignment == 0, bytes.count % alignment == 0 else {
            throw VulkanError.invalidUse("buffer \(label): an imported range must start and end on \(alignment)-byte boundaries")
        }
        self.device = device
        size = bytes.count
        self.label = label
        location = .device
        imported = true
        // Map the pages into this process now (MADV_POPULATE_READ, Linux 5.14; older kernels
        // refuse it and the first read faults them in instead), so the import's cost is counted
        // here and the device's first dispatch does not take a fault per page.
        _ = madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, 22)
        try device.withDevice("import buffer \(label)") { dev in
            let handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT
            var external = VkExternalMemoryBufferCreateInfo()
            external.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO
            external.handleTypes = handleType.rawValue
            var info = VkBufferCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
            info.size = VkDeviceSize(size)
            info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT.rawValue
                | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue
            info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
            var b: VkBuffer?
            let created = withUnsafePointer(to: &external) { ep in
                info.pNext = UnsafeRawPointer(ep)
                return device.fns.createBuffer(dev, &info, nil, &b)
            }
            try check(created, "vkCreateBuffer(\(label), \(size) bytes, imported)")
            buffer = b
            ObjectCensus.created(.buffer, by: device)
            var req = VkMemoryRequirements()
            device.fns.getBufferMemoryRequirements(dev, b, &req)
            var pointerProps = VkMemoryHostPointerPropertiesEXT()
            pointerProps.sType = VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT
            let queried = device.fns.getMemoryHostPointerProperties?(dev, handleType, base, &pointerProps) ?? VK_ERROR_EXTENSION_NOT_PRESENT
            let typeBits = req.memoryTypeBits & pointerProps.memoryTypeBits
            guard queried == VK_SUCCESS, req.size <= VkDeviceSize(size),
                  let type = device.memoryType(typeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue) ?? device.memoryType(typeBits, 0) else {
                releaseVulkanObjects()
                throw VulkanError.outOfMemory("no memory type imports host memory for buffer \(label) (\(size) bytes)")
            }
            var hostInfo = VkImportMemoryHostPointerInfoEXT()
            hostInfo.sType = VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT
            hostInfo.handleType = handleType
            hostInfo.pHostPointer = UnsafeMutableRawPointer(mutating: base)
            var alloc = VkMemoryAllocateInfo()
            alloc.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
            alloc.allocationSize = VkDeviceSize(size)
            alloc.memoryTypeIndex = type
            _ = try withUnsafePointer(to: &hostInfo) { hp in
                alloc.pNext = UnsafeRawPointer(hp)
                return try allocateAndBind(dev, &alloc, "\(label), \(size) bytes imported from host memory")
            }
            device.adopt(self)
        }
    }

    /// Allocates `alloc` and binds it to the buffer; on failure releases what was made and throws.
    private func allocateAndBind(_ dev: VkDevice, _ alloc: inout VkMemoryAllocateInfo, _ what: String) throws -> VkDeviceMemory? {
        var m: VkDeviceMemory?
        let allocated = device.fns.allocateMemory(dev, &alloc, nil, &m)
        guard allocated == VK_SUCCESS else {
            releaseVulkanObjects()
            try check(allocated, "vkAllocateMemory(\(what))")
            return nil
        }
        memory = m
        ObjectCensus.created(.memory, by: device)
        try check(device.fns.bindBufferMemory(dev, buffer, m, 0), "vkBindBufferMemory(\(label))")
        return m
    }

    deinit {
        device.lock.withLock { releaseVulkanObjects() }
        device.disown(self)
    }

    func releaseVulkanObjects() {
        guard let dev = try? device.withDevice("", { $0 }) else { clear(); return }
        if let texelView { device.fns.destroyBufferView(dev, texelView, nil); ObjectCensus.destroyed(.bufferView, by: device) }
        if let buffer { device.fns.destroyBuffer(dev, buffer, nil); ObjectCensus.destroyed(.buffer, by: device) }
        if let memory {
            if mapped != nil { device.fns.unmapMemory(dev, memory) }
            device.fns.freeMemory(dev, memory, nil)
            ObjectCensus.destroyed(.memory, by: device)
        }
        clear()
    }

    private func clear() { texelView = nil; buffer = nil; memory = nil; mapped = nil }

    /// The VkBuffer, or `.deviceLost` once the buffer (or its device) is gone.
    func handle(_ stage: String) throws -> VkBuffer {
        try device.withDevice(stage) { _ in
            guard let buffer else { throw VulkanError.deviceLost("\(stage): buffer \(label) was released") }
            return buffer
        }
    }

    /// The RGBA32F view for `uniform samplerBuffer` bindings, made on first use.
    func texelViewHandle(_ stage: String) throws -> VkBufferView {
        try device.withDevice(stage) { dev in
            if let texelView { return texelView }
            guard let buffer else { throw VulkanError.deviceLost("\(stage): buffer \(label) was released") }
            let texels = UInt64(size / 16)
            guard texels <= device.physical.info.limits.maxTexelBufferElements else {
                throw VulkanError.invalidUse("buffer \(label) has \(texels) texels, over maxTexelBufferElements")
            }
            var info = VkBufferViewCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO
            info.buffer = buffer
            info.format = VK_FORMAT_R32G32B32A32_SFLOAT
            info.offset = 0
            info.range = VkDeviceSize(size)
            var view: VkBufferView?
            try check(device.fns.createBufferView(dev, &info, nil, &view), "vkCreateBufferView(\(label))")
            ObjectCensus.created(.bufferView, by: device)
            texelView = view
            return view!
        }
    }

    /// The mapping's address (unified memory only): for a flag the host flips while a shader
    /// runs, without taking the device lock a long dispatch may be holding.
    var hostPointer: UnsafeMutableRawPointer? { device.lock.withLock { mapped } }

    /// True when the buffer is mapped and can be read and written without a channel.
    public var isMapped: Bool { device.lock.withLock { mapped != nil } }

    /// Writes bytes at `offset`. Mapped buffers are written in place; others go through a
    /// staging buffer copied on `channel` (required then).
    public func write(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, via channel: Channel? = nil) throws {
        guard offset >= 0, offset + bytes.count <= size else {
            throw VulkanError.invalidUse("write of \(bytes.count) bytes at \(offset) into \(label) (\(size) bytes)")
        }
        guard bytes.count > 0 else { return }
        guard !imported else { throw VulkanError.invalidUse("write into \(label): its memory is imported host memory, read-only") }
        let direct: Bool = try device.withDevice("write \(label)") { _ in
            guard buffer != nil else { throw VulkanError.deviceLost("write: buffer \(label) was released") }
            guard let mapped else { return false }
            (mapped + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            return true
        }
        if direct { return }
        guard let channel else { throw VulkanError.invalidUse("buffer \(label) is not host-visible: write needs a channel") }
        let staging = try DeviceBuffer(device: device, size: bytes.count, label: "staging", location: .host)
        try staging.write(bytes)
        try channel.copy(from: staging, to: self, bytes: bytes.count, destinationOffset: offset)
    }

    /// Writes `bytes`, a run of rows of `rowBytes` each, with row r starting at `r · pitchBytes`,
    /// or at `rowOrder[r] · pitchBytes` (a kernel's own order of rows; then every row slot of the
    /// buffer that no row lands in is zeroed). A pitch wider than the row leaves padding after
    /// each row, zeroed where the buffer holds it, so a kernel may read past a row's end and
    /// multiply by zero. Mapped buffers take one copy per row in place; others one staging buffer
    /// laid out the same way and one copy on `channel`.
    public func writeRows(_ bytes: UnsafeRawBufferPointer, rowBytes: Int, pitchBytes: Int, rowOrder: [Int]? = nil,
                          via channel: Channel? = nil) throws {
        guard rowBytes > 0, pitchBytes >= rowBytes, bytes.count % rowBytes == 0 else {
            throw VulkanError.invalidUse("writeRows into \(label): \(bytes.count) bytes in rows of \(rowBytes) at pitch \(pitchBytes)")
        }
        let rows = bytes.count / rowBytes
        guard rows > 0 else { return }
        guard size >= rowBytes else {
            throw VulkanError.invalidUse("writeRows of rows of \(rowBytes) bytes into \(label) (\(size) bytes)")
        }
        let slots = (size - rowBytes) / pitchBytes + 1  // rows that fit, the last one without padding
        let order = rowOrder ?? Array(0..<rows)
        let refusal = "writeRows of \(rows) rows at pitch \(pitchBytes) into \(label) (\(size) bytes)"
        guard order.count == rows else { throw VulkanError.invalidUse("\(refusal): \(order.count) row slots given") }
        var landed = [Bool](repeating: false, count: slots)
        for destination in order {
            guard (0..<slots).contains(destination), !landed[destination] else {
                throw VulkanError.invalidUse("\(refusal): row slot \(destination) is outside or taken")
            }
            landed[destination] = true
        }
        if pitchBytes == rowBytes && rowOrder == nil { return try write(bytes, via: channel) }
        guard !imported else { throw VulkanError.invalidUse("write into \(label): its memory is imported host memory, read-only") }
        let direct: Bool = try device.withDevice("write \(label)") { _ in
            guard buffer != nil else { throw VulkanError.deviceLost("write: buffer \(label) was released") }
            guard let mapped else { return false }
            Self.placeRows(bytes, rowBytes: rowBytes, pitchBytes: pitchBytes, order: order, zeroEmptySlots: rowOrder != nil,
                           into: mapped, size: size)
            return true
        }
        if direct { return }
        guard let channel else { throw VulkanError.invalidUse("buffer \(label) is not host-visible: write needs a channel") }
        let span = rowOrder == nil ? min(rows * pitchBytes, size) : size
        let staging = try DeviceBuffer(device: device, size: span, label: "staging", location: .host)
        try staging.writeRows(bytes, rowBytes: rowBytes, pitchBytes: pitchBytes, rowOrder: rowOrder)
        try channel.copy(from: staging, to: self, bytes: span)
    }

    /// `writeRows`' layout in host memory of `size` bytes (checked by the caller): each row at
    /// its slot's pitch, padding zeroed, and with `zeroEmptySlots` every slot no row lands in.
    /// Also what lays out weights for import (`WeightImage`), so both hold the same bytes.
    public static func placeRows(_ bytes: UnsafeRawBufferPointer, rowBytes: Int, pitchBytes: Int, order: [Int], zeroEmptySlots: Bool,
                                 into destination: UnsafeMutableRawPointer, size: Int) {
        let slots = (size - rowBytes) / pitchBytes + 1
        var landed = [Bool](repeating: false, count: slots)
        for (r, slot) in order.enumerated() {
            let row = destination + slot * pitchBytes
            row.copyMemory(from: bytes.baseAddress! + r * rowBytes, byteCount: rowBytes)
            let padding = min(pitchBytes, size - slot * pitchBytes) - rowBytes
            if padding > 0 { (row + rowBytes).initializeMemory(as: UInt8.self, repeating: 0, count: padding) }
            landed[slot] = true
        }
        if zeroEmptySlots {
            for slot in 0..<slots where !landed[slot] {
                (destination + slot * pitchBytes).initializeMemory(as: UInt8.self, repeating: 0, count: min(pitchBytes, size - slot * pitchBytes))
            }
        }
    }

    /// Reads `count` bytes at `offset` into `destination`.
    public func read(into destination: UnsafeMutableRawBufferPointer, offset: Int = 0, via channel: Channel? = nil) throws {
        guard offset >= 0, offset + destination.count <= size else {
            throw VulkanError.invalidUse("read of \(destination.count) bytes at \(offset) from \(label) (\(size) bytes)")
        }
        guard destination.count > 0 else { return }
        let direct: Bool = try device.withDevice("read \(label)") { _ in
            guard buffer != nil else { throw VulkanError.deviceLost("read: buffer \(label) was released") }
            guard let mapped else { return false }
            destination.baseAddress!.copyMemory(from: mapped + offset, byteCount: destination.count)
            return true
        }
        if direct { return }
        guard let channel else { throw VulkanError.invalidUse("buffer \(label) is not host-visible: read needs a channel") }
        let staging = try DeviceBuffer(device: device, size: destination.count, label: "readback", location: .host)
        try channel.copy(from: self, to: staging, bytes: destination.count, sourceOffset: offset)
        try staging.read(into: destination)
    }

    /// Convenience: writes an array of floats at element offset 0.
    public func write(_ values: [Float], via channel: Channel? = nil) throws {
        try values.withUnsafeBytes { try write($0, via: channel) }
    }

    /// Convenience: reads `count` floats from element offset 0.
    public func readFloats(_ count: Int, via channel: Channel? = nil) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(into: $0, via: channel) }
        return out
    }
}
