import AttrGuardData
import Foundation

/// JSON lines of metrics (rank 0 only; a nil path writes nothing), each record appended whole and
/// synced through `AppendLog` (refuses devices, pipes and sockets; locked against a second writer).
public struct MetricsLog {
    private var log: AppendLog?

    /// - Parameters:
    ///   - resume: continue the file: records past `keepingSteps` (logged by the interrupted run
    ///     after its checkpoint, to be logged again) and a partial last record are cut off.
    ///   - overwrite: a fresh run may empty an earlier run's file (else it is refused).
    public init(path: String?, resume: Bool, keepingSteps: Int? = nil, overwrite: Bool = false) throws {
        guard let path else { return }
        let url = URL(fileURLWithPath: path)
        do { try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true) } catch {
            throw ReportError(file: path, "log.metrics: cannot create its directory "
                              + "\(url.deletingLastPathComponent().path): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        let log: AppendLog
        do { log = try AppendLog(path: path, what: "log.metrics") } catch let e as DataError {
            throw ReportError(file: path, "log.metrics: \(e.message)")
        }
        let data = try log.contents()
        if !resume && !data.isEmpty {
            guard overwrite else {
                let records = data.split(separator: 0x0A).count
                throw ReportError(file: path, "log.metrics: holds \(records) record(s) of an earlier run; continue that run with "
                                  + "--resume, pass --overwrite-log to replace them, or give this run another log.metrics (nothing was written)")
            }
            try log.truncate(to: 0)
        }
        if resume, !data.isEmpty { try log.truncate(to: Self.keptLength(data, last: keepingSteps)) }
        self.log = log
    }

    /// Bytes of `data` to keep on resume: up to the end of the last complete record (newline
    /// included) that parses and whose step is at most `last`.
    static func keptLength(_ data: Data, last: Int?) -> Int {
        var kept = 0, start = data.startIndex
        while let newline = data[start...].firstIndex(of: 0x0A) {
            let record = (try? JSONSerialization.jsonObject(with: data[start..<newline])) as? [String: Any]
            if let record, (record["step"] as? Int).map({ last == nil || $0 <= last! }) ?? false { kept = newline + 1 - data.startIndex }
            start = newline + 1
        }
        return kept
    }

    public mutating func write(_ record: [String: Any]) throws {
        guard let log else { return }
        var line = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        line.append(0x0A)
        do { try log.append(line) } catch let e as DataError { throw ReportError(file: log.path, "log.metrics: \(e.message)") }
    }
}
