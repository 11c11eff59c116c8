import CTurboJPEG
import Foundation

/// JPEG decoding through libjpeg-turbo, with the resize-shorter-side + crop preprocessing
/// ImageNet pipelines use. Output is uint8 [3, size, size] (RGB planes).
public enum JPEGImage {
    /// Decodes `path` to interleaved RGB, letting libjpeg-turbo downscale by 1/2, 1/4 or 1/8
    /// while the shorter side stays at least `minShorterSide` (decoding at a smaller scale is
    /// several times faster).
    public static func decodeRGB(path: String, minShorterSide: Int) throws -> (pixels: [UInt8], width: Int, height: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: path, "cannot be read") }
        guard let handle = tjInitDecompress() else { throw DataError(file: path, "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeBytes { raw in
            tjDecompressHeader3(handle, raw.bindMemory(to: UInt8.self).baseAddress, UInt(data.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw DataError(file: path, "not a readable JPEG (\(String(cString: tjGetErrorStr2(handle))))") }
        // Pick the smallest scale whose shorter side still covers the target.
        var n: Int32 = 0
        let factors = tjGetScalingFactors(&n)
        var (w, h) = (Int(width), Int(height))
        for k in 0..<Int(n) {
            let f = factors![k]
            guard f.num <= f.denom else { continue }
            let sw = (Int(width) * Int(f.num) + Int(f.denom) - 1) / Int(f.denom)
            let sh = (Int(height) * Int(f.num) + Int(f.denom) - 1) / Int(f.denom)
            if min(sw, sh) >= minShorterSide && sw * sh < w * h { (w, h) = (sw, sh) }
        }
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        let status = data.withUnsafeBytes { raw in
            rgb.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, raw.bindMemory(to: UInt8.self).baseAddress, UInt(data.count), out.baseAddress,
                              Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), 0)
            }
        }
        guard status == 0 else { throw DataError(file: path, "JPEG decode failed (\(String(cString: tjGetErrorStr2(handle))))") }
        return (rgb, w, h)
    }

    /// Resize so the shorter side is `resize` (bilinear), then take the centred `crop`×`crop`
    /// square: interleaved RGB in, planar [3, crop, crop] out.
    public static func resizeAndCenterCrop(_ rgb: [UInt8], width: Int, height: Int, resize: Int, crop: Int) -> [UInt8] {
        let scale = Double(resize) / Double(min(width, height))
        let rw = max(crop, Int((Double(width) * scale).rounded())), rh = max(crop, Int((Double(height) * scale).rounded()))
        let ox = (rw - crop) / 2, oy = (rh - crop) / 2
        var out = [UInt8](repeating: 0, count: 3 * crop * crop)
        for y in 0..<crop {
            // Sample the source at pixel centres: (dst + 0.5)/scale − 0.5.
            let sy = max(0, min(Double(height - 1), (Double(y + oy) + 0.5) * Double(height) / Double(rh) - 0.5))
            let y0 = Int(sy), y1 = min(height - 1, y0 + 1), fy = sy - Double(y0)
            for x in 0..<crop {
                let sx = max(0, min(Double(width - 1), (Double(x + ox) + 0.5) * Double(width) / Double(rw) - 0.5))
                let x0 = Int(sx), x1 = min(width - 1, x0 + 1), fx = sx - Double(x0)
                for c in 0..<3 {
                    let a = Double(rgb[(y0 * width + x0) * 3 + c]), b = Double(rgb[(y0 * width + x1) * 3 + c])
                    let d = Double(rgb[(y1 * width + x0) * 3 + c]), e = Double(rgb[(y1 * width + x1) * 3 + c])
                    let v = (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy
                    out[(c * crop + y) * crop + x] = UInt8(max(0, min(255, v.rounded())))
                }
            }
        }
        return out
    }

    /// Encodes planar RGB [3, h, w] as a JPEG (tests write small JPEG trees with this).
    public static func encode(planar: [UInt8], width: Int, height: Int, quality: Int = 90) throws -> Data {
        var rgb = [UInt8](repeating: 0, count: planar.count)
        for c in 0..<3 { for p in 0..<(width * height) { rgb[p * 3 + c] = planar[c * width * height + p] } }
        guard let handle = tjInitCompress() else { throw DataError(file: "jpeg encoder", "cannot start") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = rgb.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_444.rawValue), Int32(quality), 0)
        }
        defer { tjFree(buffer) }
        guard status == 0, let buffer else { throw DataError(file: "jpeg encoder", String(cString: tjGetErrorStr2(handle))) }
        return Data(bytes: buffer, count: Int(size))
    }
}
