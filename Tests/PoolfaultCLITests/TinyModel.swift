import Foundation

/// A small BERT as a Hugging Face directory (4 layers, hidden 64 in one head, 500 words), written
/// once per test run, for the CLI tests about the pool, its faults and its reports. With
/// bert-base's weights (its word embedding alone is 94 MB, made, sealed and laid out again in
/// every run), the weights were most of each such run's work. bert-base's own shapes stay with
/// the tests about them: README's commands, the GPU model tests, the PyTorch oracle, ViT's cells.
enum TinyModel {
    static let path: String = {
        do { return try InferCLITests.writeTinyBERT(layers: 4).path } catch { return "/nonexistent: the tiny model could not be written: \(error)" }
    }()
}
