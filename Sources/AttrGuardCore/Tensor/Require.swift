/// Stops the process with `message` when `condition` is false, in every build configuration.
/// (`precondition` drops its message in optimised builds; a misused op must still say which op
/// and which shapes, rather than crash inside BLAS.)
@inline(__always)
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
