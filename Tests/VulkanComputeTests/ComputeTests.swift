import Foundation
import Shaders
import Testing
import Transformer
@testable import VulkanCompute

/// Real dispatches on lavapipe, checked against CPU loops.
extension GPUSuite { @Suite struct ComputeTests {
    @Test func vectorAddMatchesTheCPU() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "test")
            let channel = try Channel(device: device, label: "test")
            let n = 1000  // not a multiple of the workgroup size
            let a = (0..<n).map { Float($0) * 0.5 }, b = (0..<n).map { Float(n - $0) }
            let ba = try DeviceBuffer(device: device, size: n * 4, label: "a")
            let bb = try DeviceBuffer(device: device, size: n * 4, label: "b")
            let bc = try DeviceBuffer(device: device, size: n * 4, label: "c")
            try ba.write(a, via: channel)
            try bb.write(b, via: channel)
            let kernel = try Kernel(device: device, source: ShaderLibrary.vectorAdd,
                                    bindings: [.storageBuffer, .storageBuffer, .storageBuffer], pushConstantSize: 4)
            let timing = try channel.run([.dispatch(Dispatch(kernel, buffers: [ba, bb, bc], push: [UInt32(n)],
                                                             groups: (groupCount(n, 64), 1, 1)))], timestamps: true)
            let c = try bc.readFloats(n, via: channel)
            #expect(c == zip(a, b).map(+))
            #expect(timing.gpuSeconds.count == 1)
        }
        GPU.expectClean(instance)
    }

    /// Ragged shapes: M, N, K not multiples of the 8×8 tile.
    @Test(arguments: [(37, 53, 29), (1, 17, 64), (64, 8, 3)])
    func gemmMatchesACPULoop(shape: (Int, Int, Int)) throws {
        let (m, n, k) = shape
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "gemm")
            let channel = try Channel(device: device, label: "gemm")
            var rng = SeededGenerator(seed: UInt64(m * 10_000 + n * 100 + k))
            let a = (0..<m * k).map { _ in Float.random(in: -1...1, using: &rng) }
            let w = (0..<n * k).map { _ in Float.random(in: -1...1, using: &rng) }
            let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var acc: Float = 0
                for p in 0..<k { acc += a[i * k + p] * w[j * k + p] }
                expected[i * n + j] = acc + bias[j]
            } }
            let buffers = try [(a, "a"), (w, "w"), (bias, "bias")].map { values, label in
                let b = try DeviceBuffer(device: device, size: values.count * 4, label: label)
                try b.write(values, via: channel)
                return b
            }
            let c = try DeviceBuffer(device: device, size: m * n * 4, label: "c")
            let kernel = try Kernel(device: device, source: ShaderLibrary.gemmNaive,
                                    bindings: Array(repeating: .storageBuffer, count: 4), pushConstantSize: 12)
            try channel.run([.dispatch(Dispatch(kernel, buffers: buffers + [c], push: [UInt32(m), UInt32(n), UInt32(k)],
                                                groups: (groupCount(n, 8), groupCount(m, 8), 1)))])
            let got = try c.readFloats(m * n, via: channel)
            let worst = Numerics.worstAbsDifference(got, expected)
            #expect(worst <= 1e-5, "max abs error \(worst)")
        }
        GPU.expectClean(instance)
    }

    @Test func aBrokenShaderNamesItsFileAndLine() throws {
        let source = testShader("broken.comp", """
            #version 450
            layout(local_size_x = 1) in;
            layout(std430, binding = 0) buffer B { float v[]; };
            void main() {
                v[0] = undeclared_name;
            }
            """)
        #expect {
            try ShaderCompiler().compile(source)
        } throws: { error in
            guard case .shaderCompile(let file, let line, let log) = error as? VulkanError else { return false }
            return file == "broken.comp" && line == 5 && log.contains("undeclared_name")
                && (error as? VulkanError)?.description.hasPrefix("broken.comp:5:") == true
        }
    }

    @Test func definesReachTheShaderAndKeyTheCache() throws {
        let compiler = ShaderCompiler()
        let source = testShader("defined.comp", """
            #version 450
            layout(local_size_x = WIDTH) in;
            void main() {}
            """)
        let a = try compiler.compile(source, defines: ["WIDTH": "8"])
        let b = try compiler.compile(source, defines: ["WIDTH": "16"])
        _ = try compiler.compile(source, defines: ["WIDTH": "8"])
        #expect(a != b)
        #expect(compiler.cachedCount == 2)
        #expect(throws: VulkanError.self) { try compiler.compile(source) }  // WIDTH undefined
    }

    @Test func texelBufferBindingsReadTheBuffer() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "texel")
            let channel = try Channel(device: device, label: "texel")
            let source = testShader("texel.comp", """
                #version 450
                layout(local_size_x = 4) in;
                layout(binding = 0) uniform samplerBuffer src;
                layout(std430, binding = 1) writeonly buffer Dst { vec4 dst[]; };
                void main() { uint i = gl_GlobalInvocationID.x; dst[i] = texelFetch(src, int(i)) * 2.0; }
                """)
            let src = try DeviceBuffer(device: device, size: 64, label: "src")
            let dst = try DeviceBuffer(device: device, size: 64, label: "dst")
            let values = (0..<16).map(Float.init)
            try src.write(values, via: channel)
            let kernel = try Kernel(device: device, source: source, bindings: [.uniformTexelBuffer, .storageBuffer])
            try channel.run([.dispatch(Dispatch(kernel, buffers: [src, dst], groups: (1, 1, 1)))])
            #expect(try dst.readFloats(16, via: channel) == values.map { $0 * 2 })
        }
        GPU.expectClean(instance)
    }

    @Test func specializationConstantsReachThePipeline() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "spec")
            let channel = try Channel(device: device, label: "spec")
            let source = testShader("spec.comp", """
                #version 450
                layout(local_size_x = 8) in;
                layout(constant_id = 0) const uint SCALE = 1;
                layout(std430, binding = 0) writeonly buffer Out { float v[]; };
                void main() { v[gl_GlobalInvocationID.x] = float(SCALE * gl_GlobalInvocationID.x); }
                """)
            let out = try DeviceBuffer(device: device, size: 32, label: "out")
            let kernel = try Kernel(device: device, source: source, bindings: [.storageBuffer], specialization: [3])
            try channel.run([.dispatch(Dispatch(kernel, buffers: [out], groups: (1, 1, 1)))])
            #expect(try out.readFloats(8, via: channel) == (0..<8).map { Float($0 * 3) })
        }
        GPU.expectClean(instance)
    }

    @Test func thePipelineCacheOutlivesADeviceRebuild() throws {
        let (instance, physical) = try GPU.open()
        let store = PipelineCacheStore()
        let uuid = physical.info.pipelineCacheUUID
        do {
            let first = try ComputeDevice(physical: physical, label: "first", cacheStore: store)
            _ = try Kernel(device: first, source: ShaderLibrary.vectorAdd, bindings: [.storageBuffer, .storageBuffer, .storageBuffer],
                           pushConstantSize: 4)
            first.destroy(reason: "simulated crash")
        }
        let saved = store.size(for: uuid)
        #expect(saved > 0, "the destroyed device's cache data was kept")
        let second = try ComputeDevice(physical: physical, label: "second", cacheStore: store)
        _ = try Kernel(device: second, source: ShaderLibrary.vectorAdd, bindings: [.storageBuffer, .storageBuffer, .storageBuffer],
                       pushConstantSize: 4)
        #expect(store.size(for: uuid) >= saved)
        GPU.expectClean(instance)
    }

    // Test that a batch keeps the buffers it binds alive after the caller drops them.
    @Test func aBatchKeepsItsBuffersAlive() throws {
        let (instance, physical) = try GPU.open()
        do {
            let device = try ComputeDevice(physical: physical, label: "retain")
            let channel = try Channel(device: device, label: "retain")
            let n = 64
            func recordWithLocalInputs() throws -> (CommandBatch, DeviceBuffer) {
                let a = try DeviceBuffer(device: device, size: n * 4, label: "a")
                let b = try DeviceBuffer(device: device, size: n * 4, label: "b")
                let c = try DeviceBuffer(device: device, size: n * 4, label: "c")
                try a.write([Float](repeating: 2, count: n), via: channel)
                try b.write([Float](repeating: 3, count: n), via: channel)
                let kernel = try Kernel(device: device, source: ShaderLibrary.vectorAdd,
                                        bindings: [.storageBuffer, .storageBuffer, .storageBuffer], pushConstantSize: 4)
                let batch = try channel.record([.dispatch(Dispatch(kernel, buffers: [a, b, c], push: [UInt32(n)], groups: (1, 1, 1)))])
                return (batch, c)  // a, b and the kernel go out of scope here
            }
            let (batch, c) = try recordWithLocalInputs()
            try channel.submit(batch)
            #expect(try c.readFloats(n, via: channel) == [Float](repeating: 5, count: n))
        }
        GPU.expectClean(instance)
    }

    /// Rows of 1, 2, 3, … written by `writeRows` over a buffer of `floats` NaNs on a device with
    /// mapped or staged uploads; what the buffer then holds, and whether it stayed mapped. Also
    /// checks that `refused` (an order or pitch that does not fit) throws and writes nothing.
    func rowsWrittenOverNaN(staged: Bool, floats: Int, rows: Int, width: Int, pitch: Int, order: [Int]? = nil,
                            refused: [(order: [Int]?, pitch: Int)]) throws -> (values: [Float], back: [Float], mapped: Bool) {
        let (instance, physical) = try GPU.open()
        let result: (values: [Float], back: [Float], mapped: Bool)
        do {  // every Vulkan object released before the census
            let device = try ComputeDevice(physical: physical, label: "rows", stagedUploads: staged)
            let channel = try Channel(device: device, label: "rows")
            let values = (0..<rows * width).map { Float($0 + 1) }
            let buffer = try DeviceBuffer(device: device, size: floats * 4, label: "rows")
            try buffer.write([Float](repeating: .nan, count: floats), via: channel)
            try values.withUnsafeBytes { try buffer.writeRows($0, rowBytes: width * 4, pitchBytes: pitch * 4, rowOrder: order, via: channel) }
            let back = try buffer.readFloats(floats, via: channel)
            for bad in refused {
                #expect(throws: VulkanError.self) {
                    try values.withUnsafeBytes { try buffer.writeRows($0, rowBytes: width * 4, pitchBytes: bad.pitch * 4, rowOrder: bad.order, via: channel) }
                }
            }
            #expect(try buffer.readFloats(floats, via: channel).elementsEqual(back) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "a refused write wrote")
            result = (values, back, buffer.isMapped)
        }
        GPU.expectClean(instance)
        return result
    }

    // Test that rows land at their pitch, mapped in place and through a staging copy alike, that
    // the padding after each row is zeroed over whatever the buffer held (the texel GEMM reads a
    // row's padding texel and multiplies it by its A values), also on a buffer that ends with
    // the last row's data, and that the staged path (a discrete GPU's) leaves the buffer unmapped.
    @Test(arguments: [false, true])
    func rowsLandAtTheirPitchWithZeroedPadding(staged: Bool) throws {
        let rows = 5, width = 6, pitch = 10
        for floats in [rows * pitch, (rows - 1) * pitch + width] {
            let (values, back, mapped) = try rowsWrittenOverNaN(staged: staged, floats: floats, rows: rows, width: width, pitch: pitch,
                                                                refused: [(nil, pitch + 16)])
            #expect(mapped == !staged)
            for r in 0..<rows {
                #expect(Array(back[(r * pitch)..<(r * pitch + width)]) == Array(values[(r * width)..<((r + 1) * width)]))
                let padding = Array(back[min(r * pitch + width, floats)..<min((r + 1) * pitch, floats)])
                #expect(padding == [Float](repeating: 0, count: padding.count), "row \(r)'s padding of a \(floats)-float buffer")
            }
        }
    }

    // Test that rows given an order land in their slots (the texel GEMM's fetch order), that
    // every slot no row lands in is zeroed over whatever the buffer held, mapped and staged
    // alike, and that an order sending two rows to one slot, or past the buffer, is refused.
    @Test(arguments: [false, true])
    func orderedRowsLandInTheirSlotsAndTheRestIsZero(staged: Bool) throws {
        let rows = 5, width = 3, pitch = 4, slots = 8, order = [6, 0, 3, 7, 2]
        let (values, back, _) = try rowsWrittenOverNaN(staged: staged, floats: slots * pitch, rows: rows, width: width, pitch: pitch,
                                                       order: order, refused: [([6, 0, 3, 6, 2], pitch), ([6, 0, 3, 8, 2], pitch),
                                                                               ([0, 1, 2, 3], pitch)])
        for slot in 0..<slots {
            let got = Array(back[(slot * pitch)..<((slot + 1) * pitch)])
            if let r = order.firstIndex(of: slot) {
                #expect(got == Array(values[(r * width)..<((r + 1) * width)]) + [0], "slot \(slot) holds row \(r)")
            } else {
                #expect(got == [0, 0, 0, 0], "slot \(slot) holds no row")
            }
        }
    }
}
}
