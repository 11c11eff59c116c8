/// A problem with an input file: names the file and, where there is one, the record.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let record: Int?
    public let message: String

    public init(file: String, record: Int? = nil, _ message: String) {
        self.file = file; self.record = record; self.message = message
    }

    public var description: String { "\(file)\(record.map { ": record \($0)" } ?? ""): \(message)" }
}
