package env

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// fakeSteps builds n steps scoring 1, 2, 3, ...
func fakeSteps(n int, terminated bool) []StepRecord {
	steps := make([]StepRecord, n)
	for i := range steps {
		steps[i] = StepRecord{
			State: []float64{float64(i), 0}, Next: []float64{float64(i + 1), 0},
			Obs: []float64{1, 0, 0}, Action: []float64{0.5}, Score: float64(i + 1),
		}
	}
	steps[n-1].Terminated = terminated
	steps[n-1].Truncated = !terminated
	return steps
}

func TestCut(t *testing.T) {
	steps := fakeSteps(120, false)
	segs, err := Cut("Pendulum-v1", steps, 50, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 || segs[0].Start != 0 || segs[1].Start != 50 || len(segs[1].Steps) != 50 {
		t.Fatalf("truncated episode of 120 steps cut into %d segments", len(segs))
	}
	// Returns: 1+...+50 and 51+...+100.
	if segs[0].Return() != 1275 || segs[1].Return() != 3775 {
		t.Fatalf("segment returns %v %v", segs[0].Return(), segs[1].Return())
	}
	if segs[0].DT != 0.05 || segs[0].Env != "Pendulum-v1" || !near(segs[0].Duration(), 2.5, 1e-12) {
		t.Fatalf("segment %+v", segs[0])
	}
	// Default length: Pendulum's 25 steps.
	segs, _ = Cut("Pendulum-v1", steps, 0, false)
	if len(segs) != 4 || len(segs[3].Steps) != 25 {
		t.Fatalf("default cut gave %d segments", len(segs))
	}
	// A terminated episode's tail is padded with absorbing steps.
	steps = fakeSteps(70, true)
	segs, _ = Cut("Pendulum-v1", steps, 50, true)
	if len(segs) != 2 || len(segs[1].Steps) != 50 {
		t.Fatalf("terminated episode of 70 steps: %d segments", len(segs))
	}
	tail := segs[1]
	if tail.Return() != float64(51+70)*20/2 {
		t.Fatalf("padded segment return %v, want the sum of its 20 real steps", tail.Return())
	}
	for i, st := range tail.Steps {
		if st.Absorbing != (i >= 20) {
			t.Fatalf("step %d absorbing = %v", i, st.Absorbing)
		}
		if st.Absorbing && (!equalVec(st.State, steps[69].Next) || st.Score != 0) {
			t.Fatalf("absorbing step %+v", st)
		}
	}
	segs, _ = Cut("Pendulum-v1", steps, 50, false)
	if len(segs) != 1 {
		t.Fatalf("without padding: %d segments, want 1", len(segs))
	}
	// Short terminated episode (an early CartPole failure) still yields one.
	segs, _ = Cut("Pendulum-v1", fakeSteps(12, true), 50, true)
	if len(segs) != 1 || segs[0].Return() != 78 {
		t.Fatalf("12-step terminated episode: %d segments", len(segs))
	}
	if _, err := Cut("Nope-v0", steps, 5, false); err == nil || !strings.Contains(err.Error(), "CartPole-v1") {
		t.Fatalf("Cut with an unknown env: %v", err)
	}
	if segs, _ := Cut("Pendulum-v1", nil, 5, true); len(segs) != 0 {
		t.Fatal("empty trajectory gave segments")
	}
	// Random offsets.
	steps = fakeSteps(70, true)
	seg, ok, err := SegmentAt("Pendulum-v1", steps, 7, 10, false)
	if err != nil || !ok || seg.Start != 7 || len(seg.Steps) != 10 || seg.Return() != float64(8+17)*10/2 {
		t.Fatalf("SegmentAt(7, 10): %+v %v %v", seg.Start, ok, err)
	}
	if _, ok, _ := SegmentAt("Pendulum-v1", steps, 65, 10, false); ok {
		t.Fatal("SegmentAt past the end without padding succeeded")
	}
	if seg, ok, _ := SegmentAt("Pendulum-v1", steps, 65, 10, true); !ok || len(seg.Steps) != 10 || !seg.Steps[9].Absorbing {
		t.Fatal("SegmentAt past the end of a terminated episode was not padded")
	}
	if _, _, err := SegmentAt("Pendulum-v1", steps, 70, 10, true); err == nil {
		t.Fatal("SegmentAt outside the episode succeeded")
	}
	if _, _, err := SegmentAt("nope", steps, 0, 10, true); err == nil {
		t.Fatal("SegmentAt with an unknown env succeeded")
	}
}

func TestSegmentsFromRolloutJSONAndRescore(t *testing.T) {
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		i := 0
		ep, err := Rollout(name, 21, func(obs []float64) []float64 {
			i++
			if spec.Act.IsDiscrete() {
				return []float64{float64(i % spec.Act.Discrete)}
			}
			a := make([]float64, spec.ActDim)
			for j := range a {
				a[j] = math.Sin(float64(i+j)) * spec.Act.High[j]
			}
			return a
		})
		if err != nil {
			t.Fatal(err)
		}
		segs, err := Cut(name, ep.Steps, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) == 0 {
			t.Fatalf("%s: no segments from an episode of %d steps", name, ep.Length)
		}
		var total float64
		for _, s := range segs {
			total += s.Return()
		}
		if ep.Length%spec.SegmentLen == 0 || ep.Terminated {
			if !near(total, ep.Score, 1e-9) {
				t.Fatalf("%s: segment returns add to %v, episode score %v", name, total, ep.Score)
			}
		}
		b, err := json.Marshal(segs[0])
		if err != nil {
			t.Fatal(err)
		}
		var back Segment
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, segs[0]) {
			t.Fatalf("%s: segment JSON round trip changed it", name)
		}
		want := back.Return()
		for j := range back.Steps {
			back.Steps[j].Score = -99
		}
		if err := Rescore(&back); err != nil {
			t.Fatal(err)
		}
		if back.Return() != want {
			t.Fatalf("%s: rescored return %v, recorded %v", name, back.Return(), want)
		}
		back.Steps[0].State = back.Steps[0].State[:1]
		if err := Rescore(&back); err == nil {
			t.Fatalf("%s: Rescore accepted a short state", name)
		}
	}
}

func TestRecorderWrapsEnv(t *testing.T) {
	e := mustMake(t, "CartPole-v1")
	rec, err := NewRecorder(e, "CartPole-v1")
	if err != nil {
		t.Fatal(err)
	}
	obs0 := rec.Reset(4)
	o1, _, _, _ := rec.Step([]float64{1})
	rec.Step([]float64{0})
	st := rec.Steps()
	if len(st) != 2 || !equalVec(st[0].Obs, obs0) || !equalVec(st[1].Obs, o1) || st[0].Action[0] != 1 || st[1].Action[0] != 0 {
		t.Fatalf("recorded %+v", st)
	}
	if !equalVec(st[0].Next, st[1].State) || !equalVec(st[1].Next, rec.State()) {
		t.Fatal("recorded states do not chain")
	}
	rec.Reset(5)
	if len(rec.Steps()) != 0 {
		t.Fatal("Reset did not clear the recording")
	}
	if _, err := NewRecorder(e, "nope"); err == nil {
		t.Fatal("NewRecorder with an unknown name succeeded")
	}
}

func TestRenderSVG(t *testing.T) {
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		e := mustMake(t, name)
		e.Reset(1)
		svg, err := RenderSVG(name, e.State())
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
			t.Fatalf("%s: SVG does not parse: %v\n%s", name, err, svg)
		}
		if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") {
			t.Fatalf("%s: not an SVG document: %s", name, svg)
		}
		if _, err := RenderSVG(name, make([]float64, len(spec.State)+1)); err == nil {
			t.Fatalf("%s: wrong state length accepted", name)
		}
		bad := make([]float64, len(spec.State))
		bad[0] = math.NaN()
		if _, err := RenderSVG(name, bad); err == nil {
			t.Fatalf("%s: NaN state accepted", name)
		}
	}
	// Pendulum at +90 degrees (counter-clockwise) points to -x.
	svg, _ := RenderSVG("Pendulum-v1", []float64{math.Pi / 2, 0})
	if !strings.Contains(svg, `x2="-1" y2="0"`) {
		t.Fatalf("pendulum at pi/2 not drawn pointing left: %s", svg)
	}
	// CartPole: cart at x = 1, pole upright, tip 1 m above the axle.
	svg, _ = RenderSVG("CartPole-v1", []float64{1, 0, 0, 0})
	if !strings.Contains(svg, `x1="1" y1="0.04" x2="1" y2="1.04"`) {
		t.Fatalf("upright pole at x=1 not drawn: %s", svg)
	}
	// Acrobot hanging down: the second joint at (0, -1), the tip at (0, -2).
	svg, _ = RenderSVG("Acrobot-v1", []float64{0, 0, 0, 0})
	if !strings.Contains(svg, `x1="0" y1="-1" x2="0" y2="-2"`) {
		t.Fatalf("hanging acrobot not drawn: %s", svg)
	}
	// Reacher stretched along +x: fingertip at 0.21.
	svg, _ = RenderSVG("Reacher2D-v0", []float64{0, 0, 0, 0, 0.1, 0.1})
	if !strings.Contains(svg, fmt.Sprintf(`cx="%s" cy="0" r="0.01"`, "0.21")) {
		t.Fatalf("stretched reacher not drawn: %s", svg)
	}
	if _, err := RenderSVG("nope", nil); err == nil {
		t.Fatal("unknown env accepted")
	}
}
