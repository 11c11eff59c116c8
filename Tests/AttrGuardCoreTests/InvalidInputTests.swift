import AttrGuardCore
import Foundation
import Testing

/// Misused ops stop with the op's name and the shapes, before any BLAS call.
@Suite struct InvalidInputTests {
    func expectMessage(_ result: ExitTest.Result?, _ message: String) {
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains(message), "stderr was: \(stderr)")
    }

    @Test func convolutionChannelMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Tensor(zeros: [2, 3, 8, 8], dtype: .float32), Tensor(zeros: [4, 5, 3, 3], dtype: .float32), stride: 1, padding: 1)
        }
        expectMessage(result, "conv2d: input [2, 3, 8, 8] has 3 channels, weight [4, 5, 3, 3] expects 5")
    }

    @Test func matmulInnerSizes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = matmul(Tensor(zeros: [3, 4], dtype: .float64), Tensor(zeros: [5, 2], dtype: .float64))
        }
        expectMessage(result, "matmul: inner sizes differ: [3, 4] · [5, 2]")
    }

    @Test func broadcastMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor(zeros: [2, 3], dtype: .float32)) + Variable(Tensor(zeros: [4], dtype: .float32))
        }
        expectMessage(result, "add: shapes [2, 3] and [4] do not broadcast")
    }

    @Test func mixedDtypes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = binary(.mul, Tensor(zeros: [2], dtype: .float32), Tensor(zeros: [2], dtype: .float64))
        }
        expectMessage(result, "mul: dtypes differ (float32 vs float64)")
    }

    @Test func reshapeCount() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor(zeros: [2, 3], dtype: .float32).reshaped([4])
        }
        expectMessage(result, "reshape: cannot view [2, 3] (6 elements) as [4]")
    }

    @Test func poolWindowTooLarge() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = maxPoolIndices(Tensor(zeros: [1, 1, 3, 3], dtype: .float32), PoolGeometry(kernel: 5))
        }
        expectMessage(result, "maxpool2d: window k=5 s=5 p=0 larger than input [1, 1, 3, 3]")
    }

    @Test func gradientOfANonScalarNeedsASeed() throws {
        let x = Variable(Tensor(zeros: [3], dtype: .float64), requiresGrad: true)
        #expect(throws: AutogradError.self) { try grad(of: x * 2.0, wrt: [x]) }
    }
}
