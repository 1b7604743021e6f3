import Foundation
import Shaders
import VulkanCompute

/// Which GEMM kernel a device runs. lavapipe is a CPU: the texel-buffer kernel shaped for its
/// SIMD groups is 10× faster there than GPU-style shared-memory tiling, and the reverse holds on
/// a GPU (README, "Speed on lavapipe"). The tuner's measurement on this machine decides where it ran
/// (`KernelTuner`); POOLFAULT_GEMM=texel|tiled overrides both.
public enum GEMMFamily: String, Sendable, CaseIterable, Codable {
    case texel, tiled

    public static func choose(for info: PhysicalDeviceInfo, tuned: KernelChoices? = nil) -> GEMMFamily {
        if let forced = GPUKnobs.gemm.value {
            return forced
        }
        return tuned?.gemmFamily ?? (info.isSoftware ? .texel : .tiled)
    }

    var source: ShaderSource { self == .texel ? ShaderLibrary.gemmTexel : ShaderLibrary.gemmTiled }

    /// Columns each invocation of the texel kernel owns (one SIMD group per workgroup): 16, or
    /// POOLFAULT_TEXEL_TILE's.
    public static let texelColumns = GPUKnobs.texelTile.value?.cols ?? 16

    /// Rows each invocation of the texel kernel owns for an M of `rows` (the sequence length),
    /// POOLFAULT_TEXEL_TILE's if set, else the tuner's if it measured this M here, else of 32, 50
    /// and (a sequence shorter than 32) the sequence itself the one a cost model of the kernel
    /// picks: a tile no taller than a short sequence also builds faster, as lavapipe's pipeline
    /// creation grows with the unrolled rows. A row group costs its rows, the W fetches every
    /// group repeats (worth ~14 rows at 16 columns: ~30% of a 33-row group's time) and its A fetches (~2 rows per SIMD group of A
    /// rows, a lane per row), so cost = groups · (14 + rows + 2 · ⌈rows / lanes⌉). Measured on
    /// lavapipe at 16 lanes, the GEMMs' time per forward: BERT's 128 rows, 32 → 168–175 ms, 33 →
    /// 182, 43 → 180–192, 48 → 190, 64 → 154 ms; ViT's 197, 50 → 246–254, 33 → 268–321, 32 →
    /// 298–302 ms. Never above 50: lavapipe's cold JIT grows faster than the tile (50: ~3.1 s
    /// for ViT's kernels, 33: ~2.1 s, 64–66: ~4.5 s), and every context start and recovery on
    /// a cold cache pays it.
    public static func texelRows(covering rows: Int, lanes: Int, tuned: KernelChoices? = nil) -> Int {
        if let forced = GPUKnobs.texelTile.value?.rows { return forced }
        if let measured = tuned?.texelRows[rows] { return measured }
        let cost = { (tile: Int) in (rows + tile - 1) / tile * (14 + tile + 2 * ((tile + lanes - 1) / lanes)) }
        return ([32, 50] + (rows < 32 ? [max(rows, 1)] : [])).min { cost($0) < cost($1) } ?? 32
    }

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
        let cols = GEMMFamily.texelColumns, block = lanes * cols, run = 4 * lanes
        return (0..<columns).map { n in
            let offset = n % block
            let j = 4 * (offset / run) + offset % 4, lane = (offset % run) / 4
            return n - offset + lanes * j + lane
        }
    }

    /// Rows a texel W buffer holds for `columns` output columns: whole workgroup blocks.
    func weightRows(columns: Int, lanes: Int) -> Int {
        guard self == .texel else { return columns }
        let block = lanes * GEMMFamily.texelColumns
        return (columns + block - 1) / block * block
    }

    /// Defines the family's kernel is compiled with; `lanes` is the device's SIMD width
    /// (`SIMDWidth.lanes`), the texel kernel's workgroup size.
    func defines(lanes: Int, rows: Int) -> [String: String] {
        guard self == .texel else { return [:] }
        return ["TILE_ROWS": "\(rows)", "TILE_COLS": "\(GEMMFamily.texelColumns)", "LANES": "\(lanes)"]
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
    func groups(m: Int, n: Int, lanes: Int, rows: Int) -> (x: UInt32, y: UInt32, z: UInt32) {
        switch self {
        case .texel: return (groupCount(n, lanes * GEMMFamily.texelColumns), groupCount(m, rows), 1)
        case .tiled: return (groupCount(n, 64), groupCount(m, 64), 1)
        }
    }
}

/// What a GEMM does to its result before storing it.
public enum GEMMEpilogue: Int, Sendable, CaseIterable {
    case none = 0, gelu = 1, residual = 2, tanh = 3
}
