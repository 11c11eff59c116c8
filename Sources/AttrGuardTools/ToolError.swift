/// A tool's bad argument or failed check, naming the option or the check.
public struct ToolError: Error, CustomStringConvertible {
    public let option: String
    public let message: String
    public init(option: String, _ message: String) { self.option = option; self.message = message }
    public var description: String { "\(option): \(message)" }
}
