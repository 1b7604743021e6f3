import Prometheus

/// Registering a metric by its full name and help text. swift-prometheus now names metrics by a
/// descriptor of parts (namespace, subsystem, name, unit); poolfault's names are written whole,
/// as operators search for them, so each becomes one part with no unit appended.
extension PrometheusCollectorRegistry {
    public func gauge(name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    public func counter(name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
    }

    public func histogram(name: String, labels: [(String, String)] = [], buckets: [Double], help: String) -> ValueHistogram {
        makeValueHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: buckets)
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
