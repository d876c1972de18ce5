package env

import (
	"fmt"
	"math"
	"strings"
)

// RenderSVG draws a physical state (layout: Spec.State) of a named
// environment as a standalone SVG document, 240 px high. World coordinates
// have y up; the drawing is what Gymnasium's renderers show.
func RenderSVG(envName string, state []float64) (string, error) {
	spec, err := SpecOf(envName)
	if err != nil {
		return "", fmt.Errorf("env: render: %w", err)
	}
	if len(state) != len(spec.State) {
		return "", fmt.Errorf("env: render %s: state has %d values, want %d %v", envName, len(state), len(spec.State), spec.State)
	}
	for _, v := range state {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("env: render %s: state %v is not finite", envName, state)
		}
	}
	var c canvas
	switch envName {
	case "CartPole-v1", "CartPoleLeft-v0":
		c.begin(-2.6, -0.4, 5.2, 1.8)
		if envName == "CartPoleLeft-v0" {
			c.rect(-cpXLimit, -0.4, cpXLimit, 1.8, "#e6f2e6", "none")
		}
		c.line(-cpXLimit, 0, cpXLimit, 0, "#000", 0.01)
		c.line(-cpXLimit, -0.1, -cpXLimit, 0.1, "#c00", 0.02)
		c.line(cpXLimit, -0.1, cpXLimit, 0.1, "#c00", 0.02)
		x, th := state[0], state[2]
		c.rect(x-0.25, -0.075, 0.5, 0.15, "#222", "none")
		c.line(x, 0.04, x+2*cpHalfLen*math.Sin(th), 0.04+2*cpHalfLen*math.Cos(th), "#ca9865", 0.05)
		c.circle(x, 0.04, 0.025, "#8184cb")
	case "Pendulum-v1", "PendulumSpin-v0":
		c.begin(-1.3, -1.3, 2.6, 2.6)
		th := state[0]
		c.line(0, 0, -pdL*math.Sin(th), pdL*math.Cos(th), "#cc4d4d", 0.2)
		c.circle(0, 0, 0.05, "#000")
	case "Acrobot-v1":
		c.begin(-2.2, -2.2, 4.4, 4.4)
		c.line(-2.2, 1, 2.2, 1, "#000", 0.01)
		t1, t2 := state[0], state[1]
		x1, y1 := acL1*math.Sin(t1), -acL1*math.Cos(t1)
		x2, y2 := x1+math.Sin(t1+t2), y1-math.Cos(t1+t2)
		c.line(0, 0, x1, y1, "#00cccc", 0.2)
		c.line(x1, y1, x2, y2, "#00cccc", 0.2)
		c.circle(0, 0, 0.1, "#cccc00")
		c.circle(x1, y1, 0.1, "#cccc00")
	case "Reacher2D-v0":
		c.begin(-0.32, -0.32, 0.64, 0.64)
		c.rect(-0.3, -0.3, 0.6, 0.6, "none", "#e66a99")
		q1, q2 := state[0], state[1]
		x1, y1 := rcLink*math.Cos(q1), rcLink*math.Sin(q1)
		fx, fy := fingertip(q1, q2)
		c.circle(state[4], state[5], 0.009, "#e63333")
		c.line(0, 0, x1, y1, "#006699", 0.02)
		c.line(x1, y1, fx, fy, "#006699", 0.02)
		c.circle(fx, fy, 0.01, "#00cc99")
		c.circle(0, 0, 0.011, "#e66a99")
	default:
		return "", fmt.Errorf("env: render: no drawing for %s", envName)
	}
	return c.end(), nil
}

// canvas writes SVG elements in world coordinates (y up) inside a flipped group.
type canvas struct{ b strings.Builder }

func (c *canvas) begin(x, y, w, h float64) {
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="%s %s %s %s" height="240" width="%s">`,
		num(x), num(-(y + h)), num(w), num(h), num(240*w/h))
	fmt.Fprintf(&c.b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#fff"/>`, num(x), num(-(y + h)), num(w), num(h))
	c.b.WriteString(`<g transform="scale(1,-1)">`)
}

func (c *canvas) end() string {
	c.b.WriteString(`</g></svg>`)
	return c.b.String()
}

func (c *canvas) line(x1, y1, x2, y2 float64, color string, width float64) {
	fmt.Fprintf(&c.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s" stroke-linecap="round"/>`,
		num(x1), num(y1), num(x2), num(y2), color, num(width))
}

func (c *canvas) rect(x, y, w, h float64, fill, stroke string) {
	fmt.Fprintf(&c.b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="%s" stroke-width="0.005"/>`,
		num(x), num(y), num(w), num(h), fill, stroke)
}

func (c *canvas) circle(x, y, r float64, fill string) {
	fmt.Fprintf(&c.b, `<circle cx="%s" cy="%s" r="%s" fill="%s"/>`, num(x), num(y), num(r), fill)
}

// num formats a coordinate compactly (4 decimals, no trailing zeros).
func num(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
