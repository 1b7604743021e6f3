import Foundation

/// `GET /metrics` over HTTP/1.1 on one address, answered on a thread of its own with what
/// `render` returns at that moment (Prometheus' text format). Its own ~100 lines rather than a
/// server library: the socket is bound synchronously, so a port in use is refused before the soak
/// starts, with no async runtime brought into a synchronous command; it serves one path, one
/// connection at a time (a scraper's), and reads at most a request's head with a deadline.
final class MetricsEndpoint: @unchecked Sendable {  // `listener` set once; `stopped` under `lock`
    struct Failure: Error, CustomStringConvertible { let description: String }

    let address: String
    let port: Int
    private let listener: Int32
    private let render: @Sendable () -> String
    private let lock = NSLock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    /// "HOST:PORT" or "PORT" (then 127.0.0.1: only this machine may scrape unless asked).
    static func parse(_ text: String) -> (host: String, port: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), let port = Int(parts[parts.count - 1]), (1...65535).contains(port) else { return nil }
        var host = parts.count == 2 && !parts[0].isEmpty ? parts[0] : "127.0.0.1"
        if host == "localhost" { host = "127.0.0.1" }
        guard inet_addr(host) != INADDR_NONE else { return nil }
        return (host, port)
    }

    init(listen text: String, render: @escaping @Sendable () -> String) throws {
        guard let (host, port) = Self.parse(text) else {
            throw Failure(description: "--metrics-listen \(text): expected HOST:PORT or PORT with an IPv4 address and a port from 1 to 65535 (e.g. 127.0.0.1:9464)")
        }
        self.address = host; self.port = port; self.render = render
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot open a socket for --metrics-listen: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            let why = errno == EADDRINUSE ? "the port is in use (another exporter or soak?): choose another with --metrics-listen HOST:PORT"
                : String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot serve metrics on \(host):\(port): \(why)")
        }
        listener = fd
        let thread = Thread { [self] in serve() }
        thread.name = "metrics endpoint"
        thread.start()
    }

    private func serve() {
        defer { done.signal() }
        while true {
            let client = accept(listener, nil, nil)
            if lock.withLock({ stopped }) { if client >= 0 { close(client) }; return }
            guard client >= 0 else { if errno == EINTR { continue } else { return } }
            answer(client)
            close(client)
        }
    }

    /// Reads the request's head (at most 8 KiB, 5 s) and answers it.
    private func answer(_ client: Int32) {
        var deadline = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
        var head = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        while head.count < 8192, !head.ends(with: Array("\r\n\r\n".utf8)) {
            let n = recv(client, &chunk, chunk.count, 0)
            guard n > 0 else { return }
            head += chunk[0..<n]
        }
        let line = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let (status, type, body): (String, String, String)
        if line.count >= 2, line[0] == "GET", line[1] == "/metrics" || line[1].hasPrefix("/metrics?") {
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render())
        } else {
            (status, type, body) = ("404 Not Found", "text/plain; charset=utf-8", "poolfault serves GET /metrics only\n")
        }
        let bytes = Array(body.utf8)
        let response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n".utf8) + bytes
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            sent += n
        }
    }

    /// Stops serving: no scrape is answered after it returns.
    func stop() {
        guard lock.withLock({ let was = stopped; stopped = true; return !was }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        done.wait()
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
