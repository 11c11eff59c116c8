import CRSVG
import Foundation

extension Figure {
    /// The figure as a PNG file: its SVG rendered by librsvg at `scale` pixels per SVG unit,
    /// written to `path.tmp` and renamed, so a reader never sees half a file.
    public func writePNG(to path: String, scale: Double = 1.5) throws {
        let text = Array(svg().utf8CString)
        let temporary = path + ".tmp"
        var reason = [CChar](repeating: 0, count: 512)
        let status = text.withUnsafeBufferPointer { svg in
            crsvg_write_png(svg.baseAddress, svg.count - 1, temporary, scale, &reason, reason.count)
        }
        guard status == 0 else {
            unlink(temporary)
            throw ReportError(file: path, String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temporary)
            throw ReportError(file: path, "cannot write: \(why)")
        }
    }
}
