import Foundation

/// The JSON report: `<output-dir>/results_<timestamp>.json`, never overwriting an earlier one.
/// Shape: docs/report-schema.md; machine-checkable: docs/report.schema.json.
///
/// Members keep their order (scenarios in run order, phases in phase order, fields as
/// declared), so the file reads like the terminal output and two runs diff cleanly; that is
/// why it is written by OrderedJSONEncoder and not Foundation's JSONEncoder (see there).
/// Non-finite numbers: numeric errors are clamped by the model (FiniteJSON), any other
/// non-finite value is written as the string "inf", "-inf" or "nan" rather than failing.
public enum JSONReport {
    /// The report as pretty-printed UTF-8 JSON with snake_case keys, ending in a newline.
    public static func encode(_ report: FaultTestReport) throws(ReportWriteError) -> Data {
        do {
            return try OrderedJSONEncoder().encode(report)
        } catch {
            throw .unencodable(reason: "\(error)")
        }
    }

    /// Reads a report written by `encode` (or by hand, following the schema).
    public static func decode(_ data: Data) throws -> FaultTestReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let strings = OrderedJSONEncoder.NonFiniteStrings()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: strings.positiveInfinity, negativeInfinity: strings.negativeInfinity, nan: strings.nan)
        return try decoder.decode(FaultTestReport.self, from: data)
    }

    /// The file name the report asks for (before any `_2`, `_3` suffix): results_<timestamp>.json.
    public static func fileName(for report: FaultTestReport) -> String {
        "results_\(ReportFiles.safeFileName(report.testInfo.timestamp)).json"
    }

    /// Writes the report into `directory` (created with its parents) as
    /// `results_<timestamp>.json`, or `results_<timestamp>_2.json`, `_3`, … when that name is
    /// taken; never overwrites. Returns the file written.
    @discardableResult
    public static func write(_ report: FaultTestReport, toDirectory directory: URL) throws(ReportWriteError) -> URL {
        let data = try encode(report)
        try ReportFiles.makeDirectory(directory)
        return try ReportFiles.writeUnique(data, in: directory,
                                           stem: "results_\(ReportFiles.safeFileName(report.testInfo.timestamp))",
                                           extension: "json")
    }
}
