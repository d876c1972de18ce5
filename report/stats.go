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

// Smooth returns s with Y and its band replaced by centred moving averages
// over window points (shrinking at the ends), for curves logged every
// iteration whose noise hides the trend. X, the name and the style are kept;
// a window below 2 returns s unchanged.
func Smooth(s Series, window int) Series {
	if window < 2 || len(s.Y) == 0 {
		return s
	}
	out := s
	out.Y = movingAverage(s.Y, window)
	if s.Band != nil {
		out.Band = &Band{Lower: movingAverage(s.Band.Lower, window), Upper: movingAverage(s.Band.Upper, window)}
	}
	return out
}

func movingAverage(y []float64, window int) []float64 {
	out := make([]float64, len(y))
	half := window / 2
	for i := range y {
		lo, hi := max(i-half, 0), min(i+window-half, len(y))
		var s float64
		n := 0
		for _, v := range y[lo:hi] {
			if finite(v) {
				s += v
				n++
			}
		}
		out[i] = math.NaN()
		if n > 0 {
			out[i] = s / float64(n)
		}
	}
	return out
}
