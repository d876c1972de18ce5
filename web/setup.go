package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"rlhf/feedback"
	"rlhf/store"
)

// EnsureAdmin creates an admin account with the given password unless the
// username exists. It reports whether it created one.
func EnsureAdmin(ctx context.Context, st store.Store, username, password string) (bool, error) {
	if _, err := st.LabelerByName(ctx, username); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("web: ensure admin %s: %w", username, err)
	}
	if !usernameRE.MatchString(username) {
		return false, fmt.Errorf("web: ensure admin: bad username %q", username)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return false, fmt.Errorf("web: ensure admin %s: %w", username, err)
	}
	if _, err := st.CreateLabeler(ctx, store.Labeler{Username: username, Role: store.RoleAdmin, PasswordHash: hash}); err != nil {
		return false, fmt.Errorf("web: ensure admin %s: %w", username, err)
	}
	return true, nil
}

// importLine is one line of a query import file. A line that has no "payload"
// but a "kind" is taken to be the payload itself.
type importLine struct {
	Run           string           `json:"run"`
	Payload       json.RawMessage  `json:"payload"`
	PolicyVersion string           `json:"policy_version"`
	Sampler       json.RawMessage  `json:"sampler"`
	Overlap       int              `json:"overlap"`
	Gold          *feedback.Choice `json:"gold"`
	Kind          string           `json:"kind"`
}

// MaxImportLine is the longest line ImportQueries reads.
const MaxImportLine = store.MaxPayloadSize + 64<<10

// ImportQueries reads JSONL queries from r and adds them, creating runs that
// do not exist yet (lines without "run" go to defaultRun). Each line is
//
//	{"run":"r1","payload":{"kind":"text",...},"policy_version":"...","sampler":{...},"overlap":2,"gold":0}
//
// or a bare payload ({"kind":"text","prompt":...}). All lines are validated
// before any is stored. It returns the number of queries added.
func ImportQueries(ctx context.Context, st store.Store, r io.Reader, defaultRun string) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxImportLine)
	var qs []store.Query
	runs := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var l importLine
		if err := json.Unmarshal(b, &l); err != nil {
			return 0, fmt.Errorf("web: import line %d: %w", n, err)
		}
		if l.Payload == nil && l.Kind != "" {
			l.Payload = append(json.RawMessage(nil), b...)
		}
		if _, _, err := store.ParsePayload(l.Payload); err != nil {
			return 0, fmt.Errorf("web: import line %d: %w", n, err)
		}
		if l.Run == "" {
			l.Run = defaultRun
		}
		runs[l.Run] = true
		qs = append(qs, store.Query{RunID: l.Run, Payload: l.Payload, PolicyVersion: l.PolicyVersion,
			Sampler: l.Sampler, Overlap: l.Overlap, Gold: l.Gold})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("web: import: %w", err)
	}
	for id := range runs {
		if _, err := st.Run(ctx, id); errors.Is(err, store.ErrNotFound) {
			if err := st.CreateRun(ctx, store.Run{ID: id, Name: id, State: store.RunStopped}); err != nil && !errors.Is(err, store.ErrConflict) {
				return 0, fmt.Errorf("web: import: %w", err)
			}
		} else if err != nil {
			return 0, fmt.Errorf("web: import: %w", err)
		}
	}
	if _, err := st.AddQueries(ctx, qs); err != nil {
		return 0, fmt.Errorf("web: import: %w", err)
	}
	return len(qs), nil
}

// SeedDemo creates run runID (if missing) with a few text queries and one
// control query per drawable environment, each labelled by overlap labelers,
// so that the app can be tried without a training run.
func SeedDemo(ctx context.Context, st store.Store, runID string, overlap int) (int, error) {
	if _, err := st.Run(ctx, runID); errors.Is(err, store.ErrNotFound) {
		if err := st.CreateRun(ctx, store.Run{ID: runID, Name: "Demo queries", State: store.RunStopped}); err != nil {
			return 0, fmt.Errorf("web: seed demo: %w", err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("web: seed demo: %w", err)
	}
	var qs []store.Query
	add := func(p any) {
		b, err := json.Marshal(p)
		if err != nil {
			panic(err) // the demo payloads are plain data
		}
		qs = append(qs, store.Query{RunID: runID, Payload: b, PolicyVersion: "demo", Overlap: overlap})
	}
	for _, t := range demoTexts {
		add(store.TextPayload{Kind: store.KindText, Prompt: t[0], Completions: t[1:]})
	}
	for _, env := range []string{"CartPole-v1", "Pendulum-v1", "Acrobot-v1", "Reacher"} {
		add(DemoControl(env))
	}
	if _, err := st.AddQueries(ctx, qs); err != nil {
		return 0, fmt.Errorf("web: seed demo: %w", err)
	}
	return len(qs), nil
}

var demoTexts = [][]string{
	{"Write one sentence about the sea.",
		"The sea keeps its own time, breathing in tides older than any clock.",
		"Sea is big and it is water and water is wet and the sea."},
	{"Give a tip for a job interview.",
		"Prepare two concrete stories about problems you solved, and tell each in under a minute.",
		"Just be yourself, it'll be fine."},
	{"Summarise: The committee met on Tuesday and, after a long debate, voted 7-2 to fund the new library wing, construction to begin in spring.",
		"The committee voted 7-2 on Tuesday to fund the new library wing; building starts in spring.",
		"A committee met and talked for a long time about libraries.",
		"The library wing was rejected after a long debate."},
}

// DemoControl returns a control payload of two 3-second segments of env: one
// in which the task goes well and one in which it does not (Christiano et al.'s
// comparison setting, simulated with simple hand-written dynamics).
func DemoControl(env string) store.ControlPayload {
	const steps = 150
	dt := 0.02
	var good, bad store.Segment
	switch env {
	case "CartPole-v1":
		// Cart-pole dynamics (Barto et al. 1983): a PD controller balances, a
		// constant push lets the pole fall until the episode would end.
		sim := func(ctrl func(s []float64) float64) store.Segment {
			s := []float64{0, 0, 0.05, 0}
			var seg store.Segment
			for t := 0; t < steps; t++ {
				seg.States = append(seg.States, append([]float64(nil), s...))
				f := ctrl(s)
				const g, mc, mp, l = 9.8, 1.0, 0.1, 0.5
				sin, cos := math.Sin(s[2]), math.Cos(s[2])
				tmp := (f + mp*l*s[3]*s[3]*sin) / (mc + mp)
				thAcc := (g*sin - cos*tmp) / (l * (4.0/3 - mp*cos*cos/(mc+mp)))
				xAcc := tmp - mp*l*thAcc*cos/(mc+mp)
				s[0], s[1], s[2], s[3] = s[0]+dt*s[1], s[1]+dt*xAcc, s[2]+dt*s[3], s[3]+dt*thAcc
				if math.Abs(s[2]) > 0.9 {
					s[3] = 0 // the pole rests on the cart
				}
				s[0] = math.Max(-2.4, math.Min(2.4, s[0]))
			}
			return seg
		}
		good = sim(func(s []float64) float64 { return math.Max(-10, math.Min(10, 40*s[2]+8*s[3]+1*s[0]+2*s[1])) })
		bad = sim(func(s []float64) float64 { return 2 })
	case "Pendulum-v1":
		// Gym's pendulum: theta 0 upright, counter-clockwise positive.
		sim := func(th float64, ctrl func(th, w float64) float64) store.Segment {
			w := 0.0
			var seg store.Segment
			for t := 0; t < steps; t++ {
				seg.States = append(seg.States, []float64{math.Remainder(th, 2*math.Pi), w})
				u := math.Max(-2, math.Min(2, ctrl(th, w)))
				w += (3*10/(2*1.0)*math.Sin(th) + 3/(1.0*1.0)*u) * 0.05
				w = math.Max(-8, math.Min(8, w))
				th += w * 0.05
			}
			return seg
		}
		good = sim(2.6, func(th, w float64) float64 { // pump energy, then balance
			th = math.Remainder(th, 2*math.Pi)
			if math.Abs(th) < 0.6 {
				return -12*th - 2.5*w
			}
			return 2 * math.Copysign(1, w*math.Cos(th)+1e-9)
		})
		bad = sim(2.6, func(th, w float64) float64 { return 0 })
		dt = 0.05
	case "Acrobot-v1":
		for t := 0; t < steps; t++ {
			x := float64(t) / steps
			good.States = append(good.States, []float64{(0.3 + 2.6*x) * math.Sin(6*x*math.Pi), (0.5 + 1.5*x) * math.Sin(6*x*math.Pi+0.8), 0, 0})
			bad.States = append(bad.States, []float64{0.3 * math.Sin(6*x*math.Pi), 0.6 * math.Sin(6*x*math.Pi+0.8), 0, 0})
		}
	default: // Reacher
		tx, ty := 0.12, 0.09
		// Inverse kinematics of the target for the good arm.
		d2 := (tx*tx + ty*ty - 0.02) / 0.02
		q2 := math.Acos(math.Max(-1, math.Min(1, d2)))
		q1 := math.Atan2(ty, tx) - math.Atan2(0.1*math.Sin(q2), 0.1+0.1*math.Cos(q2))
		for t := 0; t < steps; t++ {
			x := math.Min(1, float64(t)/(steps*0.6))
			good.States = append(good.States, []float64{2.5 + (q1-2.5)*x, 1.2 + (q2-1.2)*x, 0, 0, tx, ty})
			y := float64(t) / steps
			bad.States = append(bad.States, []float64{2.5 + 0.8*math.Sin(3*y*math.Pi), 1.2 + 0.6*math.Cos(4*y*math.Pi), 0, 0, tx, ty})
		}
		env = "Reacher"
	}
	return store.ControlPayload{Kind: store.KindControl, Env: env, DT: dt, Segments: []store.Segment{good, bad}}
}
