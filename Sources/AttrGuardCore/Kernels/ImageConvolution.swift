import CImageConv

/// Direct 3×3, stride-1, padding-1 convolution for layers of few input channels — the image layer,
/// whose 3 channels leave a GEMM 27 rows of reduction and Winograd's transforms nothing to save —
/// in C with AVX2 + FMA (Sources/CImageConv): the forward map and the weight gradient, the same maps
/// as the im2col kernels (Convolution.swift), so the autograd rules are unchanged. Threads split
/// the forward map by images and the weight gradient by blocks of output channels: each output
/// element is one thread's, summed in a fixed order, so the bits do not depend on the thread count.
public enum ImageConvolution {
    /// Whether this CPU runs the kernels: the same AVX2 + FMA as our Winograd's.
    public static var isSupported: Bool { Winograd.isSupported }

    /// Input channels up to which the kernels apply (the image layer's 3, or grey and RGBA images).
    public static let maxChannels = 4

    /// Whether a convolution of this geometry is one the kernels compute.
    public static func applies(to g: ConvGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1 && g.channels <= maxChannels
    }

    /// y[B,O,H,W] = conv(x[B,C,H,W], w[O,C,3,3]).
    public static func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                               batch: Int, channels: Int, outChannels: Int, height: Int, width: Int) {
        require(isSupported, "ImageConvolution: this CPU lacks AVX2 or FMA")
        forEachPiece(batch, grain: 1) { images in
            ic_forward(x, w, y, Int32(channels), Int32(outChannels), Int32(height), Int32(width),
                       Int32(images.lowerBound), Int32(images.upperBound))
        }
    }

    /// dw[O,C,3,3] = Σ_b dy[b] ⋆ x[b] (overwritten).
    public static func weightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                                  batch: Int, channels: Int, outChannels: Int, height: Int, width: Int) {
        require(isSupported, "ImageConvolution: this CPU lacks AVX2 or FMA")
        // Blocks of 4 output channels (the kernel's register block) are the unit of work.
        forEachPiece((outChannels + 3) / 4, grain: 1) { blocks in
            ic_weight_grad(x, dy, dw, Int32(batch), Int32(channels), Int32(outChannels), Int32(height), Int32(width),
                           Int32(4 * blocks.lowerBound), Int32(min(outChannels, 4 * blocks.upperBound)))
        }
    }
}
