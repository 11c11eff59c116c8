import CRSVG
import Foundation

extension Figure {
    /// The figure as PNG bytes: its SVG rendered by librsvg at `scale` pixels per SVG unit (the
    /// caller writes them through the output layer, `writeAtomically`).
    public func pngData(scale: Double = 1.5) throws -> Data {
        try renderPNG(svg: svg(), name: title, scale: scale)
    }
}

/// An SVG document as PNG bytes, rendered by librsvg at `scale` pixels per SVG unit; `name` names
/// the figure in an error.
public func renderPNG(svg: String, name: String, scale: Double = 1.5) throws -> Data {
    let text = Array(svg.utf8CString)
    var reason = [CChar](repeating: 0, count: 512)
    var bytes: UnsafeMutablePointer<UInt8>?
    var length = 0
    let status = text.withUnsafeBufferPointer { svg in
        crsvg_render_png(svg.baseAddress, svg.count - 1, scale, &bytes, &length, &reason, reason.count)
    }
    guard status == 0, let bytes else {
        throw ReportError(file: name, String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    defer { free(bytes) }
    return Data(bytes: bytes, count: length)
}
