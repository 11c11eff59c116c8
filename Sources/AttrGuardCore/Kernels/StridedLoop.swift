/// Walks an n-d index space in runs along the innermost axis, for up to three operands with
/// their own strides (0 on broadcast axes). Adjacent axes that are contiguous for every
/// operand are merged first, so a BatchNorm broadcast [B,C,H,W] ⊕ [1,C,1,1] runs as
/// [B, C, H·W] with an inner run of H·W elements.
struct StridedLoop {
    let dims: [Int]
    let strides: [[Int]]   // one stride array per operand, same length as dims

    init(shape: [Int], strides operandStrides: [[Int]]) {
        var dims: [Int] = []
        var merged: [[Int]] = operandStrides.map { _ in [] }
        for axis in 0..<shape.count where shape[axis] != 1 {
            if let last = dims.indices.last,
               operandStrides.indices.allSatisfy({ merged[$0][last] == operandStrides[$0][axis] * shape[axis] }) {
                dims[last] *= shape[axis]
                for k in operandStrides.indices { merged[k][last] = operandStrides[k][axis] }
            } else {
                dims.append(shape[axis])
                for k in operandStrides.indices { merged[k].append(operandStrides[k][axis]) }
            }
        }
        if dims.isEmpty { dims = [1]; merged = merged.map { _ in [0] } }
        self.dims = dims
        self.strides = merged
    }

    var innerCount: Int { dims[dims.count - 1] }
    func innerStride(_ operand: Int) -> Int { strides[operand][dims.count - 1] }

    /// Calls `body` once per inner run with each operand's starting offset.
    @inline(__always)
    func forEachRun(_ body: (_ o0: Int, _ o1: Int, _ o2: Int) -> Void) {
        let outer = dims.count - 1
        let k = strides.count
        var index = [Int](repeating: 0, count: max(outer, 1))
        var offs = (0, 0, 0)
        let total = dims[0..<outer].reduce(1, *)
        for _ in 0..<total {
            body(offs.0, offs.1, k > 2 ? offs.2 : 0)
            // odometer increment over the outer axes
            var axis = outer - 1
            while axis >= 0 {
                index[axis] += 1
                offs.0 += strides[0][axis]
                if k > 1 { offs.1 += strides[1][axis] }
                if k > 2 { offs.2 += strides[2][axis] }
                if index[axis] < dims[axis] { break }
                offs.0 -= strides[0][axis] * dims[axis]
                if k > 1 { offs.1 -= strides[1][axis] * dims[axis] }
                if k > 2 { offs.2 -= strides[2][axis] * dims[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
