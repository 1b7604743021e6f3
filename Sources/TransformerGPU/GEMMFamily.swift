import Foundation
import Shaders
import VulkanCompute

/// Which GEMM kernel a device runs. lavapipe is a CPU: the texel-buffer kernel shaped for its
/// SIMD groups is 10× faster there than GPU-style shared-memory tiling, and the reverse holds on
/// a GPU (../shared/notes/vulkan-on-linux-swift.md). POOLFAULT_GEMM=texel|tiled overrides.
public enum GEMMFamily: String, Sendable, CaseIterable, Codable {
    case texel, tiled

    public static func choose(for info: PhysicalDeviceInfo) -> GEMMFamily {
        if let forced = GPUKnobs.gemm.value {
            return forced
        }
        return info.isSoftware ? .texel : .tiled
    }

    var source: ShaderSource { self == .texel ? ShaderLibrary.gemmTexel : ShaderLibrary.gemmTiled }

    /// Rows × columns each invocation of the texel kernel owns (one SIMD group per workgroup).
    public static let texelTile: (rows: Int, cols: Int) = {
        GPUKnobs.texelTile.value ?? (33, 16)  // why not bigger: gemm_texel.comp
    }()

    /// K and N must be multiples of this for the texel kernel (it reads RGBA texels and stores
    /// 4 columns as one vec4).
    static let texelMultiple = 4

    /// Floats from one weight row (W[n][·]) to the next, for an inner dimension K. The texel
    /// kernel wants one texel of padding per row: its lanes read 16 × COLS neighbouring rows at
    /// once, and with an unpadded pitch of 3,072 or 12,288 bytes those rows all fall into a few L1
    /// cache sets (12,288 = 3 · 4096: every row in the same set), so the weights were fetched
    /// from L2 again and again. Padding made the GEMM 10–25% faster, the long-K shape the most.
    func weightPitch(k: Int) -> Int { self == .texel ? k + 4 : k }

    /// Where the texel kernel wants W's row for output column n (nil: in place, row n). Lane i
    /// of a workgroup owns runs of 4 neighbouring columns (4·i + j % 4 + 4·lanes·(j / 4) for its
    /// j-th column, so it stores them as one vec4), yet its j-th fetch should read the row next to
    /// its neighbour lane's (lanes · j + i), as a fetch of 16 rows 4 apart ran the GEMM ~9%
    /// slower: so the rows are stored in fetch order, each workgroup's lanes × COLS of them, and
    /// the slots past N in the last block stay zero.
    func weightRowOrder(columns: Int, lanes: Int) -> [Int]? {
        guard self == .texel else { return nil }
        let cols = GEMMFamily.texelTile.cols, block = lanes * cols, run = 4 * lanes
        return (0..<columns).map { n in
            let offset = n % block
            let j = 4 * (offset / run) + offset % 4, lane = (offset % run) / 4
            return n - offset + lanes * j + lane
        }
    }

    /// Rows a texel W buffer holds for `columns` output columns: whole workgroup blocks.
    func weightRows(columns: Int, lanes: Int) -> Int {
        guard self == .texel else { return columns }
        let block = lanes * GEMMFamily.texelTile.cols
        return (columns + block - 1) / block * block
    }

    /// Defines the family's kernel is compiled with; `lanes` is the device's SIMD width
    /// (`SIMDWidth.lanes`), the texel kernel's workgroup size.
    func defines(lanes: Int) -> [String: String] {
        guard self == .texel else { return [:] }
        return ["TILE_ROWS": "\(GEMMFamily.texelTile.rows)", "TILE_COLS": "\(GEMMFamily.texelTile.cols)", "LANES": "\(lanes)"]
    }

    /// How A and W are bound.
    var inputBinding: BindingKind { self == .texel ? .uniformTexelBuffer : .storageBuffer }

    /// Whether the epilogue runs inside the GEMM's store. The texel kernel's register tile
    /// unrolls its store ROWS × COLS times (528 at 33×16): an epilogue there made lavapipe's
    /// first-dispatch JIT take 20–30 s cold (measured at 66×16), and each fused epilogue is one
    /// more big variant to compile, so the texel family runs epilogues as a separate elementwise
    /// pass (activation.comp; same numbers, ~1 ms).
    func fuses(_ epilogue: GEMMEpilogue) -> Bool { self == .tiled || epilogue == .none }

    /// Workgroups covering an M×N output.
    func groups(m: Int, n: Int, lanes: Int) -> (x: UInt32, y: UInt32, z: UInt32) {
        switch self {
        case .texel: return (groupCount(n, lanes * GEMMFamily.texelTile.cols), groupCount(m, GEMMFamily.texelTile.rows), 1)
        case .tiled: return (groupCount(n, 64), groupCount(m, 64), 1)
        }
    }
}

/// What a GEMM does to its result before storing it.
public enum GEMMEpilogue: Int, Sendable, CaseIterable {
    case none = 0, gelu = 1, residual = 2, tanh = 3
}
