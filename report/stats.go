package report

import "math"

// Spread returns the mean and population standard deviation of x (numpy's
// default ddof=0), the form every table of mean ± std over seeds uses.
// Both are NaN when x is empty.
func Spread(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}
