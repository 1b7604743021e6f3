// An independent float64 forward for the golden check: plain loops over nested arrays, no
// BLAS and nothing from the code under test but the weights' values. Written from
// docs/numerics.md (and Hugging Face's modeling code), not from
// CPUReference.

import Foundation
import Transformer

struct NaiveReference {
    typealias Matrix = [[Double]]

    let config: ModelConfig
    private let weights: [String: [Double]]

    init(store: WeightStore) throws {
        config = store.config
        var weights: [String: [Double]] = [:]
        for spec in store.config.parameters {
            weights[spec.name] = try store.tensor(spec.name).toArray().map(Double.init)
        }
        self.weights = weights
    }

    private func w(_ name: String) -> [Double] { weights[name] ?? [] }

    /// x·Wᵀ + b with W stored [out][in].
    private func linear(_ x: Matrix, _ prefix: String) -> Matrix {
        let weight = w("\(prefix).weight"), bias = w("\(prefix).bias")
        let outputs = bias.count, inputs = weight.count / outputs
        return x.map { row in
            (0..<outputs).map { o in
                var sum = bias[o]
                for i in 0..<inputs { sum += row[i] * weight[o * inputs + i] }
                return sum
            }
        }
    }

    private func layerNorm(_ x: Matrix, _ prefix: String) -> Matrix {
        let gamma = w("\(prefix).weight"), beta = w("\(prefix).bias")
        let eps = Double(config.layerNormEps)
        return x.map { row in
            let mean = row.reduce(0, +) / Double(row.count)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(row.count)
            return row.indices.map { (row[$0] - mean) / (variance + eps).squareRoot() * gamma[$0] + beta[$0] }
        }
    }

    private func gelu(_ x: Double) -> Double { 0.5 * x * (1 + erf(x / 2.0.squareRoot())) }

    private func add(_ a: Matrix, _ b: Matrix) -> Matrix {
        zip(a, b).map { zip($0, $1).map { $0 + $1 } }
    }

    /// Multi-head self-attention on already-projected q, k, v; mask[j] is 1 for a real key.
    private func attend(q: Matrix, k: Matrix, v: Matrix, keyMask: [Int]) -> Matrix {
        let s = q.count, heads = config.numHeads, d = config.hiddenSize / heads
        var context = Matrix(repeating: [Double](repeating: 0, count: config.hiddenSize), count: s)
        for h in 0..<heads {
            for i in 0..<s {
                var scores = (0..<s).map { j -> Double in
                    var dot = 0.0
                    for e in 0..<d { dot += q[i][h * d + e] * k[j][h * d + e] }
                    return dot / Double(d).squareRoot()
                }
                // Masked keys get a weight of exactly 0 (exp of -3.4e38 relative to the max).
                let valid = (0..<s).filter { keyMask[$0] == 1 }
                let maximum = valid.map { scores[$0] }.max() ?? 0
                var total = 0.0
                for j in 0..<s {
                    scores[j] = keyMask[j] == 1 ? exp(scores[j] - maximum) : 0
                    total += scores[j]
                }
                for e in 0..<d {
                    var sum = 0.0
                    for j in 0..<s { sum += scores[j] / total * v[j][h * d + e] }
                    context[i][h * d + e] = sum
                }
            }
        }
        return context
    }

    func forward(_ input: ModelInput) -> (lastHiddenState: [Double], pooled: [Double]?) {
        let h = config.hiddenSize
        var x: Matrix
        var keyMask: [Int]
        switch input {
        case let .tokens(ids, mask, types):
            let word = w("embeddings.word_embeddings.weight"), position = w("embeddings.position_embeddings.weight")
            let tokenType = w("embeddings.token_type_embeddings.weight")
            x = ids.indices.map { s in
                (0..<h).map { i in word[Int(ids[s]) * h + i] + tokenType[Int(types[s]) * h + i] + position[s * h + i] }
            }
            x = layerNorm(x, "embeddings.LayerNorm")
            keyMask = mask.map(Int.init)
        case let .pixels(pixels):
            // A direct strided convolution, not an im2col GEMM.
            let n = config.imageSize / config.patchSize, p = config.patchSize, side = config.imageSize
            let c = config.numChannels
            let kernel = w("embeddings.patch_embeddings.projection.weight")
            let bias = w("embeddings.patch_embeddings.projection.bias")
            let cls = w("embeddings.cls_token"), position = w("embeddings.position_embeddings")
            x = [cls]
            for gy in 0..<n {
                for gx in 0..<n {
                    x.append((0..<h).map { o in
                        var sum = bias[o]
                        for ch in 0..<c {
                            for ky in 0..<p {
                                for kx in 0..<p {
                                    let pixel = Double(pixels[ch * side * side + (gy * p + ky) * side + gx * p + kx])
                                    sum += kernel[((o * c + ch) * p + ky) * p + kx] * pixel
                                }
                            }
                        }
                        return sum
                    })
                }
            }
            x = x.indices.map { s in (0..<h).map { x[s][$0] + position[s * h + $0] } }
            keyMask = [Int](repeating: 1, count: x.count)
        }

        for n in 0..<config.numLayers {
            let l = "encoder.layer.\(n)"
            switch config.kind {
            case .bert:
                let context = attend(q: linear(x, "\(l).attention.self.query"), k: linear(x, "\(l).attention.self.key"),
                                     v: linear(x, "\(l).attention.self.value"), keyMask: keyMask)
                x = layerNorm(add(linear(context, "\(l).attention.output.dense"), x), "\(l).attention.output.LayerNorm")
                let inner = linear(x, "\(l).intermediate.dense").map { $0.map(gelu) }
                x = layerNorm(add(linear(inner, "\(l).output.dense"), x), "\(l).output.LayerNorm")
            case .vit:
                let normed = layerNorm(x, "\(l).layernorm_before")
                let context = attend(q: linear(normed, "\(l).attention.attention.query"),
                                     k: linear(normed, "\(l).attention.attention.key"),
                                     v: linear(normed, "\(l).attention.attention.value"), keyMask: keyMask)
                x = add(x, linear(context, "\(l).attention.output.dense"))
                let inner = linear(layerNorm(x, "\(l).layernorm_after"), "\(l).intermediate.dense").map { $0.map(gelu) }
                x = add(x, linear(inner, "\(l).output.dense"))
            }
        }
        if config.kind == .vit { x = layerNorm(x, "layernorm") }
        var pooled: [Double]?
        if config.hasPooler {
            pooled = linear([x[0]], "pooler.dense")[0].map { tanh($0) }
        }
        return (x.flatMap { $0 }, pooled)
    }
}
