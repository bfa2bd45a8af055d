import Foundation

/// One closed deal as a training example: its facts at closing and whether it was won.
struct TrainingExample: Sendable {
    var id: String
    var inputs: ProbabilityInputs
    var won: Bool
}

/// Logistic regression on the organisation's own closed deals (R11: "once enough closed deals
/// exist, the weights are fitted"). Same shape as the configured model: one intercept per open
/// stage plus the six factor weights, fitted by Newton's method with a ridge penalty that pulls
/// towards the configured weights, so a stage with few examples keeps its configured base instead
/// of running off to ±infinity.
enum LogisticFit {
    static let parameterCount = 6 + Features.count
    /// Penalty strength (in examples' worth of evidence) pulling each parameter towards its prior.
    static let ridge = 2.0

    static func fit(_ examples: [TrainingExample], prior: Weights, iterations: Int = 30) -> Weights {
        let rows = examples.map(designRow)
        let labels = examples.map { $0.won ? 1.0 : 0.0 }
        let priorVector = prior.stageLogits + prior.factors
        var theta = priorVector
        var previousLoss = loss(theta, rows, labels, priorVector)
        for _ in 0..<iterations {
            var gradient = [Double](repeating: 0, count: parameterCount)
            var hessian = [[Double]](repeating: [Double](repeating: 0, count: parameterCount), count: parameterCount)
            for (row, y) in zip(rows, labels) {
                let p = sigmoid(dot(theta, row))
                let w = max(p * (1 - p), 1e-9)
                for i in 0..<parameterCount where row[i] != 0 {
                    gradient[i] += (p - y) * row[i]
                    for j in 0..<parameterCount where row[j] != 0 { hessian[i][j] += w * row[i] * row[j] }
                }
            }
            for i in 0..<parameterCount {
                gradient[i] += ridge * (theta[i] - priorVector[i])
                hessian[i][i] += ridge
            }
            guard let step = solve(hessian, gradient) else { break }
            // Damped Newton: halve the step until the penalised loss goes down.
            var scale = 1.0
            var candidate = theta
            var candidateLoss = previousLoss
            while scale > 1e-4 {
                candidate = zip(theta, step).map { $0 - scale * $1 }
                candidateLoss = loss(candidate, rows, labels, priorVector)
                if candidateLoss <= previousLoss { break }
                scale /= 2
            }
            guard candidateLoss <= previousLoss else { break }
            let improvement = previousLoss - candidateLoss
            theta = candidate
            previousLoss = candidateLoss
            if improvement < 1e-9 { break }
        }
        return Weights(stageLogits: Array(theta[0..<6]), factors: Array(theta[6...]))
    }

    /// Mean squared error of the predicted probabilities against the outcomes (lower is better).
    static func brier(_ examples: [TrainingExample], _ weights: Weights) -> Double {
        guard !examples.isEmpty else { return 0 }
        var sum = 0.0
        for example in examples {
            let p = weights.probability(example.inputs)
            let y = example.won ? 1.0 : 0.0
            sum += (p - y) * (p - y)
        }
        return sum / Double(examples.count)
    }

    /// Deterministic split: examples ordered by id, shuffled with `seed`, the first `fraction` held out.
    static func split(_ examples: [TrainingExample], holdoutFraction: Double, seed: UInt64)
        -> (training: [TrainingExample], holdout: [TrainingExample]) {
        var ordered = examples.sorted { $0.id < $1.id }
        var generator = SplitMix64(seed: seed)
        ordered.shuffle(using: &generator)
        let holdoutCount = min(max(Int((Double(ordered.count) * holdoutFraction).rounded()), 1), ordered.count - 1)
        return (Array(ordered[holdoutCount...]), Array(ordered[..<holdoutCount]))
    }

    static func designRow(_ example: TrainingExample) -> [Double] {
        var row = [Double](repeating: 0, count: parameterCount)
        row[example.inputs.stage.openIndex ?? 0] = 1
        let features = Features(example.inputs)
        for i in 0..<Features.count { row[6 + i] = features.values[i] }
        return row
    }

    static func loss(_ theta: [Double], _ rows: [[Double]], _ labels: [Double], _ prior: [Double]) -> Double {
        var total = 0.0
        for (row, y) in zip(rows, labels) {
            let z = dot(theta, row)
            // log(1 + e^z) - y z, computed without overflow.
            total += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - y * z
        }
        for i in 0..<theta.count { total += 0.5 * ridge * (theta[i] - prior[i]) * (theta[i] - prior[i]) }
        return total
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for i in 0..<a.count { sum += a[i] * b[i] }
        return sum
    }

    /// Gaussian elimination with partial pivoting; nil when the system is singular.
    static func solve(_ matrix: [[Double]], _ vector: [Double]) -> [Double]? {
        let n = vector.count
        var a = matrix
        var b = vector
        for column in 0..<n {
            guard let pivot = (column..<n).max(by: { abs(a[$0][column]) < abs(a[$1][column]) }),
                  abs(a[pivot][column]) > 1e-12 else { return nil }
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            for row in (column + 1)..<n {
                let factor = a[row][column] / a[column][column]
                if factor == 0 { continue }
                for k in column..<n { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = b[row]
            for k in (row + 1)..<n { sum -= a[row][k] * x[k] }
            x[row] = sum / a[row][row]
        }
        return x.allSatisfy(\.isFinite) ? x : nil
    }
}

/// A small, seedable generator so a fit's train/holdout split can be reproduced from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
