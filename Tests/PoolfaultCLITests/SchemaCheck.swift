import Foundation

/// Validates a report file against docs/report.schema.json with python3's jsonschema.
enum SchemaCheck {
    /// nil when valid; else what the validator said (or why it could not run).
    static func problems(_ file: String) throws -> String? {
        let schema = CLIRunner.packageRoot.appendingPathComponent("docs/report.schema.json").path
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", """
            import json, sys, jsonschema
            jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
            """, schema, file]
        let err = Pipe()
        check.standardError = err
        try check.run()
        let why = String(decoding: readToEnd(err.fileHandleForReading.fileDescriptor), as: UTF8.self)
        check.waitUntilExit()
        return check.terminationStatus == 0 ? nil : "schema validation (needs `pip install jsonschema`): \(why)"
    }
}
