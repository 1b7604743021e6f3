import ArgumentParser
import Foundation
import Shaders
import VulkanCompute

/// `poolfault bench vulkan`: the floors of every recovery — instance, device, channel and
/// pipeline creation, first and warm dispatch — as medians over fresh instances.
struct BenchVulkanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vulkan",
        abstract: "Time instance, device, pipeline creation and first dispatch (the floors of recovery).")

    @OptionGroup var options: DeviceOptions

    @Option(help: "Fresh instances to time.")
    var runs = 7

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    struct Report: Encodable {
        let device: String
        let driver: String
        let runs: Int
        let mesaShaderCache: String
        let medianMs: [String: Double]
        let firstRunMs: [String: Double]
    }

    static let stages = ["instance", "enumerate", "device", "channel", "buffers", "compile", "pipeline", "first_dispatch", "warm_dispatch"]

    func run() throws {
        try reportingErrors {
            guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
            var samples: [String: [Double]] = [:]
            var deviceName = "", driver = ""
            for _ in 0..<runs {
                let t = try measureOnce(compiler: ShaderCompiler())
                for (k, v) in t.times { samples[k, default: []].append(v * 1000) }
                deviceName = t.device
                driver = t.driver
            }
            let report = Report(device: deviceName, driver: driver, runs: runs, mesaShaderCache: mesaCacheState(),
                                medianMs: samples.mapValues(median), firstRunMs: samples.mapValues { $0[0] })
            if json { print(try jsonString(report)); return }
            print("Vulkan start-up floors on \(deviceName) (\(driver)), \(runs) fresh instances, Mesa shader cache: \(report.mesaShaderCache)")
            print("stage".padding(toLength: 16, withPad: " ", startingAt: 0) + "  median ms   first run ms")
            for s in Self.stages {
                let m = report.medianMs[s] ?? 0, f = report.firstRunMs[s] ?? 0
                print(s.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "  %9.3f   %12.3f", m, f))
            }
        }
    }

    private func measureOnce(compiler: ShaderCompiler) throws -> (times: [String: Double], device: String, driver: String) {
        var times: [String: Double] = [:]
        func time<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = ContinuousClock.now
            defer { times[stage] = (ContinuousClock.now - start).seconds }
            return try body()
        }
        let instance = try time("instance") { try VulkanInstance(validation: options.validate || VulkanInstance.validationRequestedByEnvironment) }
        let devices = try time("enumerate") { try instance.physicalDevices() }
        let (index, _) = try options.selection.choose(from: devices.map(\.info))
        let device = try time("device") { try ComputeDevice(physical: devices[index], label: "bench") }
        let channel = try time("channel") { try Channel(device: device, label: "bench") }
        let n = 256
        let (a, w, bias, c) = try time("buffers") {
            (try DeviceBuffer(device: device, size: n * n * 4, label: "a"), try DeviceBuffer(device: device, size: n * n * 4, label: "w"),
             try DeviceBuffer(device: device, size: n * 4, label: "bias"), try DeviceBuffer(device: device, size: n * n * 4, label: "c"))
        }
        try a.write([Float](repeating: 1, count: n * n), via: channel)
        try w.write([Float](repeating: 0.5, count: n * n), via: channel)
        try bias.write([Float](repeating: 0, count: n), via: channel)
        _ = try time("compile") { try compiler.compile(ShaderLibrary.gemmNaive) }
        let kernel = try time("pipeline") {
            try Kernel(device: device, source: ShaderLibrary.gemmNaive, bindings: Array(repeating: .storageBuffer, count: 4),
                       pushConstantSize: 12, compiler: compiler)
        }
        let dispatch = Dispatch(kernel, buffers: [a, w, bias, c], push: [UInt32(n), UInt32(n), UInt32(n)],
                                groups: (groupCount(n, 8), groupCount(n, 8), 1))
        try time("first_dispatch") { _ = try channel.run([.dispatch(dispatch)]) }
        try time("warm_dispatch") { _ = try channel.run([.dispatch(dispatch)]) }
        let check = try c.readFloats(1, via: channel)[0]
        guard check == Float(n) * 0.5 else { throw VulkanError.invalidUse("bench GEMM returned \(check), expected \(Float(n) * 0.5)") }
        try finishValidation(instance)
        return (times, devices[index].info.name, devices[index].info.driverInfo)
    }
}
