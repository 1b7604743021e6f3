/// Every report's `schema_version`, in one place: docs/report-schema.md and README state them,
/// and ReportVersionTests holds those statements to these.
public enum ReportVersion {
    /// `results_<timestamp>.json` (`poolfault run`).
    /// 1.8 added `cascading_failure`, `during_recovery` and `rounds`.
    public static let run = "1.8"
    /// `soak_<timestamp>.json`; 1.3 added `fault_limit`.
    public static let soak = "1.3"
    /// `bench_recovery_<timestamp>.json`.
    public static let benchRecovery = "1.0"
    /// `bench_corruption_<timestamp>.json`.
    public static let benchCorruption = "1.0"
    /// `poolfault report merge`'s fleet report.
    public static let fleet = "1.1"
}
