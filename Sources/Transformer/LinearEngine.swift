// The CPU forward's Linear layers on oneDNN's matmul: y = x·Wᵀ + b, optionally + y (a
// residual folded into the GEMM's store), with W read where it lies.
//
// Why oneDNN and not OpenBLAS's sgemm: on the AVX-512 machines this project runs on, OpenBLAS
// 0.3.21 is held to its AVX2 (Haswell) kernels wherever the environment pins OPENBLAS_CORETYPE
// (older OpenBLAS builds misbehave on newer CPUs, so sites pin it; poolfault never overrides a
// site's pin), which caps a Linear at ~220 GFLOP/s on 2 cores. oneDNN picks its kernels from
// the CPU's features at run time (brgemm for avx512_core here) and measured 410–475 GFLOP/s on
// BERT's and ViT's shapes in the same run (C, 31 runs, medians). PyTorch's own CPU Linear runs
// the same family of kernels (MKL/oneDNN), so this is also the like-for-like comparison.
//
// W stays in the store's [out, in] layout (oneDNN's "ba" for a K×N weight): no packed copy, so
// weights shared between browser processes stay shared; packing measured only 5–10 % faster.
// The scratchpad is the caller's (allocated per call, ≤ ~0.5 MB), so one primitive serves
// concurrent forwards. If oneDNN cannot make a primitive, `run` returns false and the caller
// uses OpenBLAS: same result to rounding.

import CDNNL
import Foundation

final class LinearEngine: @unchecked Sendable {
    /// The process's engine; nil when oneDNN cannot make a CPU engine (callers fall back).
    static let shared: LinearEngine? = LinearEngine()

    /// A Linear's shape: what a primitive is specialised for.
    struct Shape: Hashable {
        var rows: Int
        var inFeatures: Int
        var outFeatures: Int
        /// Row pitch of y (outFeatures, or more when y is a slice of a wider matrix).
        var ldy: Int
        var hasBias: Bool
        /// y = x·Wᵀ + b + y (oneDNN's "sum" post-op) instead of y = x·Wᵀ + b.
        var accumulate: Bool
    }

    private let engine: dnnl_engine_t
    private let lock = NSLock()
    private var primitives: [Shape: Primitive] = [:]

    private init?() {
        var engine: dnnl_engine_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine else { return nil }
        self.engine = engine
    }

    /// Which kernels ran and on how many threads, for reports ("brg:avx512_core, 2 threads"):
    /// every implementation among the primitives made so far (shapes can differ), or, before
    /// any Linear ran, the one a BERT-sized Linear gets.
    var description: String {
        var kernels = lock.withLock { Set(primitives.values.map(\.implementation)) }
        if kernels.isEmpty {
            let probe = Shape(rows: 128, inFeatures: 768, outFeatures: 768, ldy: 768, hasBias: true, accumulate: false)
            kernels = [primitive(for: probe)?.implementation ?? "no primitive"]
        }
        return "oneDNN \(dnnlVersion) matmul, \(kernels.sorted().joined(separator: " + ")), \(pf_dnnl_threads()) threads"
    }

    /// y = x·Wᵀ + b (+ y when `shape.accumulate`), W stored [out, in]. False, with y untouched,
    /// when no primitive could be made or oneDNN refused to run it (it checks its arguments
    /// before it computes): the caller then takes the OpenBLAS path.
    func run(_ shape: Shape, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
             into y: UnsafeMutablePointer<Float>) -> Bool {
        guard shape.hasBias == (bias != nil), let primitive = primitive(for: shape) else { return false }
        return primitive.execute(engine: engine, x: x, weight: weight, bias: bias, y: y)
    }

    private func primitive(for shape: Shape) -> Primitive? {
        lock.lock()
        defer { lock.unlock() }
        if let made = primitives[shape] { return made }
        guard let made = Primitive(shape, engine: engine) else { return nil }
        primitives[shape] = made
        return made
    }

    static var threads: Int { Int(pf_dnnl_threads()) }

    private var dnnlVersion: String {
        guard let version = dnnl_version() else { return "?" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.patch)"
    }
}

/// One matmul primitive and the memory descriptors it was made for.
private final class Primitive {
    let primitive: dnnl_primitive_t
    // Immutable once made: `execute` passes copies to oneDNN, so concurrent calls share nothing.
    let source, weights, bias, destination, scratchpad: dnnl_memory_desc_t
    let scratchpadBytes: Int
    let implementation: String

    init?(_ shape: LinearEngine.Shape, engine: dnnl_engine_t) {
        let m = Int64(shape.rows), k = Int64(shape.inFeatures), n = Int64(shape.outFeatures)
        guard m > 0, k > 0, n > 0, shape.ldy >= shape.outFeatures else { return nil }
        var source = dnnl_memory_desc_t(), weights = dnnl_memory_desc_t(), bias = dnnl_memory_desc_t()
        var destination = dnnl_memory_desc_t(), scratchpad = dnnl_memory_desc_t()
        guard dnnl_memory_desc_init_by_strides(&source, 2, [m, k], dnnl_f32, [k, 1]) == dnnl_success,
              // W [out, in] read as the K×N weight: element (k, n) at n·K + k.
              dnnl_memory_desc_init_by_strides(&weights, 2, [k, n], dnnl_f32, [1, k]) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&bias, 2, [1, n], dnnl_f32, [n, 1]) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&destination, 2, [m, n], dnnl_f32, [Int64(shape.ldy), 1]) == dnnl_success
        else { return nil }

        var attributes: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attributes) == dnnl_success, let attributes else { return nil }
        defer { dnnl_primitive_attr_destroy(attributes) }
        // The caller's scratchpad, not a library-global one: concurrent forwards share primitives.
        guard dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user) == dnnl_success else { return nil }
        if shape.accumulate {
            var postOps: dnnl_post_ops_t?
            guard dnnl_post_ops_create(&postOps) == dnnl_success, let postOps else { return nil }
            defer { dnnl_post_ops_destroy(postOps) }
            guard dnnl_post_ops_append_sum(postOps, 1) == dnnl_success,
                  dnnl_primitive_attr_set_post_ops(attributes, postOps) == dnnl_success else { return nil }
        }

        var descriptor = dnnl_matmul_desc_t()
        let described = shape.hasBias
            ? dnnl_matmul_desc_init(&descriptor, &source, &weights, &bias, &destination)
            : dnnl_matmul_desc_init(&descriptor, &source, &weights, nil, &destination)
        guard described == dnnl_success else { return nil }
        var primitiveDescriptor: dnnl_primitive_desc_t?
        let created = withUnsafePointer(to: &descriptor) {
            dnnl_primitive_desc_create(&primitiveDescriptor, UnsafeRawPointer($0), attributes, engine, nil)
        }
        guard created == dnnl_success, let primitiveDescriptor else { return nil }
        defer { dnnl_primitive_desc_destroy(primitiveDescriptor) }

        var name: UnsafePointer<CChar>?
        implementation = dnnl_primitive_desc_query(primitiveDescriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success
            ? name.map { String(cString: $0) } ?? "?" : "?"
        guard let queried = dnnl_primitive_desc_query_md(primitiveDescriptor, dnnl_query_scratchpad_md, 0) else { return nil }
        scratchpad = queried.pointee
        scratchpadBytes = dnnl_memory_desc_get_size(&scratchpad)

        var made: dnnl_primitive_t?
        guard dnnl_primitive_create(&made, primitiveDescriptor) == dnnl_success, let made else { return nil }
        primitive = made
        self.source = source; self.weights = weights; self.bias = bias
        self.destination = destination; self.scratchpad = scratchpad
    }

    deinit { dnnl_primitive_destroy(primitive) }

    func execute(engine: dnnl_engine_t, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                 bias biasValues: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) -> Bool {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchpadBytes, 64), alignment: 64)
        defer { scratch.deallocate() }
        var stream: dnnl_stream_t?
        guard dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success,
              let stream else { return false }
        defer { dnnl_stream_destroy(stream) }

        var memories: [dnnl_memory_t] = []
        defer { for memory in memories { dnnl_memory_destroy(memory) } }
        var arguments: [dnnl_exec_arg_t] = []
        func bind(_ argument: Int32, _ descriptor: dnnl_memory_desc_t, _ pointer: UnsafeRawPointer) -> Bool {
            var descriptor = descriptor
            var memory: dnnl_memory_t?
            guard dnnl_memory_create(&memory, &descriptor, engine, UnsafeMutableRawPointer(mutating: pointer)) == dnnl_success,
                  let memory else { return false }
            memories.append(memory)
            arguments.append(dnnl_exec_arg_t(arg: argument, memory: memory))
            return true
        }
        guard bind(DNNL_ARG_SRC, source, x), bind(DNNL_ARG_WEIGHTS, weights, weight),
              bind(DNNL_ARG_DST, destination, y), bind(DNNL_ARG_SCRATCHPAD, scratchpad, scratch),
              biasValues.map({ bind(DNNL_ARG_BIAS, bias, $0) }) ?? true
        else { return false }
        return dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments) == dnnl_success
            && dnnl_stream_wait(stream) == dnnl_success
    }
}
