import Foundation

/// The ImageNet folder layout, `SPLIT/<wnid>/*.JPEG`, restricted to a class list.
public struct ImageFolder: Sendable {
    public enum ClassOrder: String, Sendable { case listed, sorted }

    public let root: String
    public let split: String
    public let classes: [String]
    /// (file, label) for every image, sorted by class then file name.
    public let entries: [(path: String, label: Int)]

    /// Reads the class list (one WordNet id per line; `#` starts a comment) and scans the split.
    /// Class index = position in the list (`listed`) or in sorted order (`sorted`).
    public init(root: String, split: String, classList: String, order: ClassOrder = .listed) throws {
        guard let text = try? String(contentsOfFile: classList, encoding: .utf8) else {
            throw DataError(file: classList, "cannot read the class list")
        }
        var ids = text.split(whereSeparator: \.isNewline)
            .map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !ids.isEmpty else { throw DataError(file: classList, "lists no classes") }
        if let dup = Dictionary(grouping: ids, by: { $0 }).first(where: { $0.value.count > 1 }) {
            throw DataError(file: classList, "class \(dup.key) is listed twice")
        }
        if order == .sorted { ids.sort() }
        let splitDir = (root as NSString).appendingPathComponent(split)
        guard FileManager.default.fileExists(atPath: splitDir) else { throw DataError(file: splitDir, "missing split folder") }
        var entries: [(String, Int)] = []
        for (label, id) in ids.enumerated() {
            let dir = (splitDir as NSString).appendingPathComponent(id)
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for f in files.sorted() where [".jpeg", ".jpg"].contains(where: { f.lowercased().hasSuffix($0) }) {
                entries.append(((dir as NSString).appendingPathComponent(f), label))
            }
        }
        guard !entries.isEmpty else { throw DataError(file: splitDir, "no JPEG files for any listed class") }
        self.root = root; self.split = split; classes = ids; self.entries = entries
    }

    /// Decodes, resizes (shorter side `resize`) and centre-crops (`crop`) every image.
    public func load(resize: Int, crop: Int) throws -> ImageStore {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(entries.count * 3 * crop * crop)
        for (path, _) in entries {
            let d = try JPEGImage.decodeRGB(path: path, minShorterSide: resize)
            pixels += JPEGImage.resizeAndCenterCrop(d.pixels, width: d.width, height: d.height, resize: resize, crop: crop)
        }
        return ImageStore(pixels: pixels, labels: entries.map(\.label), imageShape: [3, crop, crop], classNames: classes)
    }
}
