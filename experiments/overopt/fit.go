package main

import (
	"encoding/json"
	"fmt"
	"math"
)

// Form names one of Gao, Schulman & Hilton's (2022) functional forms for the
// gold reward gained as a function of d = sqrt(KL(π‖π_init)).
type Form string

const (
	// BoN is best-of-n's form R(d) = d(α − β·d).
	BoN Form = "bon"
	// RL is reinforcement learning's form R(d) = d(α − β·log d).
	RL Form = "rl"
)

// Fit is a least-squares fit of one form to (d, gold gain) points.
type Fit struct {
	Form  Form    `json:"form"`
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
	// RMSE is the root-mean-square residual over the fitted points.
	RMSE float64 `json:"rmse"`
	// Points is how many points had d > 0 (a point at d = 0 carries no information).
	Points int `json:"points"`
	// PeakD and PeakR are where the fitted curve peaks and its value there;
	// NaN (null in JSON) when the curve has no maximum (β ≤ 0).
	PeakD float64 `json:"peak_d"`
	PeakR float64 `json:"peak_r"`
}

// Eval returns the fitted curve at d (0 at d = 0).
func (f Fit) Eval(d float64) float64 { return Eval(f.Form, f.Alpha, f.Beta, d) }

// Eval returns R(d) of the given form with coefficients α and β; R(0) = 0.
func Eval(form Form, alpha, beta, d float64) float64 {
	if d <= 0 {
		return 0
	}
	switch form {
	case BoN:
		return d * (alpha - beta*d)
	case RL:
		return d * (alpha - beta*math.Log(d))
	}
	panic("overopt: unknown form " + string(form))
}

// features returns the two regressors whose coefficients are α and β:
// R = α·f0 + β·f1.
func features(form Form, d float64) (f0, f1 float64) {
	switch form {
	case BoN:
		return d, -d * d
	case RL:
		return d, -d * math.Log(d)
	}
	panic("overopt: unknown form " + string(form))
}

// Peak returns the maximiser of R(d) over d > 0 and the maximum, or NaNs when
// R has none (β ≤ 0: R grows without bound).
//
//	BoN: R' = α − 2βd = 0         → d* = α / (2β),     R* = α² / (4β)
//	RL:  R' = α − β log d − β = 0 → d* = exp(α/β − 1), R* = β·d*
func Peak(form Form, alpha, beta float64) (d, r float64) {
	if !(beta > 0) {
		return math.NaN(), math.NaN()
	}
	switch form {
	case BoN:
		d = alpha / (2 * beta)
		if d <= 0 {
			return math.NaN(), math.NaN()
		}
		return d, alpha * alpha / (4 * beta)
	case RL:
		d = math.Exp(alpha/beta - 1)
		return d, beta * d
	}
	panic("overopt: unknown form " + string(form))
}

// FitForm fits R(d) of the given form to the points (d[i], r[i]) by ordinary
// least squares (no intercept: R(0) = 0 by construction, so r must already be
// relative to the initial policy). Points with d ≤ 0 or a non-finite value are
// skipped. It needs at least two usable points with independent regressors.
func FitForm(form Form, d, r []float64) (Fit, error) {
	if len(d) != len(r) {
		return Fit{}, fmt.Errorf("overopt: fit %s: %d distances but %d values", form, len(d), len(r))
	}
	if form != BoN && form != RL {
		return Fit{}, fmt.Errorf("overopt: fit: unknown form %q", form)
	}
	// Normal equations of the 2-parameter regression.
	var s00, s01, s11, t0, t1 float64
	n := 0
	for i := range d {
		if !(d[i] > 0) || math.IsInf(d[i], 0) || math.IsNaN(r[i]) || math.IsInf(r[i], 0) {
			continue
		}
		f0, f1 := features(form, d[i])
		s00 += f0 * f0
		s01 += f0 * f1
		s11 += f1 * f1
		t0 += f0 * r[i]
		t1 += f1 * r[i]
		n++
	}
	det := s00*s11 - s01*s01
	if n < 2 || !(math.Abs(det) > 1e-12*(s00*s11)) {
		return Fit{}, fmt.Errorf("overopt: fit %s: %d usable points do not determine α and β", form, n)
	}
	f := Fit{Form: form, Points: n}
	f.Alpha = (t0*s11 - t1*s01) / det
	f.Beta = (s00*t1 - s01*t0) / det
	var sse float64
	for i := range d {
		if !(d[i] > 0) || math.IsInf(d[i], 0) || math.IsNaN(r[i]) || math.IsInf(r[i], 0) {
			continue
		}
		e := r[i] - f.Eval(d[i])
		sse += e * e
	}
	f.RMSE = math.Sqrt(sse / float64(n))
	f.PeakD, f.PeakR = Peak(form, f.Alpha, f.Beta)
	return f, nil
}

// MarshalJSON writes the fit with a missing peak as null (JSON has no NaN).
func (f Fit) MarshalJSON() ([]byte, error) {
	opt := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Form   Form     `json:"form"`
		Alpha  float64  `json:"alpha"`
		Beta   float64  `json:"beta"`
		RMSE   float64  `json:"rmse"`
		Points int      `json:"points"`
		PeakD  *float64 `json:"peak_d"`
		PeakR  *float64 `json:"peak_r"`
	}{f.Form, f.Alpha, f.Beta, f.RMSE, f.Points, opt(f.PeakD), opt(f.PeakR)})
}
